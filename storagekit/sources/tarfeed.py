"""The tar bytes of an archive, read forward, as the header reader and tarfile consume them.

A plain archive is read with ``pread`` wherever a header is (skipping a member's data is a jump);
a compressed one is read forward from its decompressor, skipped data read and dropped. The bytes
from the current member's first header on stay readable, so that :mod:`tarfile` can take over
at that header when the fast reader meets something unusual. A damaged stream keeps what came
before the damage readable: the error is raised only where bytes past it are needed.

A :class:`Prefetch` decompresses ahead in a second thread (the decompressors release the GIL),
so that decompressing and reading headers use both cores.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storagekit.sources.tarstream import Readable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BLOCK = 512
_PIECE = 64 << 10  # a damaged stream loses at most this much before the damage


@dataclass
class Feed:
    """The tar bytes read forward, with the last blocks kept so tarfile can take over.

    ``read_at(offset, n)`` reads a plain archive anywhere (skipping a member's data is then a
    jump); without it ``stream`` is read forward (a decompressor) and skipped data is read and
    dropped. ``pos`` is the offset of the next unread byte.
    """

    stream: Readable | None = None
    read_at: Callable[[int, int], bytes] | None = None
    chunk: int = 256 << 10
    pos: int = 0
    #: Bytes from here on stay readable (the header where the current member starts).
    mark: int = 0

    def __post_init__(self) -> None:
        self._buf = b""
        self._base = 0  # offset of _buf[0]
        self._ended = False  # the stream said it ended: never read it again
        self._error: Exception | None = None  # how it ended, if it failed

    def _fill(self, want: int) -> None:
        """Make ``_buf`` hold ``want`` bytes from ``pos`` (fewer at the end)."""
        have = self._base + len(self._buf) - self.pos
        if self.read_at is not None:
            if have < want:
                self._buf = self.read_at(self.pos, max(want, self.chunk))
                self._base = self.pos
            return
        assert self.stream is not None
        if have >= want:
            return
        keep = min(max(0, self.mark - self._base), len(self._buf))
        parts = [self._buf[keep:]]
        self._base += keep
        try:
            while have < want and not self._ended:
                data = self.stream.read(_PIECE)
                if not data:
                    self._ended = True
                    break
                parts.append(data)
                have += len(data)
        except Exception as exc:  # a damaged stream: what came before it stays readable
            self._ended, self._error = True, exc
        self._buf = b"".join(parts)
        if have < want and self._error is not None:
            raise self._error

    def buffer(self, want: int = 0) -> tuple[bytes, int]:
        """The bytes held and the offset of the first, ``want`` of them from ``pos`` on.

        Fewer at the end of the archive. For a reader that walks the buffer itself, then sets
        ``pos``.
        """
        self._fill(want)
        return self._buf, self._base

    @property
    def failure(self) -> Exception | None:
        """What the stream raised when this feed read it, if it did (it is read no further)."""
        return self._error

    def read(self, n: int = -1, /) -> bytes:
        """``n`` bytes from ``pos`` (fewer at the end of the archive)."""
        if n < 0:
            raise ValueError("the tar feed reads counted bytes only")
        self._fill(n)
        at = self.pos - self._base
        data = self._buf[at : at + n]
        self.pos += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read into ``buffer`` (what :class:`io.BufferedReader` would call)."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def skip_to(self, offset: int) -> None:
        """Move forward to ``offset`` (reading and dropping the bytes of a stream)."""
        if offset <= self._base + len(self._buf) or self.read_at is not None:
            self.pos = offset
            return
        assert self.stream is not None
        left = offset - (self._base + len(self._buf))
        self._buf, self._base = b"", self._base + len(self._buf)
        while left > 0 and not self._ended:
            try:
                data = self.stream.read(min(left, self.chunk))
            except Exception as exc:
                self._ended, self._error = True, exc
                raise
            if not data:
                self._ended = True
                break
            if len(data) > left:  # a stream may hand over more than was asked
                self._buf = data[left:]
                data = data[:left]
            left -= len(data)
            self._base += len(data)
        self.pos = self._base
        if left > 0 and self._error is not None:
            raise self._error

    # What tarfile calls on the file object it reads.

    def tell(self) -> int:  # noqa: D102 - file protocol
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:  # noqa: D102 - file protocol
        if whence != 0 or offset < self._base:
            raise OSError("the tar feed cannot seek back")
        self.skip_to(offset)
        return self.pos

    def seekable(self) -> bool:  # noqa: D102 - file protocol
        return True

    def readable(self) -> bool:  # noqa: D102 - file protocol
        return True

    def close(self) -> None:  # noqa: D102 - file protocol
        pass


class Prefetch:
    """A decompressed stream read ahead by a second thread.

    Decompressing the archive (in C, without the GIL) and reading its headers (in Python) then
    use both cores.

    ``read`` hands over whole pieces in order (at most ``piece`` bytes each, whatever size is
    asked), then ``b""`` at the end; an exception of the stream is raised where it happened.
    :meth:`close` stops the thread; the stream is then the caller's again.
    """

    def __init__(self, stream: Readable, piece: int = 64 << 10, depth: int = 32) -> None:
        self._stream, self._piece = stream, piece
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="decompress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._stream.read(self._piece)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, raised there
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1, /) -> bytes:
        """The next piece (``size`` is not honoured: pieces come whole)."""
        if self._ended:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        self._ended = not item
        return item

    def close(self) -> None:
        """Stop reading ahead (the pieces read ahead are dropped)."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()
