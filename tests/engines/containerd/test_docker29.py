"""Docker >= 29 on containerd: Docker's records, containerd's snapshots, the kernel's view."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from storagekit.cli.common import Context
from storagekit.refs import resolve_in
from tests.conftest import SAMPLES, Result
from tests.engines.containerd.conftest import SAMPLE

DOCKER = str(SAMPLES / "containerd-docker29" / "root.tar.xz")
CTRD = str(SAMPLE / "root.tar.xz")
EXPECTED: dict[str, Any] = json.loads(
    (SAMPLES / "containerd-docker29" / "expected.json").read_text()
)
Run = Callable[..., Result]


#: A member's new bytes (``None``: leave it out) by its name in the whole-host archive.
Edits = dict[str, bytes | None]


def whole_host(out: Path, edits: Edits | None = None) -> str:
    """One whole-host archive: var/lib/docker and var/lib/containerd, members copied as they are
    (xattrs, device nodes and all), without extracting anything; ``edits`` replace, remove or
    add regular files."""
    todo = dict(edits or {})
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for src_path, prefix in ((DOCKER, "var/lib/docker"), (CTRD, "var/lib/containerd")):
            with tarfile.open(src_path) as src:
                for m in src:
                    m.pax_headers = {k: v for k, v in m.pax_headers.items()
                                     if k not in ("path", "linkpath")}
                    name = m.name.removeprefix("./").strip("/")
                    m.name = f"{prefix}/{name}" if name else prefix
                    if m.islnk():
                        m.linkname = f"{prefix}/{m.linkname.removeprefix('./')}"
                    if m.name in todo:
                        data = todo.pop(m.name)
                        if data is not None:
                            m.size = len(data)
                            dst.addfile(m, io.BytesIO(data))
                        continue
                    dst.addfile(m, src.extractfile(m) if m.isreg() else None)
        for name, data in todo.items():
            assert data is not None, name
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            dst.addfile(info, io.BytesIO(data))
    return str(out)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> str:
    return whole_host(tmp_path_factory.mktemp("host") / "host.tar")


@pytest.fixture(params=["two-pieces", "whole-host"])
def evidence(request: pytest.FixtureRequest, host: str) -> tuple[str, ...]:
    if request.param == "two-pieces":
        return ("-r", DOCKER, "--containerd-root", CTRD)
    return ("-r", host)


def test_the_container_is_dockers_with_containerds_layers(
    run: Run, evidence: tuple[str, ...]
) -> None:
    r = run(*evidence, "--engine", "docker", "--engine", "containerd", "containers",
            "--format", "json")
    assert r.code == 0
    want = EXPECTED["container"]
    (c,) = [c for c in r.json() if c["id"] == want["id"]]
    assert c["engine"] == "docker"
    for key in ("name", "image", "image_id", "driver", "snapshot_key", "status", "layer_dirs"):
        assert c[key] == want[key], key
    assert c["mount_id"] == want["id"]
    assert c["init_id"] == want["id"] + "-init"
    images = run(*evidence, "images", "-a", "--format", "json").json()
    moby = [i for i in images if i.get("namespace") == "moby"]
    assert [i["engine"] for i in moby] == ["docker"]
    assert moby[0]["id"] == want["image_id"]
    assert moby[0]["containers"] == 1  # Docker's container uses it


def test_diff_chain_and_view_are_the_kernels(run: Run, evidence: tuple[str, ...]) -> None:
    r = run(*evidence, "diff", "sk-moby")
    assert r.out.splitlines() == EXPECTED["diff"]
    chain = run(*evidence, "chain", "sk-moby", "--format", "json").json()
    assert [la["role"] for la in chain["layers"]] == ["rw", "init", "image"]
    ref = EXPECTED["kernel_view"]
    kernel = json.loads((SAMPLE / "expected.json").read_text())
    merged = kernel["ns"][ref["namespace"]]["snapshots"][ref["snapshotter"]]["items"][
        ref["key"]]["merged"]["entries"]
    listing = run(*evidence, "ls", "sk-moby", "-R", "--format", "json").json()
    assert sorted(e["path"].lstrip("/") for e in listing) == sorted(e["path"] for e in merged)
    context = Context(*evidence[1::2][:1], *(evidence[3:4] or [None]))
    try:
        engine, obj = resolve_in(context.engines(), "sk-moby")
        view = engine.view(obj)
        for e in merged:
            if e["type"] == "file":
                with view.open(e["path"]) as f:
                    assert hashlib.sha256(f.read()).hexdigest() == e["sha256"], e["path"]
    finally:
        context.close()


def test_docker_without_its_image_store_says_where_it_is(run: Run, tmp_path: Path) -> None:
    alone = run("-r", DOCKER, "containers", "--format", "json")
    assert alone.json()[0]["layer_dirs"] == []
    assert "[no-image-store]" in alone.err
    both = run("-r", DOCKER, "--containerd-root", CTRD, "containers", "--format", "json")
    assert "[image-store-in-containerd]" in both.err


@pytest.mark.parametrize(
    "command", [("containers",), ("images",), ("layers",), ("df",), ("orphans",),
                ("verify",), ("audit", "--format", "json")],
    ids=lambda c: c[0],
)
def test_where_the_image_store_is_is_said_once(
    run: Run, evidence: tuple[str, ...], command: tuple[str, ...]
) -> None:
    r = run(*evidence, *command)
    assert r.err.count("[image-store-in-containerd]") == 1, r.err


def test_moby_names_are_dockers_familiar_ones_and_ctrs_stay_full(
    run: Run, evidence: tuple[str, ...]
) -> None:
    """``docker images`` on the containerd store prints ``sk-base:1``; ``ctr`` the full name."""
    images = run(*evidence, "images", "-a", "--format", "json").json()
    names = {(i["namespace"], i["id"]): (i["tags"], i["digests"]) for i in images}
    manifest = "sha256:3b6b381f72e626e0d94b9b96015a11f42b2ed0f1a8bee7ff8ca845d37edd9146"
    image_id = EXPECTED["container"]["image_id"]
    assert names[("moby", image_id)] == (["sk-base:1"], [f"sk-base@{manifest}"])
    assert names[("default", image_id)] == (
        ["docker.io/library/sk-base:1"], [f"docker.io/library/sk-base@{manifest}"]
    )
    alone = run("-r", CTRD, "--namespace", "moby", "images", "--format", "json").json()
    assert [i["tags"] for i in alone] == [["docker.io/library/sk-base:1"]]


ID = EXPECTED["container"]["id"]
IMAGE_FS = "var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/3/fs"


def test_verify_names_a_planted_and_a_changed_file_in_the_image_snapshot(
    run: Run, host: str, tmp_path: Path
) -> None:
    """``verify CONTAINER`` checks the image snapshots below ``<id>-init`` against their layer
    blob, and lists the container's own changes; a mismatch exits 4."""
    clean = run("-r", host, "verify", "sk-moby", "--format", "json")
    assert clean.code == 0
    assert [(r["kind"] if "kind" in r else None, r["status"], r["cache_id"]) for r in clean.json()
            ] == [("layer", "ok", None), ("snapshot", "ok", "3"), (None, "container-changes", "16")]
    assert clean.json()[-1]["files"] == [{"path": "/root", "change": "changed"},
                                         {"path": "/root/.ash_history", "change": "added"}]
    with tarfile.open(CTRD) as src:
        f = src.extractfile(f"./{IMAGE_FS.split('/', 3)[3]}/etc/passwd")
        assert f is not None
        passwd = f.read()
    tampered = whole_host(tmp_path / "tampered.tar", {
        f"{IMAGE_FS}/etc/passwd": passwd.replace(b"root", b"r00t"),
        f"{IMAGE_FS}/bin/planted": b"#!/bin/sh\n",
    })
    r = run("-r", tampered, "verify", "sk-moby", "--format", "json")
    assert r.code == 4
    assert r.err.splitlines()[0] == (
        "storagekit: 1 of 3 layers do not match their diff ID or their tar-split")
    (snap,) = [x for x in r.json() if x.get("kind") == "snapshot"]
    assert (snap["engine"], snap["namespace"], snap["status"]) == ("docker", "moby", "modified")
    assert snap["files"] == [{"path": "/bin/planted", "change": "added"},
                             {"path": "/etc/passwd", "change": "content"}]
    whole = run("-r", tampered, "verify", "--format", "json")
    assert whole.code == 4
    assert [x["files"] for x in whole.json()
            if x.get("kind") == "snapshot" and x["namespace"] == "moby"] == [snap["files"]]


