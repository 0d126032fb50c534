"""Damaged and hostile podman roots, built in memory next to the assertions."""

from __future__ import annotations

import json
import re

import pytest

from storagekit.engines.podman.images import big_data_file_name, read_images
from storagekit.engines.podman.layerdirs import OverlayLinks
from storagekit.engines.podman.layers import read_layers
from storagekit.engines.podman.libpod import LibpodContainer, RuntimeConfig, make_container
from storagekit.engines.podman.libpod_bolt import read_bolt_state
from storagekit.engines.podman.libpod_sqlite import read_sqlite_state
from storagekit.engines.podman.locate import detect
from storagekit.engines.podman.orphans import find_orphans
from storagekit.engines.podman.root import (
    PodmanRoot,
    container_id_maps,
    container_layer_dirs,
    crosscheck,
    read_root,
)
from storagekit.formats.bolt import BoltDB
from storagekit.model import Finding, Findings
from storagekit.sources import open_source
from storagekit.sources.memsource import MemorySource
from tests.engines.podman import minroot
from tests.engines.podman.conftest import SAMPLES, libpod_containers
from tests.engines.podman.minroot import CID, IMAGE, L0, L1, LC, SHORT


def codes(findings: Findings | tuple[Finding, ...]) -> list[tuple[str, str | None]]:
    return [(f.code, f.path) for f in findings]


def dirs_of(src: MemorySource, root: PodmanRoot) -> tuple[list[str | None], Findings]:
    findings = Findings()
    dirs = container_layer_dirs(src, root, CID, findings)
    return [d.path for d in dirs], findings


def test_clean_minimal_root() -> None:
    src = minroot.build()
    root = read_root(src)
    assert detect(src)
    assert root.findings == ()
    assert root.libpod is None
    paths, findings = dirs_of(src, root)
    assert paths == [f"overlay/{LC}/diff", f"overlay/{L1}/diff", f"overlay/{L0}/diff"]
    assert list(findings) == []
    assert [(v.name, v.has_data) for v in root.volume_dirs] == [("v", True)]
    uids, gids = container_id_maps(root, CID, None)
    assert uids == gids
    assert [(m.container_id, m.host_id, m.size) for m in uids] == [(0, 100000, 65536)]


