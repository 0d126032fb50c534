"""Use every core for embarrassingly parallel reads: one forked worker per core.

Roots with thousands of containers and layers are normal, and reading them is thousands of small,
independent file reads and directory walks. :func:`pmap` cuts a list into small batches and puts
their numbers in a pipe before forking; this process and one forked child per other core each
take the next batch from the pipe until it is empty (a 4-byte ``read`` from a pipe is atomic), so
a worker that meets a big directory does not hold the others up. Results come back to this
process and are put in item order; findings too, so the outcome is exactly that of a sequential
run. A worker whose answer is in is not waited for while it exits: it is reaped by the next
call, or when the program ends (its exit frees its copy of this process's memory maps). With a
label, the items done (and any bytes the work counts) show on a terminal; the
workers count into the parent's step (:func:`storagekit.progress.workers`).

Forking is used only where the evidence source says it is safe (``Source.fork_safe``: each
process then reopens what it holds open, so no file offset is shared), on platforms with
``os.fork``, and for lists long enough to repay it; otherwise :func:`pmap` is a plain loop.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from storagekit import progress
from storagekit.errors import StoragekitError
from storagekit.model import Finding, Findings
from storagekit.source import Source

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items per worker, forking costs more than it saves.
MIN_CHUNK = 150
#: At most this many batches: their 4-byte numbers are written to the queue before any worker
#: reads it, so they must fit in one page, the least a Linux pipe holds (a user over the
#: pipe-user-pages-soft limit gets one-page pipes; a bigger queue would then never be written).
MAX_BATCHES = 1024
_INDEX = struct.Struct("<I")
_in_child = False
#: Workers that have sent their answer and may still be exiting (:func:`_reap_later`).
_exiting: list[int] = []

#: (first item's index, results, findings recorded while computing them) of one batch.
Batch = tuple[int, list[R], list[Finding]]


class WorkerError(StoragekitError):
    """A forked worker failed; carries the worker's traceback text."""