def test_verify_names_what_dockerd_never_writes_in_the_init_snapshot(
    run: Run, host: str, tmp_path: Path
) -> None:
    """moby runs ``initlayer.Setup`` on snapshot ``<id>-init`` as on a graph driver's init
    layer: empty placeholders only. The sample's init snapshot holds exactly what Setup writes
    (its maker runs Setup on the mounted snapshot, tools/ctrinit.py): nothing is named; a
    planted file, a placeholder given content and a whiteout are."""
    init = "var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/15/fs"
    at = init.split("/", 3)[3]  # the same directory, within the containerd root
    with tarfile.open(CTRD) as src:
        members = {m.name[len(at) + 2:]: m for m in src.getmembers()
                   if m.name.startswith(f"./{at}/")}
    assert sorted(members) == ["/.dockerenv", "/dev", "/dev/console", "/dev/pts", "/dev/shm",
                               "/etc", "/etc/hostname", "/etc/hosts", "/etc/mtab",
                               "/etc/resolv.conf"]
    assert {(m.mode, m.size) for m in members.values() if m.isfile()} == {(0o755, 0)}
    assert members["/etc/mtab"].linkname == "/proc/mounts"
    clean = run("-r", host, "verify", "sk-moby")
    assert [x for x in clean.err.splitlines() if "[init-layer-entry]" in x] == []
    planted = whole_host(tmp_path / "planted.tar", {f"{init}/etc/ld.so.preload": b"/x.so\n",
                                                    f"{init}/etc/hosts": b"10.0.0.1 evil\n"})
    r = run("-r", planted, "verify", "sk-moby")
    assert [x for x in r.err.splitlines() if "[init-layer-entry]" in x] == [
        f"warning: {at}/etc/hosts: 14 bytes where dockerd makes an empty placeholder file "
        "[init-layer-entry]",
        f"warning: {at}/etc/ld.so.preload: not an entry dockerd writes in an "
        "init layer (moby daemon/initlayer): put there by something else [init-layer-entry]",
    ]


