"""``containers`` reads meta.db's containers, the snapshots and the images on both cores.

A forked worker reads some of these parts (``ContainerdRoot.read_parts``) and sends its records
and findings back: the records, the findings and the root's later answers are those of one
process reading everything in turn, damage included.
"""

from __future__ import annotations

import os
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

import storagekit.parallel
from storagekit.engines.containerd import root as root_module
from storagekit.engines.containerd.engine import ContainerdEngine
from storagekit.errors import SourceError
from storagekit.formats.containerd import put_uvarint
from storagekit.sources import open_source
from tests.engines.containerd.builders import T0, Root, digest

OVL = "io.containerd.snapshotter.v1.overlayfs"
WORKERS_FOR = storagekit.parallel.workers_for
PMAP = storagekit.parallel.pmap


def damaged(count: int) -> Root:
    """The built root with ``count`` more containers and damage in every part."""
    r = Root()
    containers, snaps = r.ns[b"containers"], r.ns[b"snapshots"][b"overlayfs"]  # type: ignore[index]
    for n in range(count):
        key = f"x{n:04d}".encode()
        containers[key] = {  # type: ignore[index]
            b"createdat": T0, b"image": b"img:1", b"snapshotter": b"overlayfs",
            b"snapshotKey": key, b"labels": {b"n": str(n).encode()}}
        snaps[key] = {b"createdat": T0, b"name": b"default/%d/%s" % (n + 10, key),  # type: ignore[index]
                      b"parent": r.diff.encode()}
        if n % 3:  # the others: no record in the snapshotter (missing-snapshot)
            r.snaps[b"default/%d/%s" % (n + 10, key)] = {
                b"id": put_uvarint(n + 10) if n % 7 else b"\xff",  # bad-varint
                b"kind": b"\x02", b"parent": b"default/1/" + r.diff.encode()}
        if n % 5 == 0:  # missing-snapshot-dir for the others
            r.files[f"{OVL}/snapshots/{n + 10}/fs"] = None
    containers[b"x0001"][b"createdat"] = b"\x01\x02"  # type: ignore[index]  # bad-timestamp
    r.ns[b"images"][b"gone:1"] = {b"target": {  # type: ignore[index]
        b"digest": digest(b"no such manifest").encode(),
        b"mediatype": b"application/vnd.oci.image.manifest.v1+json"}}  # missing-blob
    return r


def answers(top: Path, least: int, command: str,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``command``'s records (``layers``' too, after it) and findings; the parts read at once."""
    monkeypatch.setattr(root_module, "PARALLEL_CONTAINERS", least)
    forks: list[tuple[list[str], int]] = []  # the parts read together, on how many processes

    def pmap(fn: Any, items: Any, **kw: Any) -> Any:
        forks.append((list(items), WORKERS_FOR(len(items), kw["source"], kw["min_chunk"])))
        return PMAP(fn, items, **kw)

    monkeypatch.setattr(storagekit.parallel, "pmap", pmap)
    with open_source(str(top)) as src:
        engine = ContainerdEngine(src, str(top), "")
        records = (engine.container_records(sizes=False) if command == "containers"
                   else engine.image_records())
        layers = engine.layer_records()
        findings = [(f.code, f.severity, f.path, f.message) for f in engine.findings.sorted()]
        engine.state.root.close()
    return {"records": records, "layers": layers, "findings": findings, "workers": forks}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing is forked")
@pytest.mark.parametrize(("command", "parts"), [
    ("containers", ["containers", "snapshots", "images"]),
    ("images", ["snapshots", "images", "container_images"]),
])
def test_parts_read_on_two_cores_answer_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, parts: list[str]
) -> None:
    top = damaged(40).write(tmp_path / "root")
    one = answers(top, 42, command, monkeypatch)
    two = answers(top, 41, command, monkeypatch)
    assert (one["workers"], two["workers"]) == ([], [(parts, 2)])
    assert len(one["records"]) == (41 if command == "containers" else 2)
    codes = {f[0] for f in one["findings"]}
    assert codes >= {"missing-snapshot", "bad-varint", "missing-snapshot-dir", "missing-blob"}
    assert two == {**one, "workers": [(parts, 2)]}


def test_a_small_root_is_read_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = damaged(root_module.PARALLEL_CONTAINERS - 2).write(tmp_path / "root")
    assert answers(top, root_module.PARALLEL_CONTAINERS, "containers",
                   monkeypatch)["workers"] == []


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing is forked")
def test_a_worker_that_fails_leaves_the_parts_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's error is the one this process meets reading the part itself: one line."""
    top = damaged(40).write(tmp_path / "root")
    parent, failed = os.getpid(), tmp_path / "failed"
    containers = root_module.ContainerdRoot.containers.func  # type: ignore[attr-defined]
    snapshots = root_module.ContainerdRoot.snapshots.func  # type: ignore[attr-defined]

    def slow(self: root_module.ContainerdRoot) -> Any:
        time.sleep(0.5)  # the worker takes the next part meanwhile (no timing is asserted)
        return containers(self)

    def failing(self: root_module.ContainerdRoot) -> Any:
        if os.getpid() != parent:
            failed.write_text("the worker failed\n")
            raise SourceError("the worker could not read it")
        return snapshots(self)

    for name, fn in (("containers", slow), ("snapshots", failing)):
        prop = cached_property(fn)
        prop.__set_name__(root_module.ContainerdRoot, name)
        monkeypatch.setattr(root_module.ContainerdRoot, name, prop)
    one = answers(top, 42, "containers", monkeypatch)
    assert not failed.exists()
    two = answers(top, 41, "containers", monkeypatch)
    assert failed.exists()
    assert two == {**one, "workers": [(["containers", "snapshots", "images"], 2)]}
