"""One ordered output stream made by several forked processes.

A long listing or archive of a container's tree is a sequence of independent pieces of work in
a fixed order: the top directories, then each subtree below a certain depth. :func:`stream`
takes a *plan* — an iterator of ``(delegable, render)`` steps, where ``render()`` yields
batches of output pieces — and writes every batch to a sink in plan order, exactly as a
sequential run would. Steps marked delegable are dealt round-robin to forked workers; the others
(cheap ones, and any that must see the output so far) run in this process.

Every worker runs the same plan (it is deterministic: the same evidence, merged the same way)
and renders only its own steps, sending each batch back through its pipe, framed by length:
bytes as they are, other pieces pickled, and an end mark per step. This process reads the
workers' pipes in step order, so a worker can run ahead of the writer by what its pipe and one
batch hold: memory stays bounded by a batch, never by the tree. Forking is used only when the
source is fork-safe (each worker reopens its descriptors first) and the plan has enough
delegable steps to repay it. What the workers count for the command's progress reaches the
step current here (:func:`storagekit.progress.workers`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import struct
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from storagekit import progress
from storagekit.errors import StoragekitError
from storagekit.parallel import WorkerError, workers_for
from storagekit.source import Source

#: A plan step: whether a worker may render it, and the renderer (batches of pieces).
Step = tuple[bool, Callable[[], Iterable[list[Any]]]]
#: Fewer delegable steps than this and the plan runs in this process alone.
MIN_STEPS = 16
#: A frame: its length times two, plus one when it is raw bytes rather than a pickle.
_FRAME = struct.Struct("<Q")
_END = 0  # the current step is complete
_PIPE_BYTES = 1 << 20
_PLENTY = 1 << 30  # "many items": let workers_for decide by cores and source alone


def stream(
    plan: Callable[[], Iterator[Step]],
    sink: Callable[[list[Any]], object],
    source: Source,
    *,
    min_steps: int | None = None,
) -> None:
    """Render every step of ``plan()`` into ``sink``, in order, on every core.

    ``plan`` is called once here to count steps, once to run, and once in every worker.

    Raises:
        WorkerError: a worker failed; the message holds its traceback.
    """
    n = workers_for(_PLENTY, source)
    least = MIN_STEPS if min_steps is None else min_steps
    if n > 1 and sum(1 for delegable, _ in plan() if delegable) < least:
        n = 1
    if n < 2:
        for _, render in plan():
            for batch in render():
                sink(batch)
        return
    pipes: list[int] = []
    pids: list[int] = []
    team = progress.workers(n)
    try:
        for k in range(n):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os.close(r)
                for other in pipes:
                    os.close(other)
                team.enter(k)
                _worker(plan, source, k, n, w, team)
            os.close(w)
            pipes.append(r)
            pids.append(pid)
        _relay(plan, sink, pipes)
    finally:
        for r in pipes:
            os.close(r)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        team.close()


def _relay(
    plan: Callable[[], Iterator[Step]], sink: Callable[[list[Any]], object], pipes: list[int]
) -> None:
    """Write every step's batches in plan order: local steps here, the others from pipes."""
    index = 0
    for delegable, render in plan():
        if not delegable:
            for batch in render():
                sink(batch)
            continue
        r = pipes[index % len(pipes)]
        index += 1
        while True:
            (word,) = _FRAME.unpack(_read(r, _FRAME.size))
            if word == _END:
                break
            size, raw = divmod(word, 2)
            data = _read(r, size)
            if raw:
                sink([data])
                continue
            status, value = pickle.loads(data)  # our own child's bytes
            if status == "raise":
                raise value
            if status != "ok":
                raise WorkerError(f"a parallel worker failed:\n{value}")
            sink(value)


def _read(fd: int, size: int) -> bytes:
    """Exactly ``size`` bytes from a pipe."""
    data = os.read(fd, size)
    if len(data) == size:
        return data
    parts = [data]
    left = size - len(data)
    while left:
        chunk = os.read(fd, min(left, _PIPE_BYTES))
        if not chunk:
            raise WorkerError("a parallel worker exited without finishing its work")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _send(w: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(w, view) :]


def _send_batch(w: int, batch: list[Any]) -> None:
    """Bytes pieces go as they are (an archive's data); runs of other pieces pickled."""
    others: list[Any] = []
    for piece in batch:
        if type(piece) is not bytes:
            others.append(piece)
            continue
        if others:
            _send_pickle(w, "ok", others)
            others = []
        if piece:
            _send(w, _FRAME.pack(len(piece) * 2 + 1))
            _send(w, piece)
    if others:
        _send_pickle(w, "ok", others)


def _send_pickle(w: int, status: str, value: object) -> None:
    payload = pickle.dumps((status, value), protocol=5)
    _send(w, _FRAME.pack(len(payload) * 2) + payload)


def _worker(
    plan: Callable[[], Iterator[Step]],
    source: Source,
    k: int,
    n: int,
    w: int,
    team: progress.Team,
) -> None:  # pragma: no cover - runs in the child
    """Render steps ``k``, ``k + n``, ... of the delegable ones and exit."""
    code = 0
    try:
        try:
            with contextlib.suppress(OSError):
                fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
            source.after_fork()
            index = 0
            for delegable, render in plan():
                if not delegable:
                    continue
                mine = index % n == k
                index += 1
                if not mine:
                    continue
                for batch in render():
                    _send_batch(w, batch)
                _send(w, _FRAME.pack(_END))
        except BrokenPipeError:
            code = 1  # the writer stopped reading (it failed or was interrupted)
        except StoragekitError as exc:  # unreadable evidence: the error one process would raise
            with contextlib.suppress(OSError, pickle.PicklingError):
                _send_pickle(w, "raise", exc)
            code = 1
        except BaseException:  # noqa: BLE001 - everything must reach the parent, then exit
            with contextlib.suppress(OSError):
                _send_pickle(w, "error", traceback.format_exc())
            code = 1
    finally:
        team.publish()
        os._exit(code)  # never return into the parent's code
