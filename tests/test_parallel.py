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


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="workers need two cores")
def test_results_do_not_wait_for_the_workers_exit(tmp_path, small_chunks, monkeypatch):
    """A worker that is slow to exit after its answer is reaped later, not waited for."""
    source = DirSource(tmp_path)
    real_exit = os._exit

    def slow_exit(status: int) -> None:  # only the forked workers call it
        time.sleep(1.0)
        real_exit(status)

    monkeypatch.setattr(os, "_exit", slow_exit)
    assert parallel.pmap(lambda x: x * 2, list(range(40)), source=source,
                         findings=Findings()) == [x * 2 for x in range(40)]  # fmt: skip
    assert parallel._exiting  # still exiting when the results were in: reaped later
    parallel.reap()
    assert not parallel._exiting
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



@pytest.mark.parametrize(
    ("loadavg", "spare"),
    [
        (b"0.10 0.20 0.30 1/200 4242\n", 4),  # only this process runs: every core
        (b"0.30 0.20 0.10 3/200 4242\n", 4),  # two others for a moment, on an idle machine
        (b"1.20 1.00 1.00 2/200 4242\n", 4),  # about one task's load: this command's own runs
        (b"nan 0.20 0.30 3/200 4242\n", 4),  # an unreadable average: every core
        (b"inf 0.20 0.30 3/200 4242\n", 4),
        (b"2.00 2.00 2.00 2/200 4242\n", 3),  # one other task holds one core
        (b"6.00 6.00 6.00 4/200 4242\n", 1),  # three others: one core left
        (b"9.00 9.00 9.00 12/300 4242\n", 1),  # more others than cores: still this one
        (b"garbage", 4),  # unreadable: every core, as without /proc
    ],
)
def test_spare_cores_counts_the_other_running_tasks(monkeypatch, loadavg, spare):
    opened = []
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if path == "/proc/loadavg":
            opened.append(path)
            r, w = os.pipe()
            os.write(w, loadavg)
            os.close(w)
            return r
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(parallel, "_cores", lambda: 4)
    monkeypatch.setattr(os, "open", fake_open)
    assert parallel.spare_cores() == spare
    assert opened == ["/proc/loadavg"]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_spare_only_forks_no_worker_when_no_core_is_spare(tmp_path, monkeypatch, small_chunks):
    source = DirSource(tmp_path)

    def pids(spare_only: bool) -> set[int]:
        def work(_x: int) -> int:
            time.sleep(0.002)  # long enough that a worker would get batches
            return os.getpid()

        found = parallel.pmap(
            work, list(range(40)), source=source, findings=Findings(), spare_only=spare_only
        )
        return set(found)

    monkeypatch.setattr(parallel, "spare_cores", lambda: 1)
    assert pids(spare_only=True) == {os.getpid()}
    assert len(pids(spare_only=False)) > 1
    monkeypatch.setattr(parallel, "spare_cores", lambda: 2)
    assert len(pids(spare_only=True)) > 1
