"""Use every core for embarrassingly parallel reads: one forked worker per core.

Roots with thousands of containers and layers are normal, and reading them is thousands of small,
independent file reads and directory walks. :func:`pmap` splits a list into contiguous chunks,
computes the first in this process and each other one in a forked child, and returns the results
in order. Findings a child records are sent back with its results and added in chunk order, so
the outcome is exactly that of a sequential run.

Forking is used only where the evidence source says it is safe (``Source.fork_safe``: each
process then reopens what it holds open, so no file offset is shared), on platforms with
``os.fork``, and for lists long enough to repay it; otherwise :func:`pmap` is a plain loop.
"""

from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from storagekit.errors import StoragekitError
from storagekit.model import Finding, Findings
from storagekit.progress import Progress
from storagekit.source import Source

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items per worker, forking costs more than it saves.
MIN_CHUNK = 150
#: The share of the work this process keeps, relative to one worker's.
PARENT_SHARE = 0.8
_in_child = False


class WorkerError(StoragekitError):
    """A forked worker failed; carries the worker's traceback text."""


def _step(fn: Callable[[T], R], item: T, bar: Progress, scale: float) -> R:
    result = fn(item)
    bar.done += scale - 1
    bar.advance()
    return result


def workers_for(count: int, source: Source) -> int:
    """How many processes to use for ``count`` items read from ``source``."""
    if _in_child or not getattr(source, "fork_safe", False) or not hasattr(os, "fork"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, count // MIN_CHUNK, 8))


def _chunks(items: Sequence[T], n: int) -> list[Sequence[T]]:
    """Contiguous chunks; the first (this process's) is smaller by ``PARENT_SHARE``.

    This process also unpickles every worker's results, so it takes less of the work itself.
    """
    weights = [PARENT_SHARE] + [1.0] * (n - 1)
    total = sum(weights)
    out, start = [], 0
    for i, w in enumerate(weights):
        end = len(items) if i == n - 1 else start + round(len(items) * w / total)
        out.append(items[start:end])
        start = end
    return out


def _child(
    fn: Callable[[T], R], chunk: Sequence[T], source: Source, findings: Findings, w: int
) -> None:
    global _in_child
    _in_child = True
    try:
        source.after_fork()
        before = len(findings)
        results = [fn(x) for x in chunk]
        payload = pickle.dumps(("ok", results, list(findings)[before:]), protocol=5)
    except BaseException:  # noqa: BLE001 - everything must reach the parent, then exit
        payload = pickle.dumps(("error", traceback.format_exc(), []), protocol=5)
    with os.fdopen(w, "wb") as out:
        out.write(payload)
    os._exit(0)


def _collect(r: int, pid: int) -> tuple[str, object, list[Finding]]:
    with os.fdopen(r, "rb") as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    if not data:
        return "error", "worker exited without an answer", []
    status, value, found = pickle.loads(data)  # our own child's bytes, never evidence
    return status, value, found


def pmap(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    source: Source,
    findings: Findings,
    label: str | None = None,
) -> list[R]:
    """``[fn(x) for x in items]``, spread over the cores, findings kept in order.

    With ``label``, a progress bar on a terminal follows this process's share of the work
    (the workers' shares are of the same size and move at the same pace).

    Raises:
        WorkerError: a worker raised; the message holds its traceback.
    """
    n = workers_for(len(items), source)
    if n < 2:
        with Progress(label or "", len(items)) as bar:
            if not label:
                bar.enabled = False
            return [_step(fn, x, bar, 1) for x in items]
    chunks = _chunks(items, n)
    children: list[tuple[int, int]] = []
    for chunk in chunks[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(r)
            _child(fn, chunk, source, findings, w)
        os.close(w)
        children.append((r, pid))
    with Progress(label or "", len(items)) as bar:
        if not label:
            bar.enabled = False
        scale = len(items) / max(len(chunks[0]), 1)
        results = [_step(fn, x, bar, scale) for x in chunks[0]]
    failure = None
    for r, pid in children:
        status, value, found = _collect(r, pid)
        if status != "ok":
            failure = failure or str(value)
            continue
        assert isinstance(value, list)
        results.extend(value)
        for f in found:
            findings.add(f.code, f.severity, f.path, f.message)
    if failure is not None:
        raise WorkerError(f"a parallel worker failed:\n{failure}")
    return results
