"""Every command of the podman engine on damaged and hostile roots: findings, no traceback."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

from storagekit.engines.podman.engine import PodmanEngine
from storagekit.errors import StoragekitError
from storagekit.sources.memsource import MemorySource
from tests.engines.podman import minroot
from tests.engines.podman.minroot import CID, IMAGE, L0, L1, LC, SHORT


def _layers(change: Callable[[list[dict]], None]) -> bytes:
    data = minroot.layers_json()
    change(data)
    return json.dumps(data).encode()


def _missing_parent(data: list[dict]) -> None:
    data[1]["parent"] = "f" * 64


def _loop(data: list[dict]) -> None:
    data[0]["parent"] = L1


def _lower_outside(src: MemorySource) -> None:
    src.add_file(f"overlay/{LC}/lower", b"l/../../../etc:l/" + SHORT[L0].encode())


def _link_outside(src: MemorySource) -> None:
    src.add_symlink(f"overlay/l/{SHORT[L1]}", "../../../../etc")


def _hostile_big_data(src: MemorySource) -> None:
    images = minroot.images_json()
    images[0]["big-data-names"].append("../../../etc/passwd")
    src.add_file("overlay-images/images.json", json.dumps(images).encode())


CASES = {
    "clean": (lambda: minroot.build(), set()),
    "truncated-layers": (
        lambda: minroot.build(layers=json.dumps(minroot.layers_json()).encode()[:50]),
        {"malformed-json"},
    ),
    "missing-parent": (lambda: minroot.build(layers=_layers(_missing_parent)), {"missing-layer"}),
    "parent-loop": (lambda: minroot.build(layers=_layers(_loop)), {"layer-loop"}),
}


def _with(change: Callable[[MemorySource], None]) -> Callable[[], MemorySource]:
    def make() -> MemorySource:
        src = minroot.build()
        change(src)
        return src

    return make


CASES["lower-outside"] = (_with(_lower_outside), {"unsafe-lower"})
CASES["link-outside"] = (_with(_link_outside), {"bad-link"})
CASES["big-data-path"] = (_with(_hostile_big_data), set())


def _exercise(engine: PodmanEngine) -> None:
    engine.container_records(sizes=True)
    engine.image_records()
    engine.layer_records()
    engine.volume_records()
    engine.orphan_records()
    engine.df_record(verbose=True)
    engine.audit_record()
    for obj in [*engine.containers.values(), *engine.images]:
        engine.chain_record(obj)
        try:
            view = engine.view(obj)
            list(view.scandir(""))
        except StoragekitError:
            pass
    for c in engine.containers.values():
        try:
            engine.changes(c)
        except StoragekitError:
            pass
    engine.verify_records(None)
    for obj in [*engine.containers.values(), *engine.images]:
        try:
            engine.inspect_record(obj)
        except StoragekitError:
            pass
    try:
        engine.save(list(engine.images), io.BytesIO())
    except StoragekitError:
        pass


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_command_survives(case: str) -> None:
    make, want = CASES[case]
    src = make()
    engine = PodmanEngine.find(src, "<mem>")
    assert engine is not None
    _exercise(engine)
    found = {f.code for f in engine.findings}
    assert want <= found, found
    if case == "clean":
        assert found == set()


def test_clean_minimal_root_records() -> None:
    engine = PodmanEngine.find(minroot.build(), "<mem>")
    assert engine is not None
    [c] = engine.container_records(sizes=True)
    assert (c["id"], c["name"], c["status"], c["layer_id"], c["image_id"]) == (
        CID, "x", "storage", LC, IMAGE
    )  # fmt: skip
    assert c["layer_dirs"] == [f"overlay/{x}/diff" for x in (LC, L1, L0)]
    assert c["exit_code"] is None
    assert c["in_libpod"] is False
    [i] = engine.image_records()
    assert (i["layer_ids"], i["top_layer"], i["dangling"]) == ([L0, L1], L1, False)
    assert engine.orphan_records() == []  # without libpod's state volumes are not judged
    changes = [(ch.kind, ch.path) for ch in engine.changes(engine.containers[CID])]
    assert changes == [("C", "/etc"), ("D", "/etc/passwd")]


def test_btrfs_layout_reads_as_full_copies() -> None:
    """containers-storage's btrfs driver: ``btrfs/subvolumes/<id>``, each a whole tree."""
    src = MemorySource("<btrfs>")
    for kind, data in (
        ("layers", minroot.layers_json()),
        ("images", minroot.images_json()),
        ("containers", minroot.containers_json()),
    ):
        src.add_file(f"btrfs-{kind}/{kind}.json", json.dumps(data).encode())
    import base64

    name = "=" + base64.b64encode(f"sha256:{IMAGE}".encode()).decode()
    src.add_file(f"btrfs-images/{IMAGE}/{name}", minroot.CONFIG)
    src.add_file(f"btrfs/subvolumes/{L0}/etc/passwd", b"root\n")
    src.add_file(f"btrfs/subvolumes/{L1}/etc/passwd", b"root\n")
    src.add_file(f"btrfs/subvolumes/{LC}/etc/group", b"g\n")
    src.add_file(f"btrfs/subvolumes/{L1}/etc/group", b"x\n")
    engine = PodmanEngine.find(src, "<mem>")
    assert engine is not None
    [c] = engine.container_records(sizes=False)
    assert c["layer_dirs"] == [f"btrfs/subvolumes/{x}" for x in (LC, L1, L0)]
    view = engine.view(engine.containers[CID])
    assert sorted(e.name for e in view.scandir("etc")) == ["group"]  # the copy lost passwd
    assert engine.orphan_records() == []


