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
index is the same as one reader's (:mod:`~storagekit.sources.tarpart` joins the child's).

The child sends its reading in two pieces (:mod:`~storagekit.sources.forkchild`): the first
ends at a member boundary past :data:`PIECE` of its headers, the second at the end. Joining
the first then overlaps with the child's reading of the second, and only the short second
is joined after the child is done. A piece that cannot be joined is read here instead, from
its start on.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import struct
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from storagekit.progresscount import Bar
from storagekit.sources.forkchild import Child
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
#: The share of the headers this process reads. The child pickles what it read and this
#: process unpickles and joins it; joining the first piece overlaps with the child's reading
#: of the second, and what is left after the child's last piece is short.
SHARE = 0.5
#: The share of the child's headers in its first piece.
PIECE = 0.7
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
    final: bool  # it read to the end of the archive (else a piece follows from ``offset``)


def _size_of(header: bytes) -> int | None:
    try:
        return int(header[124:136].partition(b"\0")[0] or b"0", 8)
    except ValueError:
        return None


def split_points(read_at: Callable[[int, int], bytes], size: int) -> tuple[int, int]:
    """Where :data:`SHARE` of the archive's headers lie before, and where the child cuts.

    That is by headers, not bytes: members are not spread evenly — a layer of large files is
    a long stretch without headers — so the headers are counted in :data:`_SAMPLES` windows
    spread over the archive, and each offset is interpolated within its stretch. The child
    cuts its reading where :data:`PIECE` of its headers lie before.
    """
    counts = []
    for i in range(_SAMPLES):
        at = size * i // _SAMPLES // BLOCK * BLOCK
        window = read_at(at, _WINDOW)
        counts.append(
            sum(1 for j in range(257, len(window), BLOCK) if window[j : j + 5] == b"ustar")
        )
    return _point(counts, size, SHARE), _point(counts, size, SHARE + (1 - SHARE) * PIECE)


def _point(counts: list[int], size: int, share: float) -> int:
    wanted = sum(counts) * share
    if not wanted:
        return int(size * share)
    running = 0
    for i, n in enumerate(counts):
        if running + n >= wanted:
            return int(size * (i + (wanted - running) / n) / _SAMPLES)
        running += n
    return int(size * share)


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


def _read_from(
    read_at: Callable[[int, int], bytes], start: int, stop_at: int | None = None
) -> Half:
    """Index the archive from ``start`` as a part of it (in the child).

    To its end, or to the first member boundary from ``stop_at`` on.
    """
    feed = Feed(read_at=read_at, pos=start, mark=start)
    reader = Reader(fileobj=feed, encoding="utf-8", errors="surrogateescape")  # type: ignore[arg-type]
    builder = IndexBuilder(0, 0, part=True)
    scanner = Scanner(feed, reader)
    counter = Bar(None, "", None, "", None)
    last, error, stop, offset = read_members(
        builder, scanner, read_at, 0, False, counter, stop_at=stop_at
    )
    final = stop_at is None or error is not None or stop is not None or offset < stop_at
    return Half(start, pack(builder), last, error, stop, offset, final)


def _read_pieces(
    read_at: Callable[[int, int], bytes], start: int, cut: int, send: Callable[[object], None]
) -> None:
    """In the child: index from ``start`` to the end in two pieces, each sent once read.

    The first ends at the first member boundary from ``cut`` on, so that this process can
    join it while the child reads the second.
    """
    first = _read_from(read_at, start, cut)
    send(first)
    if not first.final:
        send(_read_from(read_at, first.offset))


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
    stop_at: int | None = None,
) -> tuple[tuple[str, int, int] | None, str | None, tarfile.HeaderError | None, int]:
    """Index every member of the archive ``scanner`` reads; return what ended the reading.

    That is: the last regular file (path, data offset, stored bytes), the damage that ended
    the reading, the header error that ended it, and where. With ``split`` (a large plain
    archive of ``size`` bytes read with ``read_at``), the second half is read by a forked
    child meanwhile, and used once this reading lands on its start. With ``stop_at``, the
    reading stops at the first member boundary from there on (an unfinished reading: no
    damage, no header error). The bar counts the bytes of a plain archive read so far (the
    compressed ones count themselves).
    """
    feed = scanner.feed
    plain = feed.read_at is not None  # read with pread, not from a decompressor
    half: tuple[Child, int] | None = None  # the child and where its reading starts
    if split and hasattr(os, "fork"):
        middle, cut = split_points(read_at, size)
        start = find_start(read_at, middle, size)
        if start is not None:
            work = functools.partial(_read_pieces, read_at, start, max(cut, start))
            with contextlib.suppress(OSError):  # no second process: one reader
                half = (Child(work, 2), start)
    last: tuple[str, int, int] | None = None
    counted = 0  # plain archives: the bytes read so far are where the next header is
    if plain:
        scanner.batch = functools.partial(
            quick_run, owners=Owners(builder.modes), builder=builder
        )
    if half is not None:
        scanner.until = half[1]
    elif stop_at is not None:
        scanner.until = stop_at
    try:
        for member in scanner.members():
            last = _add(builder, member, feed, plain) or last
            if plain:
                bar.advance(scanner.next_offset - counted)
                counted = scanner.next_offset
            if stop_at is not None and scanner.next_offset >= stop_at:
                return last, None, None, scanner.next_offset
            if half is not None and scanner.next_offset >= half[1]:
                child, start = half
                half = None
                if scanner.next_offset != start:  # the guess was not a member's start
                    child.close()
                    scanner.until = sys.maxsize
                    continue
                final, at, last = _join(child, builder, start, last)
                if final is not None:
                    bar.advance(size - counted)
                    return last, final.error, final.stop, final.offset
                scanner.jump(at)  # read on alone from the first piece not joined
                scanner.until = sys.maxsize
    except READ_ERRORS as exc:
        return last, f"archive damaged at offset {scanner.offset}: {exc}", None, scanner.offset
    finally:
        if half is not None:
            half[0].close()
    return last, None, scanner.stop, scanner.offset


def _join(
    child: Child, builder: IndexBuilder, at: int, last: tuple[str, int, int] | None
) -> tuple[Half | None, int, tuple[str, int, int] | None]:
    """Join the child's pieces from ``at`` on, in order, as they come.

    Returns the final piece (None if a piece could not be joined: the child failed, or the
    join was refused), where this process must read on if so, and the last regular file.
    """
    try:
        while True:
            piece = child.receive()
            if not isinstance(piece, Half) or piece.start != at or not merge(builder, piece.part):
                return None, at, last
            last = piece.last or last
            if piece.final:
                return piece, at, last
            at = piece.offset
    finally:
        child.close()


def _add(
    builder: IndexBuilder, item: Member | Ran, feed: Feed, plain: bool
) -> tuple[str, int, int] | None:
    if isinstance(item, Ran):  # already indexed
        return item.last
    return builder.add(item, feed, plain)
