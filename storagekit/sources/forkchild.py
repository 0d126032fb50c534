"""A forked child that hands its results to this process one at a time, as it makes them.

The child runs ``work(send)``; each ``send(result)`` pickles a result and hands it over, and
:meth:`Child.receive` here returns them in order. Where there are anonymous memory files
(Linux ``memfd_create``), one is made per result before the fork: the child writes the pickle
into it and then one byte into a pipe, and this process maps the file and unpickles from the
map — nothing crosses the pipe's 64 KiB buffer, and nothing is written to any file system.
Elsewhere each pickle goes through the pipe after its length (the child then waits for this
process to read it).

The child leaves with ``os._exit`` and never runs this process's exit code. A child that
fails, or is stopped, sends nothing more: :meth:`Child.receive` then returns None, as it does
for anything it cannot read back.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import os
import pickle
import signal
import struct
from collections.abc import Callable

_LENGTH = struct.Struct("<Q")


class Child:
    """A forked child running ``work(send)``, which sends at most ``results`` results.

    OSError if no child can be forked (nothing is left open then).
    """

    def __init__(self, work: Callable[[Callable[[object], None]], None], results: int) -> None:
        memory = [_memory_file() for _ in range(results)]
        self._memory: list[int | None] | None = memory if None not in memory else None
        if self._memory is None:
            _close(memory)
        self._received = 0
        rfd, wfd = os.pipe()
        try:
            self._pid = os.fork()
        except OSError:  # no process to be had (a limit): the caller reads alone
            for fd in (rfd, wfd):
                os.close(fd)
            if self._memory is not None:
                _close(self._memory)
            raise
        if self._pid == 0:  # the child: work, hand the results over, leave
            code = 0
            try:
                os.close(rfd)
                gc.disable()  # what it makes lives until it leaves; sweeping would copy pages
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                work(self._sender(wfd))
            except BaseException:  # noqa: BLE001 - any failure: this process goes on alone
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        self._rfd: int | None = rfd

    def _sender(self, wfd: int) -> Callable[[object], None]:
        sent = 0

        def send(result: object) -> None:
            nonlocal sent
            data = pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
            if self._memory is not None:
                fd = self._memory[sent]
                assert fd is not None
                _write_all(fd, data)
                _write_all(wfd, b"\1")
            else:
                _write_all(wfd, _LENGTH.pack(len(data)))
                _write_all(wfd, data)
            sent += 1

        return send

    def receive(self) -> object | None:
        """The child's next result (waits for it); None if it failed or sent no more."""
        if self._rfd is None:
            return None
        try:
            if self._memory is None:
                (length,) = _LENGTH.unpack(_read_exactly(self._rfd, _LENGTH.size))
                result: object = pickle.loads(_read_exactly(self._rfd, length))  # noqa: S301
                return result  # (our own child's, through our own pipe)
            if self._received >= len(self._memory) or os.read(self._rfd, 1) != b"\1":
                return None
            fd = self._memory[self._received]
            self._memory[self._received] = None
            assert fd is not None
            try:
                with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as kept:
                    result = pickle.loads(kept)  # noqa: S301 - our own child's, made before it
                return result
            finally:
                os.close(fd)
        except (OSError, ValueError, struct.error, pickle.UnpicklingError, EOFError):
            return None
        finally:
            self._received += 1

    def close(self) -> None:
        """Stop the child if it still runs, and release what it was given."""
        if self._rfd is None:
            return
        with contextlib.suppress(OSError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(self._rfd)
        with contextlib.suppress(OSError):
            os.waitpid(self._pid, 0)
        self._rfd = None
        if self._memory is not None:
            _close(self._memory)


def _memory_file() -> int | None:
    """An anonymous memory file (Linux), or None where there is none."""
    make = getattr(os, "memfd_create", None)
    if make is None:
        return None
    try:
        return int(make("storagekit-child", getattr(os, "MFD_CLOEXEC", 0)))
    except OSError:
        return None


def _close(fds: list[int | None]) -> None:
    for i, fd in enumerate(fds):
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
            fds[i] = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the child sent less than it said")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)