def test_partial_log_lines_are_joined_and_junk_is_a_finding() -> None:
    src = minroot.build()
    src.add_file(
        f"overlay-containers/{CID}/userdata/ctr.log",
        b"2026-01-01T00:00:00.1+00:00 stdout P hel\n"
        b"2026-01-01T00:00:00.2+00:00 stderr F oops\n"
        b"2026-01-01T00:00:00.3+00:00 stdout F lo\n"
        b"garbage\n"
        b"2026-01-01T00:00:00.4+00:00 stdout F \n",
    )
    engine = PodmanEngine.find(src, "<mem>")
    assert engine is not None
    got = engine.logs(engine.containers[CID])
    assert [(r["time"][-9:], r["stream"], r["text"]) for r in got] == [
        ("0.2+00:00", "stderr", "oops"),
        ("0.1+00:00", "stdout", "hello"),
        ("0.4+00:00", "stdout", ""),
    ]
    assert [f.code for f in engine.findings] == ["bad-log-line"]


def test_inspect_of_the_minimal_root() -> None:
    """An image without a manifest: its fields from the config; a container libpod never knew."""
    engine = PodmanEngine.find(minroot.build(), "<mem>")
    assert engine is not None
    [image] = engine.images
    got = engine.inspect_record(image)
    assert got["Id"] == IMAGE
    assert (got["RepoTags"], got["RepoDigests"], got["Parent"], got["Digest"]) == (
        ["localhost/x:1"], [], "", ""
    )  # fmt: skip
    assert (got["Created"], got["Architecture"], got["Os"]) == (
        "2026-01-02T03:04:05.123456789Z", "amd64", "linux"
    )  # fmt: skip
    assert got["Config"] == {"Cmd": ["sh"], "Labels": {"k": "v"}}
    assert got["Labels"] == {"k": "v"}
    assert got["History"] == [{"created_by": "base"}, {"created_by": "RUN x", "comment": "c"}]
    assert (got["ManifestType"], got["Annotations"], got["Comment"]) == ("", {}, "")
    assert got["RootFS"]["Layers"] == ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    assert got["GraphDriver"] == {
        "Data": {
            "LowerDir": f"/var/lib/containers/storage/overlay/{L0}/diff",
            "UpperDir": f"/var/lib/containers/storage/overlay/{L1}/diff",
            "WorkDir": f"/var/lib/containers/storage/overlay/{L1}/work",
        },
        "Name": "overlay",
    }
    with pytest.raises(StoragekitError, match=f"container {CID} has no usable libpod record"):
        engine.inspect_record(engine.containers[CID])


def test_runtime_spec_read_from_the_root_else_the_config_and_damage_is_a_finding() -> None:
    from types import SimpleNamespace

    from storagekit.engines.podman.inspect_ctr import Documents
    from storagekit.model import Findings

    src = MemorySource("<spec>")
    src.add_file("overlay-containers/x/userdata/config.json", b'{"ociVersion": "1.1.0"}')
    src.add_file("overlay-containers/y/userdata/config.json", b"[1]")
    inv = SimpleNamespace(source=src, findings=Findings())
    docs = Documents(inv)  # type: ignore[arg-type]
    config = {"spec": {"ociVersion": "1.0.2-dev"}}
    root = "/var/lib/containers/storage"

    def spec(cid: str) -> object:
        state = {"configPath": f"{root}/overlay-containers/{cid}/userdata/config.json"}
        return docs.runtime_spec(config, state, root)["ociVersion"]

    assert [spec("x"), spec("y"), spec("z")] == ["1.1.0", "1.0.2-dev", "1.0.2-dev"]
    assert [(f.code, f.path) for f in inv.findings] == [
        ("bad-runtime-spec", "overlay-containers/y/userdata/config.json")
    ]
