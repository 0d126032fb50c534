"""A tar archive of evidence as a read-only :class:`~storagekit.source.Source`.

The archive is indexed once, in one sequential pass, and never extracted: extracting would need
root for devices and ``trusted.*`` xattrs, would let hostile member names and links act on the
host, and would rewrite the very metadata under examination. The tar facts this module handles:

* **Compression** is recognised by magic bytes, not by the file name: gzip, xz, bzip2 and zstd
  (zstd needs the optional ``zstandard`` module). Plain archives are read with ``pread`` at each
  member's data offset; a compressed stream cannot seek, so small regular files are kept in
  memory during the indexing pass and larger ones are re-decompressed up to their offset.
* **PAX records** extend the 512-byte ustar header: ``path``/``linkpath`` (long or non-ASCII
  names), ``mtime`` with a fraction (kept to the nanosecond) and ``SCHILY.xattr.<name>``
  extended attributes, also written by GNU ``tar --xattrs``. :mod:`tarfile` decodes record values
  as UTF-8 with ``surrogateescape``, so encoding them the same way gives the raw bytes back (an
  ``trusted.overlay.origin`` file handle is binary).
* **Hard links** are members of type ``1`` that name an earlier member. They become entries with
  the target's type, size, mode and data but their own path; all names of one file share
  ``inode`` (the normalised path of the first member) and report the number of names as
  ``nlink``.
* **Implied directories**: ``a/b/c`` may come without ``a/`` or ``a/b/`` headers; such parents
  exist as directories (0o755, root, mtime 0), and the top ``""`` always does.
* **Replacement**: a later member with the same path replaces the earlier one, as extraction
  would; a directory re-stating a directory keeps its children.
* **Hostile and damaged members** are recorded in :attr:`TarSource.problems` and left out of the
  index: names with ``..`` or NUL, members below a non-directory (``x -> /etc`` then
  ``x/passwd``), unsupported types, bad sparse maps, damaged headers and data cut short. Symlinks
  are only entries; nothing here follows them.
"""

from __future__ import annotations

import bisect
import bz2
import contextlib
import dataclasses
import gzip
import importlib
import io
import lzma
import os
import re
import stat as st
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol, Self, cast

from storagekit.errors import (
    NotADirectoryInSourceError,
    SourceError,
    SourceNotFoundError,
    UnsafePathError,
)
from storagekit.source import Entry, FileType, Source, normpath

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def _optional_zstd() -> Any:
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


_ZSTD = _optional_zstd()
_NOATIME = getattr(os, "O_NOATIME", 0)
_CHUNK = 1 << 20
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
#: What a damaged compressed stream raises (gzip.BadGzipFile and bz2 errors are OSErrors).
_DATA_ERRORS: tuple[type[Exception], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError) + (
    (_ZSTD.ZstdError,) if _ZSTD is not None else ()
)
#: What a hostile header makes tarfile raise: malformed numbers in PAX/sparse records give
#: ValueError, and a chain of thousands of extended headers recurses once per header.
_READ_ERRORS: tuple[type[Exception], ...] = (
    tarfile.TarError,
    ValueError,
    RecursionError,
    *_DATA_ERRORS,
)
_EOF_HEADER = vars(tarfile)["EOFHeaderError"]  # the zero block that ends an archive (no stub)
_PAX_TIME = re.compile(r"(-?)(\d+)(?:\.(\d+))?")
_XATTR = "SCHILY.xattr."
_MAX_PROBLEMS = 1000  # a hostile archive can hold millions of bad members


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Extra:
    """The rarely present parts of an index record (most members have none)."""

    link_target: str | None = None
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] | None = None
    inode: str | None = None  # set for hard-linked names; else the entry's own path
    chunks: tuple[tuple[int, int, int], ...] | None = None  # sparse map, see _Window
    damage: str | None = None  # why the data cannot be read


# One tuple per member keeps a million members in a few hundred MB:
# (type, mode, uid, gid, size, mtime_ns, data offset, extra).
_Rec = tuple[FileType, int, int, int, int, int, int, _Extra | None]
_IMPLIED: _Rec = (FileType.DIR, 0o755, 0, 0, 0, 0, 0, None)


