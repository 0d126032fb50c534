"""The byte layer of a tar archive of evidence: compression, random reads, member headers.

:mod:`storagekit.sources.tarsource` indexes an archive through these:

* **Compression** is recognised by magic bytes, not by the file name: gzip, xz, bzip2 and zstd
  (zstd needs the optional ``zstandard`` module). A compressed stream cannot seek: a
  :class:`Restream` reads forward by decompressing and backward by starting again.
* A member's data is a :class:`Window` over the archive: one chunk for a plain member, the
  chunks of its map for a GNU sparse one (holes read as zeros).
* :mod:`tarfile` stops silently at a zero block, a short header and a bad checksum alike;
  :class:`Reader` records which one ended the member list, and :class:`Counter` counts the
  decompressed bytes (to tell a truncated last member) and ends a stream that a hostile PAX
  ``size`` would have tarfile skip through for days.
* PAX ``mtime`` records keep nanoseconds (:func:`mtime_ns`).
"""

from __future__ import annotations

import bisect
import bz2
import gzip
import importlib
import io
import lzma
import re
import tarfile
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Self, cast

from storagekit.errors import SourceError
from storagekit.sources.limits import ArchiveLimits as ArchiveLimits  # where callers found it

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from storagekit.sources.gzseek import GzipSeeker
    from storagekit.sources.xzseek import XzSeeker


def _optional_zstd() -> Any:
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


ZSTD = _optional_zstd()
CHUNK = 1 << 20
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
#: What a damaged compressed stream raises (gzip.BadGzipFile and bz2 errors are OSErrors).
DATA_ERRORS: tuple[type[Exception], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError) + (
    (ZSTD.ZstdError,) if ZSTD is not None else ()
)
#: What a hostile header makes tarfile raise: malformed numbers in PAX/sparse records give
#: ValueError, and a chain of thousands of extended headers recurses once per header.
READ_ERRORS: tuple[type[Exception], ...] = (
    tarfile.TarError,
    ValueError,
    RecursionError,
    *DATA_ERRORS,
)
EOF_HEADER = vars(tarfile)["EOFHeaderError"]  # the zero block that ends an archive (no stub)
_PAX_TIME = re.compile(r"(-?)(\d+)(?:\.(\d+))?")


class Readable(Protocol):
    """A byte stream read from the start: the archive file or a decompressor over it."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left when -1); ``b""`` at the end."""
        ...

    def close(self) -> None:
        """Release the stream."""
        ...


#: The largest PAX or GNU long-name/long-link header read: tarfile reads such a header whole,
#: at whatever size the archive claims (2**40 bytes: all of memory; 2**70: a traceback). Linux
#: paths are at most 4 KiB and xattr values 64 KiB; real headers are far smaller than this.
MAX_HEADER = 8 << 20
_LONG_HEADERS = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


class DecompressionLimit(EOFError):
    """The decompressed archive grew past its limit: the member list ends there."""


class Header(tarfile.TarInfo):
    """A TarInfo that records why the member list ended, and reads headers with bounds.

    tarfile silently stops at a zero block, a missing or short header and a bad checksum alike.
    It also trusts sizes: an extended header is read whole at its claimed size, and an old-GNU
    sparse header cut short fails with ``IndexError``. Both end the member list here with a
    header error instead.
    """

    __slots__ = ()

    def _proc_member(self, tarfile: tarfile.TarFile) -> Self:
        if self.type in _LONG_HEADERS and self.size > MAX_HEADER:
            raise _subsequent(f"a {self.size}-byte extended header (more than {MAX_HEADER})")
        try:
            return cast(Self, super()._proc_member(tarfile))  # type: ignore[misc]
        except (IndexError, OverflowError, MemoryError) as exc:
            raise _subsequent(f"damaged extended or sparse header ({exc})") from None

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> Self:  # noqa: D102
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as exc:
            if isinstance(archive, Reader):
                archive.stop = exc
            raise