def test_truncated_layers_json_is_a_finding() -> None:
    raw = json.dumps(minroot.layers_json()).encode()
    src = minroot.build(layers=raw[: len(raw) // 2])
    root = read_root(src)
    assert root.layers == ()
    assert codes(root.findings) == [("malformed-json", "overlay-layers/layers.json")]
    paths, findings = dirs_of(src, root)
    assert paths == []
    assert codes(findings) == [("missing-layer", "overlay-containers/containers.json")]


def test_dotdot_layer_ids_never_become_paths() -> None:
    layers = minroot.layers_json()
    layers.append({"id": "../../../etc", "parent": L0})
    layers[1]["parent"] = "../x"
    ctrs = minroot.containers_json()
    ctrs[0]["layer"] = "../../etc"
    src = minroot.build(layers=json.dumps(layers).encode(), containers=json.dumps(ctrs).encode())
    root = read_root(src)
    assert [x.id for x in root.layers] == [L0, L1, LC]
    assert root.layer(L1).parent is None  # type: ignore[union-attr]
    assert [(f.code, f.message) for f in root.findings] == [
        ("unsafe-id", "container d" + "d" * 63 + " layer: expected an ID, got '../../etc'"),
        ("unsafe-id", f"layer {L1} parent: expected an ID, got '../x'"),
        ("unsafe-id", "layer record 3 id: expected an ID, got '../../../etc'"),
    ]
    assert root.container(CID).layer is None  # type: ignore[union-attr]
    paths, findings = dirs_of(src, root)
    assert paths == []
    assert codes(findings) == [("missing-layer", None)]


def test_bad_short_link_falls_back_to_link_files() -> None:
    src = minroot.build()
    src.add_symlink(f"overlay/l/{SHORT[L1]}", "../../../../etc")
    findings = Findings()
    assert OverlayLinks(src, findings).lowers(LC) == ((L1, L0), True)
    assert [(f.code, f.path, f.message) for f in findings] == [
        (
            "bad-link",
            f"overlay/l/{SHORT[L1]}",
            "overlay short link points outside its layers: '../../../../etc'",
        )
    ]
    paths, more = dirs_of(src, read_root(src))
    assert paths == [f"overlay/{LC}/diff", f"overlay/{L1}/diff", f"overlay/{L0}/diff"]
    assert codes(more) == [("bad-link", f"overlay/l/{SHORT[L1]}")]


@pytest.mark.parametrize(
    ("lower", "code"),
    [
        (b"../../../etc", "unsafe-lower"),
        (b"l/../../etc/passwd", "unsafe-lower"),
        (b"/etc", "unsafe-lower"),
        (b"l/" + b"Z" * 26, "broken-lower"),
    ],
)
def test_lower_pointing_outside_is_refused(lower: bytes, code: str) -> None:
    src = minroot.build()
    src.add_file(f"overlay/{LC}/lower", lower)
    findings = Findings()
    assert OverlayLinks(src, findings).lowers(LC) == ((), False)
    assert codes(findings) == [(code, f"overlay/{LC}/lower")]
    # the stack still comes from layers.json; no driver-parents-disagree on a broken lower
    paths, more = dirs_of(src, read_root(src))
    assert paths == [f"overlay/{LC}/diff", f"overlay/{L1}/diff", f"overlay/{L0}/diff"]
    assert codes(more) == [(code, f"overlay/{LC}/lower")]


def test_lower_disagreeing_with_layers_json() -> None:
    src = minroot.build()
    src.add_file(f"overlay/{LC}/lower", f"l/{SHORT[L0]}".encode())
    paths, findings = dirs_of(src, read_root(src))
    assert len(paths) == 3
    assert [(f.code, f.message) for f in findings] == [
        (
            "driver-parents-disagree",
            f"overlay lower names ['{L0}'], layers.json parents ['{L1}', '{L0}']",
        )
    ]


def test_missing_layer_dir_and_parent_loop() -> None:
    layers = minroot.layers_json()
    layers[0]["parent"] = LC  # L0 -> LC -> L1 -> L0
    src = minroot.build(layers=json.dumps(layers).encode())
    root = read_root(src)
    paths, findings = dirs_of(src, root)
    assert paths == [f"overlay/{LC}/diff", f"overlay/{L1}/diff", f"overlay/{L0}/diff"]
    assert codes(findings)[0] == ("layer-loop", "overlay-containers/containers.json")
    layers = minroot.layers_json()
    ghost = "e" * 64  # recorded, but no overlay/<id> directory
    layers.insert(0, {"id": ghost, "parent": L1})
    layers[-1]["parent"] = ghost
    src2 = minroot.build(layers=json.dumps(layers).encode())
    paths2, findings2 = dirs_of(src2, read_root(src2))
    assert paths2 == [f"overlay/{LC}/diff", f"overlay/{ghost}/diff", *paths[1:]]
    assert [(f.code, f.path) for f in findings2] == [
        ("missing-layer-dir", f"overlay/{ghost}/diff"),
        ("driver-parents-disagree", f"overlay/{LC}/lower"),
    ]


def test_hostile_big_data_keys_and_missing_config() -> None:
    assert big_data_file_name("manifest") == "manifest"
    assert big_data_file_name("..") == ".."
    assert big_data_file_name("sha256:ab") == "=c2hhMjU2OmFi"
    images = minroot.images_json()
    images[0]["big-data-names"] = ["..", f"sha256:{IMAGE}", "manifest"]
    images.append({"id": "../img"})
    src = minroot.build(images=json.dumps(images).encode())
    findings = Findings()
    (img,) = read_images(src, "overlay", findings)
    assert [(b.key, b.path, b.present) for b in img.big_data] == [
        ("..", None, False),
        (
            f"sha256:{IMAGE}",
            f"overlay-images/{IMAGE}/" + big_data_file_name(f"sha256:{IMAGE}"),
            True,
        ),
        ("manifest", f"overlay-images/{IMAGE}/manifest", False),
    ]
    assert codes(findings) == [
        ("unsafe-id", "overlay-images/images.json"),
        ("missing-big-data", f"overlay-images/{IMAGE}/manifest"),
        ("unsafe-id", "overlay-images/images.json"),
    ]


def test_not_json_arrays_and_duplicates() -> None:
    layers = minroot.layers_json()
    src = minroot.build(layers=json.dumps([layers[0], layers[0], 7]).encode())
    findings = Findings()
    assert [x.id for x in read_layers(src, "overlay", findings)] == [L0]
    assert [f.code for f in findings] == ["bad-record", "duplicate-id"]
    src = minroot.build(images=b'{"id": "x"}')
    findings = Findings()
    assert read_images(src, "overlay", findings) == []
    assert [f.message for f in findings] == ["expected a JSON array of records"]


def _state(*containers: tuple[str, str, str]) -> tuple[LibpodContainer, ...]:
    return tuple(
        make_container(cid, {"name": name, "rootfsImageID": image}, {"state": 6}, 0, f"db:{cid}")
        for cid, name, image in containers
    )


def test_crosscheck_containers_json_against_libpod() -> None:
    root = read_root(minroot.build())
    findings = Findings()
    crosscheck(root.containers, _state((CID, "x", IMAGE)), findings)
    assert list(findings) == []
    other = "e" * 64
    crosscheck(root.containers, _state((CID, "y", "f" * 64), (other, "z", IMAGE)), findings)
    assert [(f.code, f.message) for f in findings] == [
        ("orphan-container", f"container {other} is in libpod's state but not in containers.json"),
        ("container-mismatch", f"container {CID}: libpod names it 'y', containers.json ['x']"),
        (
            "container-mismatch",
            f"container {CID}: libpod image {'f' * 64}, containers.json image {IMAGE}",
        ),
    ]
    findings = Findings()
    crosscheck(root.containers, _state(), findings)
    assert [(f.code, f.severity) for f in findings] == [("orphan-container", "warning")]


@pytest.fixture(scope="module")
def bolt_bytes() -> bytes:
    with open_source(str(SAMPLES / "podman-4.3-overlay" / "root.tar.xz")) as src:
        return src.read_bytes("libpod/bolt_state.db")


def test_torn_bolt_db_is_a_finding(bolt_bytes: bytes) -> None:
    # a copy torn after the two meta pages: the metas are valid, every tree page is missing
    torn = bolt_bytes[:8192]
    src = MemorySource().add_file("libpod/bolt_state.db", torn)
    findings = Findings()
    state = read_bolt_state(src, findings)
    assert state is not None
    assert (libpod_containers(src, state, findings), state.pods, state.volumes) == ((), (), ())
    assert state.runtime == RuntimeConfig(None, None, None, None, None, None, None)
    ((code, severity, path, message),) = [(f.code, f.severity, f.path, f.message) for f in findings]
    assert (code, severity, path) == ("bad-libpod-state", "error", "libpod/bolt_state.db")
    assert re.fullmatch(
        r"damaged BoltDB page: page \d+ lies beyond the end of the file \(8192 bytes\)", message
    )
    # torn at every page boundary: never an exception, only bad-libpod-state findings, and
    # whatever is read is read whole (6 containers, 1 pod, 2 volumes) or not at all
    full = read_bolt_state(src.add_file("libpod/bolt_state.db", bolt_bytes), Findings())
    assert full is not None
    whole = libpod_containers(src, full)
    for cut in range(8192, len(bolt_bytes), 4096):
        findings = Findings()
        state = read_bolt_state(src.add_file("libpod/bolt_state.db", bolt_bytes[:cut]), findings)
        assert state is not None
        containers = libpod_containers(src, state, findings)
        assert {f.code for f in findings} <= {"bad-libpod-state"}
        assert len(containers) in (0, 6)
        assert len(state.pods) in (0, 1)
        assert len(state.volumes) in (0, 2)
        if not findings:
            assert (state, containers) == (full, whole)


def test_damage_below_one_container_loses_that_container_only(bolt_bytes: bytes) -> None:
    db = BoltDB.from_bytes(bolt_bytes)
    ctr = db.bucket(b"ctr")
    assert ctr is not None
    victim = ctr.keys()[0]
    page = db.bucket(b"ctr", victim)._root  # type: ignore[union-attr]  # its own leaf page
    assert page != 0  # not an inline bucket: the configs are kilobytes
    buf = bytearray(bolt_bytes)
    buf[page * db.page_size : page * db.page_size + 8] = b"\xff" * 8  # page id != page number
    findings = Findings()
    src = MemorySource().add_file("libpod/bolt_state.db", bytes(buf))
    state = read_bolt_state(src, findings)
    assert state is not None
    containers = libpod_containers(src, state, findings)
    assert len(containers) == 6
    (lost,) = [c for c in containers if c.id == victim.decode()]
    assert (lost.state, lost.status, lost.image_id, lost.exit_code) == (None, "unknown", None, None)
    assert lost.name is not None  # from all-ctrs
    assert all(c.state in (1, 3, 6) for c in containers if c is not lost)
    assert [(f.code, f.path) for f in findings] == [
        ("bad-libpod-state", f"libpod/bolt_state.db:ctr/{victim.decode()}")
    ]


def test_bolt_db_without_valid_meta_is_a_finding(bolt_bytes: bytes) -> None:
    src = MemorySource().add_file("libpod/bolt_state.db", b"\0" * 8192 + bolt_bytes[8192:])
    findings = Findings()
    assert read_bolt_state(src, findings) is None
    ((code, path),) = codes(findings)
    assert (code, path) == ("bad-libpod-state", "libpod/bolt_state.db")
    root = read_root(minroot.build().add_file("libpod/bolt_state.db", b"garbage"))
    assert root.libpod is None
    assert ("bad-libpod-state", "libpod/bolt_state.db") in codes(root.findings)


def test_sqlite_file_that_is_not_a_database() -> None:
    src = MemorySource().add_file("libpod/db.sql", b"this is not SQLite\n" * 300)
    findings = Findings()
    assert read_sqlite_state(src, findings) is None
    assert [(f.code, f.path, f.message) for f in findings] == [
        (
            "bad-libpod-state",
            "libpod/db.sql",
            "not a usable SQLite database: file is not a database",
        )
    ]


def test_orphans_of_a_damaged_root() -> None:
    layers = minroot.layers_json()
    layers.append({"id": "9" * 64})  # recorded, no directory, used by nothing
    src = minroot.build(layers=json.dumps(layers).encode())
    src.add_dir("overlay/" + "8" * 64 + "/diff")  # a directory layers.json does not know
    root = read_root(src)
    assert [(o.kind, o.id, o.path) for o in find_orphans(src, root, [])] == [
        ("missing-layer-dir", "9" * 64, "overlay/" + "9" * 64 + "/diff"),
        ("orphan-driver-dir", "8" * 64, "overlay/" + "8" * 64 + "/diff"),
        ("orphan-layer", "9" * 64, "overlay-layers/layers.json"),
    ]
