"""Use every core for embarrassingly parallel reads: one forked worker per core.

Roots with thousands of containers and layers are normal, and reading them is thousands of small,
independent file reads and directory walks. :func:`pmap` cuts a list into small batches and puts
their numbers in a pipe before forking; this process and one forked child per other core each
take the next batch from the pipe until it is empty (a 4-byte ``read`` from a pipe is atomic), so
a worker that meets a big directory does not hold the others up. Results come back to this
process and are put in item order; findings too, so the outcome is exactly that of a sequential
run.

Forking is used only where the evidence source says it is safe (``Source.fork_safe``: each
process then reopens what it holds open, so no file offset is shared), on platforms with
``os.fork``, and for lists long enough to repay it; otherwise :func:`pmap` is a plain loop.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import signal
import struct
import termios
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from storagekit.errors import StoragekitError
from storagekit.model import Finding, Findings
from storagekit.progress import Progress
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
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    chunk = MIN_CHUNK if min_chunk is None else max(1, min_chunk)
    return max(1, min(cores or 1, count // chunk, 8))


def _queued(queue: int) -> int:
    """Bytes still unread in the pipe ``queue``."""
    return int(_INDEX.unpack(fcntl.ioctl(queue, termios.FIONREAD, bytes(4)))[0])


def _drain(
    fn: Callable[[T], R], items: Sequence[T], size: int, queue: int, findings: Findings
) -> Iterator[Batch[R]]:
    """Compute batches taken from ``queue`` until it is empty."""
    while True:
        record = os.read(queue, _INDEX.size)
        if len(record) != _INDEX.size:
            return
        (start,) = _INDEX.unpack(record)
        mark = len(findings)
        results = [fn(x) for x in items[start : start + size]]
        yield start, results, findings.since(mark)


def _child(
    fn: Callable[[T], R],
    items: Sequence[T],
    size: int,
    queue: int,
    source: Source,
    findings: Findings,
    w: int,
) -> None:
    global _in_child
    _in_child = True
    try:
        try:
            source.after_fork()
            batches = list(_drain(fn, items, size, queue, findings))
            payload = pickle.dumps(("ok", batches), protocol=5)
        except BaseException:  # noqa: BLE001 - everything must reach the parent, then exit
            payload = pickle.dumps(("error", traceback.format_exc()), protocol=5)
        with os.fdopen(w, "wb") as out:
            out.write(payload)
    finally:
        os._exit(0)  # never return into the parent's code, even if the parent is gone


def _collect(r: int, pid: int) -> tuple[str, object]:
    with os.fdopen(r, "rb") as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    if not data:
        return "error", "worker exited without an answer"
    status, value = pickle.loads(data)  # our own child's bytes, never evidence
    return status, value


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
) -> list[R]:
    """``[fn(x) for x in items]``, spread over the cores, findings kept in order.

    With ``label``, a progress bar on a terminal follows the batches taken from the queue.
    ``min_chunk``: see :func:`workers_for` (1 when each item is a whole root to read).

    Raises:
        WorkerError: a worker raised; the message holds its traceback.
    """
    n = workers_for(len(items), source, min_chunk)
    with Progress(label or "", len(items)) as bar:
        if not label:
            bar.enabled = False
        if n < 2:
            results = []
            for x in items:
                results.append(fn(x))
                bar.advance()
            return results
        size = -(-len(items) // MAX_BATCHES)
        queue, w = os.pipe()
        os.write(w, b"".join(_INDEX.pack(i) for i in range(0, len(items), size)))
        os.close(w)
        children: list[tuple[int, int]] = []
        for _ in range(n - 1):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os.close(r)
                _child(fn, items, size, queue, source, findings, w)
            os.close(w)
            children.append((r, pid))
        mark = len(findings)
        batches: list[Batch[R]] = []
        try:
            for batch in _drain(fn, items, size, queue, findings):
                batches.append(batch)
                if bar.enabled:
                    bar.done = len(items) - _queued(queue) // _INDEX.size * size
                    bar.advance(0)
        except BaseException:
            _stop(children)
            raise
        finally:
            os.close(queue)
    failure = None
    for r, pid in children:
        status, value = _collect(r, pid)
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