class _Header(tarfile.TarInfo):
    """A TarInfo that records why the member list ended.

    tarfile silently stops at a zero block, a missing or short header and a bad checksum alike.
    """

    __slots__ = ()

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> Self:  # noqa: D102
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as exc:
            if isinstance(archive, _Reader):
                archive.stop = exc
            raise


class _Reader(tarfile.TarFile):
    tarinfo = _Header
    members: list[tarfile.TarInfo]
    stop: tarfile.HeaderError | None = None


class _Window(io.RawIOBase):
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


class _Restream:
    """Random reads from a compressed archive: forward by decompressing, backward by reopening."""

    def __init__(self, opener: Callable[[], _Readable], name: str) -> None:
        self._opener, self._name = opener, name
        self._stream, self._pos = opener(), 0

    def read_at(self, offset: int, n: int) -> bytes:
        try:
            if offset < self._pos:
                self._stream.close()
                self._stream, self._pos = self._opener(), 0
            while self._pos < offset:
                skipped = self._stream.read(min(offset - self._pos, _CHUNK))
                if not skipped:
                    return b""
                self._pos += len(skipped)
            parts: list[bytes] = []
            while n > 0 and (data := self._stream.read(n)):
                parts.append(data)
                n -= len(data)
                self._pos += len(data)
            return b"".join(parts)
        except _DATA_ERRORS as exc:
            raise SourceError(f"{self._name}: cannot decompress: {exc}") from None

    def close(self) -> None:
        self._stream.close()


class _Counter:
    """The decompressed stream as tarfile sees it.

    It counts the bytes, to tell a truncated last member, and ends the stream at the second read
    past its end: tarfile skips a member's data in a stream one empty read per 10 KiB, so a
    hostile PAX ``size`` of 10**15 would otherwise keep it busy for days.
    """

    def __init__(self, stream: _Readable) -> None:
        self.stream, self.count, self.eof = stream, 0, False

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        if size and not data:
            if self.eof:
                raise EOFError("the archive ends inside a member")
            self.eof = True
        self.count += len(data)
        return data

    def close(self) -> None:
        self.stream.close()


def _mtime_ns(info: tarfile.TarInfo) -> int:
    """The member's mtime in nanoseconds, exact for a fractional PAX ``mtime`` record."""
    try:
        match = _PAX_TIME.fullmatch(info.pax_headers.get("mtime", ""))
        if match:
            sign, sec, frac = match.groups()
            ns = int(sec) * 10**9 + int((frac or "")[:9].ljust(9, "0"))
            return -ns if sign else ns
        return int(info.mtime) * 10**9
    except (ValueError, OverflowError):  # "inf", or more digits than int() accepts
        return 0


def _sparse_chunks(info: tarfile.TarInfo) -> tuple[tuple[int, int, int], ...] | None:
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


