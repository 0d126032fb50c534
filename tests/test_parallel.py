"""Forked workers: same results and findings, in the same order, as a sequential run."""

from __future__ import annotations

import os
import time

import pytest

from storagekit import parallel
from storagekit.errors import SourceError
from storagekit.model import Findings
from storagekit.sources.dirsource import DirSource
from storagekit.sources.memsource import MemorySource


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_CHUNK", 2)


def test_pmap_keeps_order_and_findings(tmp_path, small_chunks):
    for i in range(40):
        (tmp_path / f"f{i:02}").write_text(str(i))
    source = DirSource(tmp_path)
    findings = Findings()
    names = sorted(os.listdir(tmp_path))

    def read(name: str) -> tuple[int, int]:
        if name.endswith("7"):
            findings.warning("seven", name, f"{name} ends in 7")
        time.sleep(0.005)  # long enough that the workers get batches before this process
        return int(source.read_bytes(name)), os.getpid()

    assert parallel.workers_for(len(names), source) == min(len(os.sched_getaffinity(0)), 8)
    results = parallel.pmap(read, names, source=source, findings=findings)
    assert [value for value, _ in results] == list(range(40))
    if len(os.sched_getaffinity(0)) > 1:
        assert len({pid for _, pid in results}) > 1  # really ran in several processes
    assert [f.path for f in findings] == ["f07", "f17", "f27", "f37"]


def test_pmap_sequential_for_sources_that_cannot_fork(small_chunks):
    source = MemorySource.from_dict({"a": b"1"})
    assert parallel.workers_for(1000, source) == 1
    assert parallel.pmap(
        lambda x: (x, os.getpid()), [1, 2], source=source, findings=Findings()
    ) == [
        (1, os.getpid()),
        (2, os.getpid()),
    ]


def test_worker_failure_is_reported(tmp_path, small_chunks):
    source = DirSource(tmp_path)

    def boom(x: int) -> int:
        if x == 39:
            raise ValueError("item 39 is bad")
        return x

    # Whichever process met item 39: a worker's failure arrives as WorkerError with its
    # traceback, this process's own as the exception itself (after the workers are stopped).
    with pytest.raises((parallel.WorkerError, ValueError), match="item 39 is bad"):
        parallel.pmap(boom, list(range(40)), source=source, findings=Findings())
    with pytest.raises(ChildProcessError):  # every worker was reaped
        os.waitpid(-1, os.WNOHANG)


def test_dirsource_after_fork_refuses_a_replaced_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    source = DirSource(root)
    root.rename(tmp_path / "moved")
    root.mkdir()
    with pytest.raises(SourceError, match="replaced"):
        source.after_fork()


def test_pmap_batches_more_items_than_the_queue_holds(tmp_path, small_chunks):
    # More items than MAX_BATCHES: several items per batch, the queue still one page.
    source = DirSource(tmp_path)
    items = list(range(3 * parallel.MAX_BATCHES + 7))
    assert parallel.MAX_BATCHES * 4 <= 4096
    results = parallel.pmap(
        lambda x: (x * x, os.getpid()), items, source=source, findings=Findings()
    )
    assert [value for value, _ in results] == [x * x for x in items]
