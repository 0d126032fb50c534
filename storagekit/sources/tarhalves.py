"""Reading a large plain archive's headers on both cores.

A tar archive has no table of contents: each header says how far away the next one is, so the
member list is read from the start, one header after the other. In a plain (uncompressed)
archive any header can be read where it is, though, and a header can be recognised: a 512-byte
block at a multiple of 512 with ``ustar`` at byte 257 and a right checksum, followed by more
such headers at the distances they give. So while this process reads the first half, a forked
child guesses where the second half starts — the first block past the middle that reads as a
run of :data:`RUN` headers — and reads from there to the end.

The guess is only used if it is proven: the first half's own reading must arrive exactly at the
child's starting header. A file inside the archive can hold what looks like tar headers (a
layer's tar, say); then the first half passes the guessed offset without landing on it, the
child's work is thrown away, and the first half reads on to the end alone. Either way the
members are indexed in archive order by one builder, so the index is the same as one reader's.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import mmap
import os
import pickle
import signal
import struct
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from storagekit.progresscount import Bar
from storagekit.sources.tarfeed import BLOCK, Feed
from storagekit.sources.tarindex import IndexBuilder
from storagekit.sources.tarpart import Part, merge, pack
from storagekit.sources.tarquick import Owners, Ran, quick_run
from storagekit.sources.tarscan import Member, Scanner, checksum_ok
from storagekit.sources.tarstream import READ_ERRORS, Reader

P = ParamSpec("P")
R = TypeVar("R")
#: Below this, one reader is faster than forking a second.
MIN_SPLIT = 64 << 20
#: The share of the headers this process reads: a little more than half, since the child
#: also pickles its index before the join can start (about 5% of its reading).
SHARE = 0.52
#: Consecutive headers that make a block a believable start.
RUN = 3
_SEARCH = 1 << 20  # bytes read at a time while looking for a header
_SAMPLES, _WINDOW = 128, 32 << 10  # where headers are counted to find the middle
_SIZE = struct.Struct("12s")


@dataclass
class Half:
    """What the child read: its index, and how its reading ended (as :func:`read_members`)."""

    start: int
    part: Part
    last: tuple[str, int, int] | None  # its last regular file
    error: str | None  # the damage that ended the reading, as the message says it
    stop: tarfile.HeaderError | None
    offset: int


def _size_of(header: bytes) -> int | None:
    try:
        return int(header[124:136].partition(b"\0")[0] or b"0", 8)
    except ValueError:
        return None


def middle(read_at: Callable[[int, int], bytes], size: int) -> int:
    """Where :data:`SHARE` of the archive's headers lie before (of the headers, not the bytes).

    Members are not spread evenly — a layer of large files is a long stretch without headers —
    so the headers are counted in :data:`_SAMPLES` windows spread over the archive, and the
    offset where the running count passes the share is interpolated within its stretch.
    """
    counts = []
    for i in range(_SAMPLES):
        at = size * i // _SAMPLES // BLOCK * BLOCK
        window = read_at(at, _WINDOW)
        counts.append(
            sum(1 for j in range(257, len(window), BLOCK) if window[j : j + 5] == b"ustar")
        )
    wanted = sum(counts) * SHARE
    if not wanted:
        return size // 2
    running = 0
    for i, n in enumerate(counts):
        if running + n >= wanted:
            return int(size * (i + (wanted - running) / n) / _SAMPLES)
        running += n
    return size // 2


def find_start(read_at: Callable[[int, int], bytes], begin: int, end: int) -> int | None:
    """The first 512-aligned offset from ``begin`` that starts a run of headers, or None."""
    at = (begin + BLOCK - 1) // BLOCK * BLOCK
    while at < end:
        chunk = read_at(at, _SEARCH)
        if not chunk:
            return None
        found = chunk.find(b"ustar", 257)
        while found >= 0:
            start = found - 257
            if start % BLOCK == 0 and (member := _run(read_at, at + start)) is not None:
                return member
            found = chunk.find(b"ustar", found + 1)
        at += max(BLOCK, len(chunk) // BLOCK * BLOCK)
    return None


def _run(read_at: Callable[[int, int], bytes], offset: int) -> int | None:
    """Where a member starts, if :data:`RUN` headers follow one another from ``offset``.

    That is right after the first member's own header and data: a PAX or GNU long-name header
    comes before the header it extends, so the block found first may be the second header of
    a member (the first half never lands there).
    """
    member = None
    for _ in range(RUN):
        header = read_at(offset, BLOCK)
        if len(header) < BLOCK or header[257:262] != b"ustar" or not checksum_ok(header):
            return None
        size = _size_of(header)
        if size is None:
            return None
        kind = header[156:157]
        data = size if kind in (b"0", b"\0", b"7", b"x", b"g", b"L", b"K") else 0
        offset += BLOCK + (data + BLOCK - 1) // BLOCK * BLOCK
        if member is None and kind not in (b"x", b"g", b"L", b"K", b"X"):
            member = offset
    return member


def _read_from(read_at: Callable[[int, int], bytes], start: int) -> Half:
    """Index the archive from ``start`` to its end as a part of it (in the child)."""
    feed = Feed(read_at=read_at, pos=start, mark=start)
    reader = Reader(fileobj=feed, encoding="utf-8", errors="surrogateescape")  # type: ignore[arg-type]
    builder = IndexBuilder(0, 0, part=True)
    scanner = Scanner(feed, reader)
    counter = Bar(None, "", None, "", None)
    last, error, stop, offset = read_members(builder, scanner, read_at, 0, False, counter)
    return Half(start, pack(builder), last, error, stop, offset)


class SecondHalf:
    """A forked child reading the archive from ``start`` to its end.

    The child pickles what it read into an anonymous memory file made before the fork
    (``memfd_create``; nothing is written to any file system) and then says so through a
    pipe, so the parent maps the pickle where it is instead of copying 8 MB or so through the
    pipe's 64 KiB buffer. Without memory files the pickle goes through the pipe.
    """

    def __init__(self, read_at: Callable[[int, int], bytes], start: int) -> None:
        self.start = start
        self._memory = _memory_file()
        rfd, wfd = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: read, hand the result over, leave
            code = 0
            try:
                os.close(rfd)
                gc.disable()  # what it makes lives until it leaves; sweeping would copy pages
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                data = pickle.dumps(_read_from(read_at, start), pickle.HIGHEST_PROTOCOL)
                with os.fdopen(wfd, "wb") as out:
                    if self._memory is None:
                        out.write(data)
                    else:
                        _write_all(self._memory, data)
                        out.write(b"\1")
            except BaseException:  # noqa: BLE001 - any failure: the parent reads alone
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        self._rfd = rfd

    def result(self) -> Half | None:
        """The child's reading (waits for it), or None if it failed."""
        try:
            with os.fdopen(self._rfd, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(self._pid, 0)
            if status != 0 or not data:
                return None
            if self._memory is not None:
                if data != b"\1":
                    return None
                with mmap.mmap(self._memory, 0, prot=mmap.PROT_READ) as kept:
                    half = pickle.loads(kept)  # noqa: S301 - our own child's, made before it
            else:
                half = pickle.loads(data)  # noqa: S301 - our own child's, through our own pipe
            return half if isinstance(half, Half) else None
        except (OSError, ValueError, pickle.UnpicklingError, EOFError):
            return None
        finally:
            self._close_memory()

    def cancel(self) -> None:
        """Stop the child and forget its reading."""
        try:
            os.kill(self._pid, signal.SIGKILL)
            os.close(self._rfd)
            os.waitpid(self._pid, 0)
        except OSError:
            pass
        self._close_memory()

    def _close_memory(self) -> None:
        if self._memory is not None:
            with contextlib.suppress(OSError):
                os.close(self._memory)
            self._memory = None


def _memory_file() -> int | None:
    """An anonymous memory file (Linux), or None where there is none."""
    make = getattr(os, "memfd_create", None)
    if make is None:
        return None
    try:
        return int(make("storagekit-half", getattr(os, "MFD_CLOEXEC", 0)))
    except OSError:
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _gc_paused(read: Callable[P, R]) -> Callable[P, R]:
    """Run ``read`` with the garbage collector paused.

    Indexing makes a few objects per member and no reference cycles, and each collection would
    walk all of them again.
    """

    @functools.wraps(read)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return read(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


@_gc_paused
def read_members(
    builder: IndexBuilder,
    scanner: Scanner,
    read_at: Callable[[int, int], bytes],
    size: int,
    split: bool,
    bar: Bar,
) -> tuple[tuple[str, int, int] | None, str | None, tarfile.HeaderError | None, int]:
    """Index every member of the archive ``scanner`` reads; return what ended the reading.

    That is: the last regular file (path, data offset, stored bytes), the damage that ended
    the reading, the header error that ended it, and where. With ``split`` (a large plain
    archive of ``size`` bytes read with ``read_at``), the second half is read by a forked
    child meanwhile, and used once this reading lands on its start. The bar counts the bytes
    of a plain archive read so far (the compressed ones count themselves).
    """
    feed = scanner.feed
    plain = feed.read_at is not None  # read with pread, not from a decompressor
    half = None
    if split and hasattr(os, "fork"):
        start = find_start(read_at, middle(read_at, size), size)
        half = SecondHalf(read_at, start) if start is not None else None
    last: tuple[str, int, int] | None = None
    counted = 0  # plain archives: the bytes read so far are where the next header is
    if plain:
        scanner.batch = functools.partial(
            quick_run, owners=Owners(builder.modes), builder=builder
        )
    if half is not None:
        scanner.until = half.start
    try:
        for member in scanner.members():
            last = _add(builder, member, feed, plain) or last
            if plain:
                bar.advance(scanner.next_offset - counted)
                counted = scanner.next_offset
            if half is not None and scanner.next_offset >= half.start:
                joined = half.result() if scanner.next_offset == half.start else None
                if joined is None or not merge(builder, joined.part):
                    half.cancel()
                    half = None
                    scanner.until = sys.maxsize
                    continue
                half = None
                bar.advance(size - counted)
                return joined.last or last, joined.error, joined.stop, joined.offset
    except READ_ERRORS as exc:
        return last, f"archive damaged at offset {scanner.offset}: {exc}", None, scanner.offset
    finally:
        if half is not None:
            half.cancel()
    return last, None, scanner.stop, scanner.offset


def _add(
    builder: IndexBuilder, item: Member | Ran, feed: Feed, plain: bool
) -> tuple[str, int, int] | None:
    if isinstance(item, Ran):  # already indexed
        return item.last
    return builder.add(item, feed, plain)