class TarSource(Source):
    """A tar archive (plain or compressed), indexed once and read without extraction.

    Attributes:
        path: the archive on the host.
        problems: one line per member that was skipped or is damaged, and per archive-level
            defect (truncation, a damaged header that ends the readable part).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cache_limit: int = 256 << 20,
        cache_member_limit: int = 1 << 20,
    ) -> None:
        """Open and index ``path``.

        Args:
            path: the archive.
            cache_limit: bytes of small regular files a compressed archive keeps in memory.
            cache_member_limit: the largest member that is kept in memory.

        Raises:
            SourceError: the file cannot be read or holds no readable tar member list.
        """
        self.path = os.fspath(path)
        self.description = self.path
        self.trusted_xattrs_visible = True
        #: Members that carried extended attributes: none at all in an archive of overlay2
        #: layers means it was made without ``--xattrs`` (opaque markers are then lost).
        self.xattr_members = 0
        self.problems: list[str] = []
        self._index: dict[str, _Rec] = {"": _IMPLIED}
        self._children: dict[str, list[str]] = {}
        self._nlink: dict[str, int] = {}  # inode key -> names, for hard-linked files only
        self._cache: dict[int, bytes] = {}  # data offset -> contents (compressed archives)
        self._cached, self._serial, self._unlisted = 0, 0, 0
        self._limits = (cache_limit, cache_member_limit)
        self._modes: dict[int, int] = {}
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            try:
                self._fd = os.open(self.path, flags | _NOATIME)
            except PermissionError:
                self._fd = os.open(self.path, flags)
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot open archive: {exc.strerror}") from None
        try:
            info = os.fstat(self._fd)
            if not st.S_ISREG(info.st_mode):
                raise SourceError(f"{self.path}: not a regular file")
            self._size = info.st_size
            head = os.pread(self._fd, 8, 0)
            self._kind = next((k for magic, k in _MAGIC if head.startswith(magic)), "tar")
            if self._kind == "zstd" and _ZSTD is None:
                raise SourceError(f"{self.path} is zstd-compressed; install storagekit[zstd]")
            self._build()
            self.xattrs_recorded = self.xattr_members > 0
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the archive (readers still open fail from now on)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # Indexing.

    def _pread(self, offset: int, n: int) -> bytes:
        return os.pread(self._fd, n, offset)

    def _stream(self) -> _Readable:
        """The archive's tar bytes from the start: the file itself or a decompressor over it."""
        raw = io.BufferedReader(_Window(self._pread, self._size, ((0, self._size, 0),), self.path))
        if self._kind == "gzip":
            return gzip.GzipFile(fileobj=raw, mode="rb")
        if self._kind == "xz":
            return lzma.LZMAFile(raw)
        if self._kind == "bzip2":
            return bz2.BZ2File(raw)
        if self._kind == "zstd":
            return cast(
                _Readable, _ZSTD.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            )
        return raw

    def _build(self) -> None:
        plain = self._kind == "tar"
        stream = _Counter(self._stream())
        what = "not a tar archive" if plain else f"{self._kind}-compressed, but not a tar archive"
        try:
            tf = _Reader.open(
                fileobj=cast(IO[bytes], stream.stream if plain else stream),
                mode="r:" if plain else "r|",
                encoding="utf-8",
                errors="surrogateescape",
            )
        except _READ_ERRORS as exc:
            raise SourceError(f"{self.path}: {what} ({exc})") from None
        failure: str | None = None
        last: tuple[str, int, int] | None = None  # path, data offset, stored bytes
        with contextlib.closing(stream), tf:
            while True:
                try:
                    info = tf.next()
                except _READ_ERRORS as exc:
                    failure = f"archive damaged at offset {tf.offset}: {exc}"
                    break
                if info is None:
                    break
                tf.members.clear()  # tarfile keeps every TarInfo; the index replaces them
                last = self._add(info, tf, plain) or last
            if failure is None and tf.stop is not None and not isinstance(tf.stop, _EOF_HEADER):
                failure = f"archive ends at offset {tf.offset} without an end marker ({tf.stop})"
            available = self._size if plain else None  # None: a complete stream
            if not plain and failure is not None:
                try:
                    while not stream.eof and stream.read(_CHUNK):
                        pass
                except _DATA_ERRORS as exc:
                    failure += f"; {exc}"
                available = stream.count
        if last is not None and available is not None and last[1] + last[2] > available:
            have = max(0, available - last[1])
            self._damage(last[0], f"data truncated ({have} of {last[2]} bytes in the archive)")
            failure = f"archive is truncated in the data of {last[0]}"
        if failure is not None:
            self._problem(failure)
        if self._unlisted:
            self.problems.append(f"{self._unlisted} more problems are not listed")

    def _problem(self, text: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self._unlisted += 1

    def _damage(self, path: str, why: str) -> None:
        rec = self._index[path]
        self._index[path] = (*rec[:7], dataclasses.replace(rec[7] or _Extra(), damage=why))

    def _add(
        self, info: tarfile.TarInfo, tf: tarfile.TarFile, plain: bool
    ) -> tuple[str, int, int] | None:
        """Index one member; return (path, data offset, stored size) for a regular file."""
        try:
            path = normpath(info.name)
        except UnsafePathError:
            self._problem(f"{info.name!r}: unsafe member name, not indexed")
            return None
        if not path and not info.isdir():
            self._problem(f"{info.name!r}: names the top but is not a directory, not indexed")
            return None
        xattrs = {
            k[len(_XATTR) :]: v.encode("utf-8", "surrogateescape")
            for k, v in info.pax_headers.items()
            if k.startswith(_XATTR)
        }
        extra = _Extra(xattrs=xattrs) if xattrs else None
        if xattrs:
            self.xattr_members += 1
        mode = self._modes.setdefault(info.mode & 0o7777, info.mode & 0o7777)
        head: tuple[int, int, int] = (mode, info.uid, info.gid)
        mtime, offset, size = _mtime_ns(info), info.offset_data, 0
        if info.isreg():
            kind, size = FileType.FILE, info.size
            if info.sparse is not None:
                chunks = _sparse_chunks(info)
                damage = None if chunks is not None else "inconsistent sparse map"
                extra = _Extra(xattrs=xattrs or None, chunks=chunks, damage=damage)
        elif info.isdir():
            kind = FileType.DIR
        elif info.issym():
            kind, size = FileType.SYMLINK, len(info.linkname.encode("utf-8", "surrogateescape"))
            extra = _Extra(link_target=info.linkname, xattrs=xattrs or None)
        elif info.ischr() or info.isblk():
            kind = FileType.CHARDEV if info.ischr() else FileType.BLOCKDEV
            extra = _Extra(rdev=(info.devmajor, info.devminor), xattrs=xattrs or None)
        elif info.isfifo():
            kind = FileType.FIFO
        elif info.islnk():
            self._add_hardlink(path, info)
            return None
        else:
            self._problem(f"{path}: unsupported member type {info.type!r}, not indexed")
            return None
        if not self._parents(path, info.name):
            return None
        if kind is FileType.FILE and not plain:
            self._keep(info, tf)
        self._put(path, (kind, *head, size, mtime, offset, extra))
        if kind is not FileType.FILE:
            return None
        return path, offset, sum(c[1] for c in extra.chunks) if extra and extra.chunks else size

    def _add_hardlink(self, path: str, info: tarfile.TarInfo) -> None:
        try:
            target = normpath(info.linkname)
        except UnsafePathError:
            self._problem(f"{path}: hard link to unsafe name {info.linkname!r}, not indexed")
            return
        rec = self._index.get(target)
        if rec is None or rec[0] is FileType.DIR:
            what = "a directory" if rec else "a missing member"
            self._problem(f"{path}: hard link to {what} {target!r}, not indexed")
            return
        if not self._parents(path, info.name):
            return
        key = self._key(target, rec)
        self._nlink[key] = self._nlink.get(key, 1) + 1
        self._put(path, (*rec[:7], dataclasses.replace(rec[7] or _Extra(), inode=key)))

    def _keep(self, info: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        """Cache a small regular file of a compressed archive while the stream passes by."""
        budget, largest = self._limits
        if info.size > largest or self._cached + info.size > budget:
            return
        try:
            f = tf.extractfile(info)
            data = f.read() if f is not None else b""
        except _READ_ERRORS:
            return  # the end-of-archive check reports the truncation
        self._cache[info.offset_data] = data
        self._cached += len(data)

    @staticmethod
    def _key(path: str, rec: _Rec) -> str:
        extra = rec[7]
        return path if extra is None or extra.inode is None else extra.inode

    def _parents(self, path: str, name: str) -> bool:
        """Create the implied parent directories of ``path``; False if one is not a directory."""
        missing: list[str] = []
        parent = path
        while parent:
            parent = parent.rpartition("/")[0]
            rec = self._index.get(parent)
            if rec is not None:
                if rec[0] is not FileType.DIR:
                    self._problem(f"{name!r}: {parent} is not a directory, not indexed")
                    return False
                break
            missing.append(parent)
        for p in reversed(missing):
            self._put(p, _IMPLIED)
        return True

    def _put(self, path: str, rec: _Rec) -> None:
        old = self._index.get(path)
        if old is None:
            self._children.setdefault(path.rpartition("/")[0], []).append(path)
        elif not (old[0] is FileType.DIR and rec[0] is FileType.DIR):
            self._forget(path, old)
        if (rec[7] is None or rec[7].inode is None) and path in self._nlink:
            # Earlier names hard-linked to a file that was at this path keep its identity.
            self._serial += 1
            rec = (
                *rec[:7],
                dataclasses.replace(rec[7] or _Extra(), inode=f"{path}//{self._serial}"),
            )
        self._index[path] = rec

    def _forget(self, path: str, old: _Rec) -> None:
        """Drop what ``path`` held before a later member replaced it, its subtree included."""
        stack, gone = [(path, old)], 0
        while stack:
            p, rec = stack.pop()
            key = self._key(p, rec)
            names = self._nlink.pop(key, 1) - 1
            if names:
                self._nlink[key] = names
            elif rec[0] is FileType.FILE:  # the last name of the file: release its cached data
                self._cached -= len(self._cache.pop(rec[6], b""))
            for child in self._children.pop(p, ()):
                stack.append((child, self._index.pop(child)))
                gone += 1
        if gone:
            self._problem(f"{path}: a later member replaces a directory of {gone} entries")

    # The Source interface.

    def _lookup(self, path: str) -> tuple[str, _Rec]:
        path = normpath(path)
        rec = self._index.get(path)
        if rec is not None:
            return path, rec
        parent = path
        while parent:
            parent = parent.rpartition("/")[0]
            above = self._index.get(parent)
            if above is not None:
                if above[0] is not FileType.DIR:
                    raise NotADirectoryInSourceError(
                        f"{self.description}: {path}: not a directory (or a link to one)"
                    )
                break
        raise SourceNotFoundError(f"{self.description}: {path}: no such file or directory")

    def _entry(self, path: str, rec: _Rec) -> Entry:
        kind, mode, uid, gid, size, mtime, _, extra = rec
        inode = self._key(path, rec)
        return Entry(
            path=path,
            type=kind,
            mode=mode,
            uid=uid,
            gid=gid,
            size=size,
            mtime_ns=mtime,
            nlink=self._nlink.get(inode, 1),
            inode=inode,
            rdev=extra.rdev if extra else None,
            link_target=extra.link_target if extra else None,
        )

    def stat(self, path: str) -> Entry:
        """See :meth:`Source.stat`."""
        return self._entry(*self._lookup(path))

    def _dir(self, path: str) -> tuple[str, list[str]]:
        path, rec = self._lookup(path)
        if rec[0] is not FileType.DIR:
            raise NotADirectoryInSourceError(f"{self.description}: {path}: not a directory")
        return path, self._children.get(path, [])

    def scandir(self, path: str) -> Iterator[Entry]:
        """See :meth:`Source.scandir`."""
        _, children = self._dir(path)
        return iter([self._entry(c, self._index[c]) for c in children])

    def listdir(self, path: str) -> list[str]:
        """See :meth:`Source.listdir` (without building entries)."""
        return sorted(c.rpartition("/")[2] for c in self._dir(path)[1])

    def xattrs(self, path: str) -> dict[str, bytes]:
        """See :meth:`Source.xattrs`: the member's ``SCHILY.xattr.*`` PAX records."""
        extra = self._lookup(path)[1][7]
        return dict(extra.xattrs) if extra and extra.xattrs else {}

    def open(self, path: str) -> BinaryIO:
        """See :meth:`Source.open`; the reader supports ``read``, ``seek`` and ``tell``."""
        path, (kind, *_, size, _, offset, extra) = self._lookup(path)
        if kind is not FileType.FILE:
            raise SourceError(f"{self.description}: {path}: not a regular file")
        if extra is not None and extra.damage is not None:
            raise SourceError(f"{self.description}: {path}: {extra.damage}")
        if self._fd < 0:
            raise SourceError(f"{self.description}: archive is closed")
        cached = self._cache.get(offset)
        if cached is not None:
            return io.BytesIO(cached)
        local = extra.chunks if extra is not None and extra.chunks is not None else ((0, size, 0),)
        chunks = tuple((start, n, offset + at) for start, n, at in local)
        name = f"{self.description}: {path}"
        if self._kind == "tar":
            return io.BufferedReader(_Window(self._pread, size, chunks, name))
        restream = _Restream(self._stream, self.description)
        return io.BufferedReader(_Window(restream.read_at, size, chunks, name, restream.close))