def test_with_mounts_shows_the_volumes_of_a_docker_container_on_containerd(
    run: Run, tmp_path: Path
) -> None:
    config_path = f"var/lib/docker/containers/{ID}/config.v2.json"
    with tarfile.open(DOCKER) as src:
        f = src.extractfile(f"containers/{ID}/config.v2.json")
        assert f is not None
        config = json.loads(f.read())
    config["MountPoints"] = {"/data": {
        "Source": "/var/lib/docker/volumes/vol1/_data", "Destination": "/data", "RW": True,
        "Name": "vol1", "Driver": "local", "Type": "volume", "Relabel": "", "Propagation": "",
        "Spec": {"Type": "volume", "Source": "vol1", "Target": "/data"},
        "SkipMountpointCreation": False,
    }}
    evidence = whole_host(tmp_path / "volumes.tar", {
        config_path: json.dumps(config).encode(),
        "var/lib/docker/volumes/vol1/_data/kept.txt": b"in the volume\n",
    })
    mounted = run("-r", evidence, "ls", "--with-mounts", "sk-moby", "/data", "--format", "json")
    assert mounted.code == 0
    assert [(e["path"], e["size"], e["layer"]) for e in mounted.json()] == [
        ("/data/kept.txt", 14, "volume:vol1")]
    etc = run("-r", evidence, "ls", "--with-mounts", "sk-moby", "/etc", "--format", "json").json()
    assert {e["path"]: e["layer"] for e in etc}["/etc/hostname"] == (
        f"containers/{ID}/hostname")
    plain = run("-r", evidence, "ls", "sk-moby", "/data", "--format", "json")
    assert plain.code == 1
    assert run("-r", evidence, "cat", "--with-mounts", "sk-moby", "/data/kept.txt").out == (
        "in the volume\n")
    (c,) = [c for c in run("-r", evidence, "containers", "--format", "json").json()
            if c["id"] == ID]
    assert c["mounts"] == [{"type": "volume", "name": "vol1",
                            "source": "/var/lib/docker/volumes/vol1/_data",
                            "destination": "/data", "read_only": False, "present": True}]
