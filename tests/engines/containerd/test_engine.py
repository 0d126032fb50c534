"""The containerd engine against containerd's and the kernel's answers (expected.json).

Every check runs on the archive and on the directory extracted with GNU tar (as root).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storagekit.engine import Engine
from storagekit.engines.containerd.engine import ContainerdEngine
from storagekit.evidence import open_engines
from storagekit.model import Container, Image
from storagekit.source import FileType, Source
from storagekit.union.view import UnionView
from tests.engines.containerd.conftest import MADE_AT, SAMPLE

TYPES = {FileType.FILE: "file", FileType.DIR: "dir", FileType.SYMLINK: "symlink",
         FileType.CHARDEV: "chardev", FileType.BLOCKDEV: "blockdev", FileType.FIFO: "fifo",
         FileType.SOCKET: "socket"}


@pytest.fixture(scope="module", params=["archive", "directory"])
def engine(request: pytest.FixtureRequest, extracted_root: Path | None) -> Iterator[Engine]:
    if request.param == "archive":
        path = str(SAMPLE / "root.tar.xz")
    elif extracted_root is None:
        pytest.skip("extracting a root with device nodes and xattrs needs root and GNU tar")
    else:
        path = str(extracted_root)
    engines = open_engines(path)
    assert [e.name for e in engines] == ["containerd"]
    yield engines[0]
    engines[0].close()


def _container(engine: Engine, ns: str, cid: str) -> Container:
    return engine.containers[f"{ns}/{cid}"]


def _walk(view: Source) -> list[dict[str, Any]]:
    out = []
    for top, entries in view.walk(""):
        for e in entries:
            path = f"{top}/{e.name}" if top else e.name
            rec: dict[str, Any] = {
                "path": path, "type": TYPES[e.type], "mode": f"{e.mode:04o}", "uid": e.uid,
                "gid": e.gid, "link_target": e.link_target,
                "size": e.size if e.type is FileType.FILE else 0, "mtime_ns": e.mtime_ns,
            }
            if e.type is FileType.FILE:
                with view.open(path) as f:
                    rec["sha256"] = hashlib.sha256(f.read()).hexdigest()
            out.append(rec)
    return sorted(out, key=lambda r: r["path"])


def _active(expected: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for ns, exp in expected["ns"].items():
        for sn, snaps in exp["snapshots"].items():
            for key, item in snaps["items"].items():
                if "merged" in item:
                    yield ns, sn, key, item["merged"]


def test_every_active_snapshot_view_equals_the_kernels(
    engine: ContainerdEngine, expected: dict[str, Any]
) -> None:
    from storagekit.engines.containerd.views import chain_view

    state = engine.state
    seen = 0
    for ns, sn, key, merged in _active(expected):
        chain, problem = state.index.chain(ns, sn, key)
        assert problem is None
        dirs = [d.removeprefix(MADE_AT) for d in merged["layers"]]
        levels = [s.dir for s in chain] if sn == "overlayfs" else [chain[0].dir]
        assert levels == dirs, key
        view = chain_view(state.source, chain, engine.findings, key, key)
        ours = _walk(view)
        theirs = sorted(merged["entries"], key=lambda r: r["path"])
        assert [r["path"] for r in ours] == [r["path"] for r in theirs], key
        assert ours == theirs, key
        seen += 1
    assert seen == 7
    assert list(engine.findings) == []


def test_container_views_resolve_and_list(engine: ContainerdEngine) -> None:
    c = _container(engine, "default", "c-ran")
    view = engine.view(c)
    assert isinstance(view, UnionView)
    with view.open("data/fresh.txt") as f:
        assert f.read() == b"fresh\n"
    assert not view.exists("data/new.txt")
    assert view.exists("opt/cache/again")
    assert not view.exists("opt/cache/c3")


def test_containers_match_ctr(engine: ContainerdEngine, expected: dict[str, Any]) -> None:
    records = engine.container_records(sizes=False)
    got = {(r["namespace"], r["id"]): r for r in records}
    want = {(ns, cid): c for ns, exp in expected["ns"].items()
            for cid, c in exp["containers"].items()}
    assert set(got) == set(want)
    for key, c in want.items():
        r = got[key]
        assert r["engine"] == "containerd"
        assert r["image"] == c["Image"]
        assert r["labels"] == (c["Labels"] or {})
        assert r["snapshotter"] == c["Snapshotter"]
        assert r["snapshot_key"] == c["SnapshotKey"]
        assert r["runtime"] == c["Runtime"]["Name"]
        assert r["created"] == c["CreatedAt"]
        assert r["status"] == "unknown"
        assert r["exit_code"] is None
        assert r["layer_dirs"][0].endswith("/fs") or r["snapshotter"] == "native"
    k8s = expected["scenario"]["k8s"]
    pod = got[("k8s.io", k8s["container"])]["pod"]
    assert pod == {"namespace": "shop", "name": "web-0", "uid": k8s["pod_uid"]}
    assert got[("k8s.io", k8s["container"])]["name"] == "app"
    assert got[("default", "c-native")]["layer_dirs"] == [
        "io.containerd.snapshotter.v1.native/snapshots/2"
    ]


def test_images_match_ctr_and_the_scenario(
    engine: ContainerdEngine, expected: dict[str, Any]
) -> None:
    records = engine.image_records()
    for ns, exp in expected["ns"].items():
        ours = [(r["tags"][0], r["target"]["media_type"], r["target"]["digest"])
                for r in records if r["namespace"] == ns]
        assert ours == [(i["ref"], i["type"], i["digest"]) for i in exp["images"]]
    by_name = {(r["namespace"], r["tags"][0]): r for r in records}
    scenario = expected["scenario"]["images"]
    for name, key in (("docker.io/library/sk-app:1", "app"),
                      ("docker.io/library/sk-multi:1", "amd64")):
        r, s = by_name[("default", name)], scenario[key]
        assert r["id"] == s["config"]
        assert r["manifest"]["digest"] == s["manifest"]
        assert r["diff_ids"] == s["diff_ids"]
        assert r["layer_digests"] == s["layer_digests"]
    assert by_name[("default", "docker.io/library/sk-app:1")]["chain_ids"][-1] == \
        expected["scenario"]["app_chain"]


def test_layers_are_snapshots_as_ctr_lists_them(
    engine: ContainerdEngine, expected: dict[str, Any]
) -> None:
    records = [r for r in engine.layer_records() if r["key"] is not None]
    got = {(r["namespace"], r["snapshotter"], r["key"]): r for r in records}
    want = {(ns, sn, key): item for ns, exp in expected["ns"].items()
            for sn, snaps in exp["snapshots"].items() for key, item in snaps["items"].items()}
    assert set(got) == set(want)
    for key, item in want.items():
        r = got[key]
        assert r["kind"] == item["info"]["Kind"].lower()
        assert r["parent"] == item["info"].get("Parent")
        if r["kind"] == "committed":
            assert (r["size"], r["inodes"]) == (item["usage"]["size"], item["usage"]["inodes"])
        assert r["present"]


def test_diff_of_a_run_container(engine: ContainerdEngine) -> None:
    found = [f"{c.kind} {c.path}" for c in engine.changes(_container(engine, "default", "c-ran"))]
    assert found == [
        "C /bin", "D /bin/wc", "C /data", "A /data/fresh.txt", "A /data/link", "D /data/new.txt",
        "C /etc", "C /etc/passwd", "C /opt", "C /opt/cache", "A /opt/cache/again",
        "D /opt/cache/c3", "A /run", "C /var", "A /var/log", "A /var/log/app",
        "A /var/log/app/out.log",
    ]
    assert engine.changes(_container(engine, "default", "c-created")) == []


def test_orphans_are_exactly_the_planted_ones(engine: ContainerdEngine) -> None:
    kinds = {(o["kind"], o["namespace"], tuple(o["ids"])) for o in engine.orphan_records()
             if o["kind"] != "expired-lease"}
    assert kinds == {("unreferenced-snapshot", "default", ("orphan-committed",))}


def test_verify_is_clean_and_save_is_byte_exact(engine: ContainerdEngine) -> None:
    records = engine.verify_records(None)
    assert {r["status"] for r in records} == {"ok"}
    assert {r["kind"] for r in records} == {"blob", "layer", "snapshot"}
    image = next(i for i in engine.images if "sk-app:1" in i.tags
                 and engine.state.record_of(i).namespace == "default")
    assert isinstance(image, Image)
    out = io.BytesIO()
    manifest = engine.save([image], out)
    assert manifest[0]["RepoTags"] == ["sk-app:1"]
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = tar.getnames()
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        for name in names:
            if name.startswith("blobs/sha256/"):
                data = tar.extractfile(name).read()  # type: ignore[union-attr]
                assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == \
        "docker.io/library/sk-app:1"
    assert "oci-layout" in names


def test_namespace_narrows(engine: ContainerdEngine) -> None:
    engine.narrow(["k8s.io"])
    try:
        assert {r["namespace"] for r in engine.container_records(sizes=False)} == {"k8s.io"}
        assert len(engine.image_records()) == 2
    finally:
        engine.narrow([])