def workers_for(count: int, source: Source, min_chunk: int | None = None) -> int:
    """How many processes to use for ``count`` items read from ``source``.

    ``min_chunk``: the fewest items worth a process (default :data:`MIN_CHUNK`; fewer for
    items that are each a big job).
    """
    if _in_child or not source.fork_safe or not hasattr(os, "fork"):
        return 1
    chunk = MIN_CHUNK if min_chunk is None else max(1, min_chunk)
    return max(1, min(_cores(), count // chunk, 8))


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def spare_cores() -> int:
    """How many cores are free for this process and its workers now (at least 1).

    Linux's ``/proc/loadavg`` counts, in its fourth field (``running/total``), the tasks
    running or ready to run right now, this process among them; the others hold as many
    cores. A worker forked onto a busy core gets no more of the machine (Linux's automatic
    session groups share the cores between sessions, not processes): it only adds the cost
    of forking and of sending its results back. But a task seen running at one instant is
    often a moment's work (a kernel thread, the previous command's worker exiting: on this
    project's VM one reading in seven saw one, for 1-4 ms), and reading alone then would
    cost the whole command its second core. So no more tasks are counted than the first
    field, the last minute's average, has seen, less one task's worth (this command's own
    earlier runs count there too): a core is taken as busy only under sustained load.
    Without ``/proc``: every core.
    """
    cores = _cores()
    try:
        fd = os.open("/proc/loadavg", os.O_RDONLY | os.O_CLOEXEC)
        try:
            fields = os.read(fd, 256).split()
        finally:
            os.close(fd)
        running = int(fields[3].partition(b"/")[0])
        sustained = max(0, int(float(fields[0]) - 0.5))
    except (OSError, ValueError, IndexError, OverflowError):
        return cores
    return max(1, min(cores, cores - min(running - 1, sustained)))


def _drain(
    fn: Callable[[T], R],
    items: Sequence[T],
    size: int,
    queue: int,
    findings: Findings,
    count: bool = True,
) -> Iterator[Batch[R]]:
    """Compute batches taken from ``queue`` until it is empty (``count``: as items done)."""
    while True:
        record = os.read(queue, _INDEX.size)
        if len(record) != _INDEX.size:
            return
        (start,) = _INDEX.unpack(record)
        mark = len(findings)
        results = [fn(x) for x in items[start : start + size]]
        if count:
            progress.item(len(results))
        yield start, results, findings.since(mark)


def _child(
    fn: Callable[[T], R],
    items: Sequence[T],
    size: int,
    queue: int,
    source: Source,
    findings: Findings,
    w: int,
    team: progress.Team,
    count: bool,
) -> None:
    global _in_child
    _in_child = True
    try:
        try:
            source.after_fork()
            batches = list(_drain(fn, items, size, queue, findings, count))
            team.publish()
            payload = pickle.dumps(("ok", batches), protocol=5)
        except BaseException:  # noqa: BLE001 - everything must reach the parent, then exit
            import traceback  # only here: it costs every run's start 1 ms

            payload = pickle.dumps(("error", traceback.format_exc()), protocol=5)
        with os.fdopen(w, "wb") as out:
            out.write(payload)
    finally:
        os._exit(0)  # never return into the parent's code, even if the parent is gone


def _collect(r: int, pid: int) -> tuple[str, object]:
    with os.fdopen(r, "rb") as inp:
        data = inp.read()
    _reap_later(pid)
    if not data:
        return "error", "worker exited without an answer"
    status, value = pickle.loads(data)  # our own child's bytes, never evidence
    return status, value


def _reap_later(pid: int) -> None:
    """Reap a worker that has sent all it had now if it has exited, else later (:func:`reap`).

    Its answer is complete once the pipe ends; what is left is its exit, which frees its copy
    of this process's page tables and maps (some 3 ms after reading a big libpod database)
    and which this process need not wait for.
    """
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return
    if done == 0:
        _exiting.append(pid)


def reap() -> None:
    """Wait for every worker still exiting (at the next parallel call, a failure, the exit)."""
    while _exiting:
        pid = _exiting.pop()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _sweep() -> None:
    """Reap the workers that have exited meanwhile, without waiting for the others."""
    for pid in list(_exiting):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _exiting.remove(pid)


atexit.register(reap)


def _stop(children: list[tuple[int, int]]) -> None:
    """Kill and reap the workers when this process cannot go on."""
    for r, pid in children:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def pmap(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    source: Source,
    findings: Findings,
    label: str | None = None,
    min_chunk: int | None = None,
    spare_only: bool = False,
) -> list[R]:
    """``[fn(x) for x in items]``, spread over the cores, findings kept in order.

    With ``label``, a step of the command's progress counts the items done. ``min_chunk``: see
    :func:`workers_for` (1 when each item is a whole root to read). ``spare_only``: no more
    processes than :func:`spare_cores`, for work of a fraction of a second whose workers would
    only share busy cores.

    Raises:
        WorkerError: a worker raised; the message holds its traceback.
    """
    return pmap_started(fn, items, source=source, findings=findings, label=label,
                        min_chunk=min_chunk, spare_only=spare_only)()  # fmt: skip


def pmap_started(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    source: Source,
    findings: Findings,
    label: str | None = None,
    min_chunk: int | None = None,
    spare_only: bool = False,
) -> Callable[[], list[R]]:
    """:func:`pmap` with its workers forked now; the call it returns gives the results.

    Until that call, the workers take batches while this process does other work (``df``
    reads the metadata while the measurement's workers walk the tree); then this process
    takes the batches left, as :func:`pmap` does. Findings recorded here meanwhile are kept.
    The call must be made once, before the workers' results are needed.
    """
    n = workers_for(len(items), source, min_chunk)
    if spare_only and n > 1:
        n = min(n, spare_cores())
    stack = contextlib.ExitStack()
    if label:
        stack.enter_context(progress.step(label, items=len(items)))
    if n < 2:

        def serial() -> list[R]:
            with stack:
                return [fn(x) for x in _counted(items, label is not None)]

        return serial
    finish = _parallel(fn, items, n, source, findings, label is not None)

    def parallel() -> list[R]:
        with stack:
            return finish()

    return parallel


def _counted(items: Sequence[T], count: bool) -> Iterator[T]:
    """``items``, each counted as done in the current step when ``count``."""
    if not count:
        yield from items
        return
    bar = progress.current().top
    for x in items:
        yield x
        bar.item()


def _parallel(
    fn: Callable[[T], R],
    items: Sequence[T],
    n: int,
    source: Source,
    findings: Findings,
    count: bool,
) -> Callable[[], list[R]]:
    """:func:`pmap_started` on ``n`` processes (this one and ``n - 1`` forked workers)."""
    _sweep()
    size = -(-len(items) // MAX_BATCHES)
    queue, w = os.pipe()
    os.write(w, b"".join(_INDEX.pack(i) for i in range(0, len(items), size)))
    os.close(w)
    children: list[tuple[int, int]] = []
    team = progress.workers(n - 1)
    try:
        for k in range(n - 1):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os.close(r)
                team.enter(k)
                _child(fn, items, size, queue, source, findings, w, team, count)
            os.close(w)
            children.append((r, pid))
    except BaseException:
        os.close(queue)
        _stop(children)
        team.close()
        raise

    def finish() -> list[R]:
        with team:
            mark = len(findings)
            try:
                batches = list(_drain(fn, items, size, queue, findings, count))
            except BaseException:
                _stop(children)
                raise
            finally:
                os.close(queue)
            outcomes = [_collect(r, pid) for r, pid in children]
        try:
            return _merge(batches, outcomes, findings, mark)
        except WorkerError:
            reap()
            raise

    return finish


def _merge(
    batches: list[Batch[R]], outcomes: list[tuple[str, object]], findings: Findings, mark: int
) -> list[R]:
    """The results in item order, findings re-recorded in that order."""
    failure = None
    for status, value in outcomes:
        if status != "ok":
            failure = failure or str(value)
            continue
        assert isinstance(value, list)
        batches.extend(value)
    if failure is not None:
        raise WorkerError(f"a parallel worker failed:\n{failure}")
    findings.truncate(mark)
    results = []
    for _, values, found in sorted(batches, key=lambda batch: batch[0]):
        results.extend(values)
        for f in found:
            findings.add(f.code, f.severity, f.path, f.message)
    return results
