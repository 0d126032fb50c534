r"""Random reads from an xz-compressed archive, starting at the block that holds them.

An xz file is one or more *streams* (``xz`` writes one; ``cat a.xz b.xz`` makes two), each
a 12-byte header (magic ``fd 37 7a 58 5a 00``, two flag bytes, their CRC32), *blocks*, an
*index* and a 12-byte footer (CRC32, the index's size in 4-byte units minus one, the same two
flag bytes, ``YZ``); streams may be followed by zero padding in multiples of four bytes. The
index lists each block's *unpadded* size (its header, compressed data and check; the block
itself is padded to a multiple of four) and its uncompressed size. Every block is compressed on
its own, so decompressing can start at any block: the stream's header followed by that block
and the next ones is what ``lzma`` reads as the start of a stream.

``xz -T0`` (and, since xz 5.6, plain ``xz``) writes blocks of a few times the dictionary size
(24 MiB at the default level): a member is then read from the block before it, not from the
start of the archive, and this holds for every later command too, since the restart points
are in the archive itself — read from the footers backwards, as ``xz --list`` does. A file with
one block (``xz`` before 5.6 without ``-T``) has one restart point, its start. Anything that is
not as the format says makes :func:`xz_blocks` give up, and the archive is read from the start.
"""

from __future__ import annotations

import bisect
import io
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from storagekit.errors import SourceError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_MAGIC, _FOOTER_MAGIC = b"\xfd7zXZ\x00", b"YZ"
_CHUNK = 256 << 10  # compressed bytes read at a time
_OUT = 4 << 20  # decompressed bytes made at a time at most (a block can hold a bomb)
_MIN_OUT = 64 << 10
_MAX_INDEX = 64 << 20  # bytes of index read (a million blocks need about 10 MB)


@dataclass(frozen=True)
class Block:
    """One block: where it starts in the file and in the output, and its stream's header."""

    raw: int
    out: int
    header: bytes  # the 12-byte header of the stream it belongs to
    stream_end: int  # where the stream's blocks end (its index starts)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The multibyte integer of xz at ``at`` (7 bits a byte, low first, at most 9 bytes)."""
    value = 0
    for i in range(9):
        if at + i >= len(data):
            raise ValueError("index cut short")
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if byte == 0 and i:
                raise ValueError("varint with a redundant byte")
            return value, at + i + 1
    raise ValueError("varint longer than nine bytes")


def _records(index: bytes) -> list[tuple[int, int]]:
    """(unpadded size, uncompressed size) of each block, from an index and its CRC32."""
    if len(index) < 8 or index[0] != 0 or len(index) % 4:
        raise ValueError("not an index")
    if zlib.crc32(index[:-4]) != int.from_bytes(index[-4:], "little"):
        raise ValueError("index CRC32 differs")
    count, at = _varint(index, 1)
    if count > len(index) // 2:
        raise ValueError("more records than the index can hold")
    records = []
    for _ in range(count):
        unpadded, at = _varint(index, at)
        uncompressed, at = _varint(index, at)
        if unpadded < 5:  # a block header (8 bytes at least) and its data cannot be smaller
            raise ValueError("impossible block size")
        records.append((unpadded, uncompressed))
    if index[at:-4].strip(b"\0") or len(index) - 4 - at > 3:
        raise ValueError("index padding")
    return records


