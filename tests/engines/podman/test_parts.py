"""``containers`` reads libpod's containers here while a forked worker reads the stores.

The records and findings are those of one process reading everything in turn, on a damaged
root too, and a worker that fails leaves its parts to this process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import storagekit.parallel
from storagekit.engines.podman import parts
from storagekit.engines.podman.engine import PodmanEngine
from storagekit.errors import SourceError
from storagekit.sources import open_source
from tests.engines.podman.conftest import PODMAN_NAMES

PMAP = storagekit.parallel.pmap
BOLT = next(n for n in PODMAN_NAMES if "rootless" not in n)


def answers(top: Path, monkeypatch: pytest.MonkeyPatch, fork: bool) -> dict[str, Any]:
    """``containers``' records and every finding; whether the parts were read at once."""
    monkeypatch.setattr(parts, "PARALLEL_BYTES", 0 if fork else 1 << 62)
    monkeypatch.setattr(storagekit.parallel, "spare_cores", lambda: 2)
    calls: list[int] = []

    def pmap(fn: Any, items: Any, **kw: Any) -> Any:
        calls.append(len(items))
        return PMAP(fn, items, **kw)

    monkeypatch.setattr(storagekit.parallel, "pmap", pmap)
    with open_source(str(top)) as src:
        engine = PodmanEngine(src, str(top), "")
        records = engine.container_records(sizes=False)
        engine.settle()
        found = [(f.code, f.severity, f.path, f.message) for f in engine.findings.sorted()]
    return {"records": records, "findings": found, "forked": calls}


def _extract(name: str, dest: Path) -> Path:
    import tarfile

    from tests.engines.podman.conftest import SAMPLES

    with tarfile.open(SAMPLES / name / "root.tar.xz") as tf:
        tf.extractall(dest, filter="fully_trusted")
    return dest


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing is forked")
@pytest.mark.parametrize("damage", [False, True])
def test_parts_read_at_once_answer_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bool
) -> None:
    top = _extract(BOLT, tmp_path / "root")
    if damage:  # a truncated containers.json and a layer record's parent gone
        path = top / "overlay-containers" / "containers.json"
        path.write_bytes(path.read_bytes()[:-40])
        layers = top / "overlay-layers" / "layers.json"
        layers.write_text(layers.read_text().replace('"parent":"', '"parent":"00', 1))
    one = answers(top, monkeypatch, fork=False)
    two = answers(top, monkeypatch, fork=True)
    assert (one["forked"], two["forked"]) == ([], [2])
    assert bool(one["findings"]) is damage
    assert two == {**one, "forked": [2]}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing is forked")
def test_a_worker_that_fails_leaves_the_parts_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _extract(BOLT, tmp_path / "root")
    one = answers(top, monkeypatch, fork=False)
    parent = os.getpid()
    real = parts._holder

    def holder(inv: Any, part: str) -> object:
        if os.getpid() != parent:
            raise SourceError("the worker could not read it")
        return real(inv, part)

    monkeypatch.setattr(parts, "_holder", holder)
    two = answers(top, monkeypatch, fork=True)
    assert two == {**one, "forked": [2]}