def _subsequent(message: str) -> tarfile.HeaderError:
    """The header error tarfile turns into a ReadError that ends the member list."""
    error: type[tarfile.HeaderError] = vars(tarfile)["SubsequentHeaderError"]
    return error(message)


class Reader(tarfile.TarFile):
    """A TarFile whose ``stop`` says which header error, if any, ended the member list."""

    tarinfo = Header
    members: list[tarfile.TarInfo]
    stop: tarfile.HeaderError | None = None


class Window(io.RawIOBase):
    """A seekable read-only byte range assembled from chunks of an underlying store.

    ``chunks`` are ``(start, length, stored_at)``: window bytes ``start..start+length`` are
    ``read_at(stored_at, length)``; gaps between chunks (holes of a sparse member) read as zeros.
    """

    def __init__(
        self,
        read_at: Callable[[int, int], bytes],
        size: int,
        chunks: tuple[tuple[int, int, int], ...],
        name: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._read_at, self._size, self._chunks = read_at, size, chunks
        self._starts = [c[0] for c in chunks]
        self._pos, self._name, self._on_close = 0, name, on_close

    def readable(self) -> bool:  # noqa: D102
        return True

    def seekable(self) -> bool:  # noqa: D102
        return True

    def tell(self) -> int:  # noqa: D102
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:  # noqa: D102
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}
        if whence not in bases or bases[whence] + offset < 0:
            raise ValueError(f"invalid seek ({offset}, {whence})")
        self._pos = bases[whence] + offset
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:  # noqa: D102
        view = memoryview(buffer).cast("B")
        pos = self._pos
        want = min(len(view), self._size - pos)
        if want <= 0:
            return 0
        i = bisect.bisect_right(self._starts, pos) - 1
        if i >= 0 and pos < self._chunks[i][0] + self._chunks[i][1]:
            start, length, stored = self._chunks[i]
            n = min(want, start + length - pos)
            data = self._read_at(stored + pos - start, n)
            if len(data) != n:
                raise SourceError(f"{self._name}: unexpected end of archive data")
        else:
            end = self._starts[i + 1] if i + 1 < len(self._starts) else self._size
            n = min(want, end - pos)
            data = bytes(n)
        view[:n] = data
        self._pos = pos + n
        return n

    def close(self) -> None:  # noqa: D102
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()


class Restream:
    """Random reads from a compressed archive: forward by decompressing, backward by reopening."""

    def __init__(self, opener: Callable[[], Readable], name: str) -> None:
        self._opener, self._name = opener, name
        self._stream, self._pos = opener(), 0

    def read_at(self, offset: int, n: int) -> bytes:
        """``n`` decompressed bytes from ``offset`` (fewer at the end of the stream)."""
        try:
            if offset < self._pos:
                self._stream.close()
                self._stream, self._pos = self._opener(), 0
            while self._pos < offset:
                skipped = self._stream.read(min(offset - self._pos, CHUNK))
                if not skipped:
                    return b""
                self._pos += len(skipped)
            parts: list[bytes] = []
            while n > 0 and (data := self._stream.read(n)):
                parts.append(data)
                n -= len(data)
                self._pos += len(data)
            return b"".join(parts)
        except DATA_ERRORS as exc:
            raise SourceError(f"{self._name}: cannot decompress: {exc}") from None

    def close(self) -> None:
        """Close the decompressor."""
        self._stream.close()