def _stream(
    read_at: Callable[[int, int], bytes], end: int
) -> tuple[int, bytes, list[tuple[int, int]]]:
    """The stream ending at ``end``: where it starts, its header, its blocks' records."""
    footer = read_at(end - 12, 12)
    if len(footer) != 12 or footer[10:] != _FOOTER_MAGIC:
        raise ValueError("no stream footer")
    if zlib.crc32(footer[4:10]) != int.from_bytes(footer[:4], "little"):
        raise ValueError("footer CRC32 differs")
    index_size = (int.from_bytes(footer[4:8], "little") + 1) * 4
    index_start = end - 12 - index_size
    if index_size > _MAX_INDEX or index_start < 12:
        raise ValueError("index out of bounds")
    records = _records(read_at(index_start, index_size))
    blocks_size = sum((unpadded + 3) // 4 * 4 for unpadded, _ in records)
    start = index_start - blocks_size - 12
    header = read_at(start, 12) if start >= 0 else b""
    if len(header) != 12 or header[:6] != _MAGIC or header[6:8] != footer[8:10]:
        raise ValueError("no stream header where the index says")
    if zlib.crc32(header[6:8]) != int.from_bytes(header[8:12], "little"):
        raise ValueError("header CRC32 differs")
    return start, header, records


def xz_blocks(read_at: Callable[[int, int], bytes], size: int) -> list[Block] | None:
    """Every block of the xz file of ``size`` bytes in order, or None if it cannot be mapped."""
    streams = []
    end = size
    try:
        while end > 0:
            tail = read_at(max(0, end - 4096), min(end, 4096))
            padding = len(tail) - len(tail.rstrip(b"\0"))
            if padding % 4 or padding == len(tail):
                return None  # stream padding comes in fours, and a stream comes before it
            start, header, records = _stream(read_at, end - padding)
            streams.append((start, header, records, end - padding))
            end = start
    except ValueError:
        return None
    blocks: list[Block] = []
    out = 0
    for start, header, records, _ in reversed(streams):
        raw = start + 12
        blocks_end = raw + sum((unpadded + 3) // 4 * 4 for unpadded, _ in records)
        for unpadded, uncompressed in records:
            blocks.append(Block(raw, out, header, blocks_end))
            raw += (unpadded + 3) // 4 * 4
            out += uncompressed
    return blocks


class XzSeeker:
    """Reads of an xz archive's decompressed bytes, each from the block holding its start."""

    def __init__(
        self, read_at: Callable[[int, int], bytes], blocks: list[Block], name: str
    ) -> None:
        self._read_at, self._blocks, self._name = read_at, blocks, name
        self._outs = [b.out for b in blocks]

    @classmethod
    def of(cls, read_at: Callable[[int, int], bytes], size: int, name: str) -> XzSeeker | None:
        """The seeker of an xz file that has more than one block, else None."""
        blocks = xz_blocks(read_at, size)
        return cls(read_at, blocks, name) if blocks is not None and len(blocks) > 1 else None

    def cursor(self) -> XzCursor:
        """A new reader (it keeps its own position)."""
        return XzCursor(self)

    def block(self, offset: int) -> Block:
        """The block holding output ``offset``."""
        return self._blocks[max(0, bisect.bisect_right(self._outs, offset) - 1)]


class XzCursor:
    """Decompressed bytes at any offset: forward from where it is, else from the block before."""

    def __init__(self, seeker: XzSeeker) -> None:
        self._seeker = seeker
        self._decompressor: lzma.LZMADecompressor | None = None
        self._out = self._raw = self._end = 0
        self._pending = b""

    def _restart(self, block: Block) -> None:
        self._decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        self._pending = self._decompressor.decompress(block.header)
        self._out, self._raw, self._end = block.out, block.raw, block.stream_end

    def _step(self, want: int) -> bool:
        """Decompress about ``want`` more bytes into ``_pending``; False at the stream's end.

        No more than asked: what follows may be damaged, and only what is read may fail.
        """
        decompressor = self._decompressor
        assert decompressor is not None
        data = b""
        if decompressor.needs_input:
            if self._raw >= self._end:
                return self._next_stream()
            data = self._seeker._read_at(self._raw, min(_CHUNK, self._end - self._raw))
            if not data:
                return False
            self._raw += len(data)
        try:
            out = decompressor.decompress(data, min(_OUT, max(want, _MIN_OUT)))
        except lzma.LZMAError as exc:
            raise SourceError(f"{self._seeker._name}: cannot decompress: {exc}") from None
        self._pending, self._out = out, self._out + len(out)
        return True

    def _next_stream(self) -> bool:
        """Go on with the next stream's first block, if there is one."""
        following = self._seeker.block(self._out)
        if following.out != self._out or following.stream_end == self._end:
            return False
        self._restart(following)
        return True

    def read_at(self, offset: int, n: int) -> bytes:
        """``n`` decompressed bytes from ``offset`` (fewer at the end of the archive)."""
        start = self._out - len(self._pending)
        block = self._seeker.block(offset)
        if self._decompressor is None or offset < start or block.out > self._out:
            self._restart(block)
            start = self._out
        parts: list[bytes] = []
        while n > 0:
            skip = offset - start
            if 0 <= skip < len(self._pending):
                piece = self._pending[skip : skip + n]
                parts.append(piece)
                offset, n = offset + len(piece), n - len(piece)
            if n <= 0 or not self._step(n + max(0, offset - self._out)):
                break
            start = self._out - len(self._pending)
        return b"".join(parts)

    def close(self) -> None:
        """Let go of the decompressor."""
        self._decompressor, self._pending = None, b""


class XzStreams(io.RawIOBase):
    """The decompressed bytes of every stream of an xz file, read forward, as ``xz`` reads them.

    :class:`lzma.LZMAFile` reads streams that follow one another, but ends quietly at stream
    padding (zero bytes in fours between or after streams, which the format allows): a padded
    archive looked truncated. Here padding is skipped; what follows it must be another stream's
    header, else it is trailing data, ignored as ``LZMAFile`` ignores it. Damage inside a
    stream raises :class:`lzma.LZMAError`; an end inside one, :class:`EOFError`.
    """

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        self._input = b""
        self._ended = False

    def readable(self) -> bool:  # noqa: D102
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:  # noqa: D102
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        view[: len(data)] = data
        return len(data)

    def _read(self, n: int) -> bytes:
        while not self._ended and n > 0:
            decompressor = self._decompressor
            if decompressor.eof:
                self._next_stream(decompressor.unused_data + self._input)
                continue
            data = b""
            if decompressor.needs_input:
                data, self._input = self._input or self._raw.read(_CHUNK), b""
                if not data:
                    raise EOFError("the xz stream ends before its end marker")
            out = decompressor.decompress(data, n)
            if out:
                return out
        return b""

    def _next_stream(self, rest: bytes) -> None:
        """After a stream: skip its padding, then start the next stream or end."""
        zeros = 0
        while True:
            stripped = rest.lstrip(b"\0")
            zeros += len(rest) - len(stripped)
            if stripped:
                break
            rest = self._raw.read(_CHUNK)
            if not rest:
                self._ended = True  # padding (or zeros) to the end
                return
        if zeros % 4 or not stripped.startswith(_MAGIC[: len(stripped)]):
            self._ended = True  # trailing data, not a stream: ignored, as LZMAFile does
            return
        self._decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        self._input = stripped
