"""Random reads from a gzip-compressed archive without decompressing from the start each time.

A gzip member is one deflate stream: a reader can only start where the compressor started,
unless it has inflate's whole state at some later point (the last 32 KiB of output and the bit
position inside a block). Python's :mod:`zlib` hands that state over only as an object of this
process (``Decompress.copy()``), never as bytes, so the restart points live as long as the
archive is open: every :data:`SPACING` bytes of output a reader passes, the decompressor is
copied (about 45 KB each; 8 MB for a 1.4 GB archive), and a later read starts from the nearest
point before it. Extracting every large file of a ``.tar.gz`` in path order then costs about one
decompression of the archive, not one per file. (Later commands start from the index kept in
the cache, which holds the small files' contents; a large member is decompressed up to it once
per command.)

Members follow one another (``cat a.gz b.gz``, ``bgzip``): each has its header (magic
``1f 8b``, method 8, flags for an extra field, a name, a comment and a header CRC), its deflate
data and an 8-byte trailer; zero padding may follow the last. The indexing pass reads the
archive with :class:`gzip.GzipFile`, which checks every trailer's CRC and length; this module
only serves reads of what that pass found, and stops where the data stops making sense.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from storagekit.errors import SourceError

#: Output bytes between restart points.
SPACING = 8 << 20
_CHUNK = 64 << 10
_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2


@dataclass
class _Point:
    """Inflate's state after ``out`` bytes of output, having consumed input up to ``raw``."""

    out: int
    raw: int
    inflate: zlib._Decompress | None  # None: at a member's header


def _header_end(read_at: Callable[[int, int], bytes], at: int) -> int | None:
    """Where the deflate data of the member whose header is at ``at`` begins (None: no member)."""
    head = read_at(at, 10)
    if len(head) < 10 or head[:2] != b"\x1f\x8b" or head[2] != 8:
        return None
    flags, pos = head[3], at + 10
    if flags & _FEXTRA:
        extra = read_at(pos, 2)
        if len(extra) < 2:
            return None
        pos += 2 + int.from_bytes(extra, "little")
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            while True:
                chunk = read_at(pos, 4096)
                if not chunk:
                    return None
                end = chunk.find(b"\0")
                if end >= 0:
                    pos += end + 1
                    break
                pos += len(chunk)
    return pos + (2 if flags & _FHCRC else 0)


class GzipSeeker:
    """The restart points of one gzip archive, shared by every reader of it."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int, name: str) -> None:
        self._read_at, self._size, self._name = read_at, size, name
        self._points = [_Point(0, 0, None)]
        self._outs = [0]

    def cursor(self) -> Cursor:
        """A new reader (it keeps its own position)."""
        return Cursor(self)

    def best(self, offset: int) -> _Point:
        """The last restart point at or before output ``offset``."""
        return self._points[bisect.bisect_right(self._outs, offset) - 1]

    def keep(self, out: int, raw: int, inflate: zlib._Decompress) -> None:
        """Remember inflate's state at output ``out`` (once per :data:`SPACING`)."""
        i = bisect.bisect_right(self._outs, out)
        if out - self._outs[i - 1] >= SPACING and (i == len(self._outs) or self._outs[i] > out):
            self._points.insert(i, _Point(out, raw, inflate.copy()))
            self._outs.insert(i, out)


class Cursor:
    """Reads of decompressed bytes at any offset, going forward from the best point."""

    def __init__(self, seeker: GzipSeeker) -> None:
        self._seeker = seeker
        self._out, self._raw = 0, 0
        self._inflate: zlib._Decompress | None = None
        self._pending = b""  # output decompressed but not yet handed over
        self._ended = False

    def _restart(self, point: _Point) -> None:
        self._out, self._raw = point.out, point.raw
        self._inflate = point.inflate.copy() if point.inflate is not None else None
        self._pending, self._ended = b"", False

    def _step(self) -> None:
        """Decompress some more (into ``_pending``), opening the next member when one ends."""
        seeker = self._seeker
        if self._inflate is None:
            start = _header_end(seeker._read_at, self._raw)
            if start is None:
                self._ended = True
                return
            self._raw, self._inflate = start, zlib.decompressobj(-zlib.MAX_WBITS)
        data = seeker._read_at(self._raw, _CHUNK)
        if not data:
            self._ended = True  # cut short: the indexing pass said so already
            return
        inflate = self._inflate
        try:
            out = inflate.decompress(data, _CHUNK * 4)
        except zlib.error as exc:
            raise SourceError(f"{seeker._name}: cannot decompress: {exc}") from None
        consumed = len(data) - len(inflate.unconsumed_tail) - len(inflate.unused_data)
        if not consumed and not out and not inflate.eof:
            self._ended = True  # nothing moves: damaged data
            return
        self._raw += consumed
        self._pending, self._out = out, self._out + len(out)
        seeker.keep(self._out, self._raw, inflate)
        if inflate.eof:  # the trailer, then zero padding or the next member
            self._raw += 8
            while (pad := seeker._read_at(self._raw, 512)) and not pad.strip(b"\0"):
                self._raw += len(pad)
            if pad:
                self._raw += len(pad) - len(pad.lstrip(b"\0"))
            self._inflate = None
        elif not out and not inflate.unconsumed_tail and len(data) < _CHUNK:
            self._ended = True

    def read_at(self, offset: int, n: int) -> bytes:
        """``n`` decompressed bytes from ``offset`` (fewer at the end of the stream)."""
        start = self._out - len(self._pending)
        if offset < start or offset - self._out > SPACING:
            point = self._seeker.best(offset)
            if offset < start or point.out > self._out:
                self._restart(point)
                start = self._out
        parts: list[bytes] = []
        while n > 0:
            if self._pending:
                skip = offset - start
                if skip < len(self._pending):
                    piece = self._pending[skip : skip + n]
                    parts.append(piece)
                    offset, n = offset + len(piece), n - len(piece)
            if n <= 0 or self._ended:
                break
            self._step()
            start = self._out - len(self._pending)
        return b"".join(parts)

    def close(self) -> None:
        """Let go of the decompressor."""
        self._inflate, self._pending = None, b""