class Counter:
    """The decompressed stream as tarfile sees it.

    It counts the bytes, to tell a truncated last member, and ends the stream at the second read
    past its end: tarfile skips a member's data in a stream one empty read per 10 KiB, so a
    hostile PAX ``size`` of 10**15 would otherwise keep it busy for days. Past ``limit``
    decompressed bytes it raises :class:`DecompressionLimit` (a decompression bomb: 2 MB of
    bzip2 expand to 128 GiB).
    """

    def __init__(self, stream: Readable, limit: int | None = None) -> None:
        self.stream, self.count, self.eof, self.limit = stream, 0, False, limit
        # One decompression step per call where the stream offers it: a damaged stream then
        # fails in the call after the last good bytes, which are not lost with the failing one.
        self._read = getattr(stream, "read1", stream.read)

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes and count them (fewer before the end are possible).

        The second empty read in a row raises :class:`EOFError`.
        """
        if self.limit is not None:
            if self.count > self.limit:
                raise DecompressionLimit(f"decompressed past {self.limit} bytes")
            if size < 0 or size > self.limit - self.count:
                size = self.limit - self.count + 1
        data = self._read(size)
        if size and not data:
            if self.eof:
                raise EOFError("the archive ends inside a member")
            self.eof = True
        self.count += len(data)
        return data

    def close(self) -> None:
        """Close the underlying stream."""
        self.stream.close()


def mtime_ns(info: tarfile.TarInfo) -> int:
    """The member's mtime in nanoseconds, exact for a fractional PAX ``mtime`` record."""
    return pax_time_ns(info.pax_headers.get("mtime"), info.mtime)


def pax_time_ns(record: str | None, seconds: float) -> int:
    """Nanoseconds from a PAX time ``record`` (kept exact), else from the header's ``seconds``.

    tarfile reads the record as a float (0 when it is not a number), so a record that is not a
    plain decimal (``1e3``) counts as that float, and ``inf`` or ``nan`` as 0.
    """
    try:
        match = _PAX_TIME.fullmatch(record or "")
        if match:
            sign, sec, frac = match.groups()
            ns = int(sec) * 10**9 + int((frac or "")[:9].ljust(9, "0"))
            return -ns if sign else ns
        if record is not None:
            try:
                seconds = float(record)
            except ValueError:
                return 0
        return int(seconds) * 10**9
    except (ValueError, OverflowError):  # "inf", or more digits than int() accepts
        return 0


def sparse_chunks(info: tarfile.TarInfo) -> tuple[tuple[int, int, int], ...] | None:
    """Window chunks for a GNU sparse member (``None`` if its map is inconsistent)."""
    chunks, stored, end = [], 0, 0
    for offset, length in cast("list[tuple[int, int]]", info.sparse):
        if offset < end or offset + length > info.size:
            return None
        if length:
            chunks.append((offset, length, stored))
        stored += length
        end = offset + length
    return tuple(chunks)


def open_stream(kind: str, read_at: Callable[[int, int], bytes], size: int, name: str) -> Readable:
    """The archive's tar bytes from the start: the file itself or a decompressor over it.

    ``kind`` is what :func:`compression` said; ``read_at(offset, n)`` reads the file.
    """
    raw = io.BufferedReader(Window(read_at, size, ((0, size, 0),), name))
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "xz":  # several streams and stream padding, as xz reads them
        from storagekit.sources.xzseek import XzStreams

        return io.BufferedReader(XzStreams(raw), CHUNK)
    if kind == "bzip2":
        return bz2.BZ2File(raw)
    if kind == "zstd":
        return cast(Readable, ZSTD.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
    return raw


def seeker(
    kind: str, read_at: Callable[[int, int], bytes], size: int, name: str
) -> GzipSeeker | XzSeeker | None:
    """Restart points of a compressed archive, if its format has them (imported on first use)."""
    if kind == "gzip":
        from storagekit.sources.gzseek import GzipSeeker

        return GzipSeeker(read_at, size, name)
    if kind == "xz":
        from storagekit.sources.xzseek import XzSeeker

        return XzSeeker.of(read_at, size, name)
    return None


def compression(head: bytes) -> str:
    """``gzip``, ``xz``, ``bzip2``, ``zstd`` or ``tar`` (none), from an archive's first bytes."""
    return next((k for magic, k in MAGIC if head.startswith(magic)), "tar")
