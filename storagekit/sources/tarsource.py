"""A tar archive of evidence as a read-only :class:`~storagekit.source.Source`.

The archive is indexed once, in one sequential pass, and never extracted: extracting would need
root for devices and ``trusted.*`` xattrs, would let hostile member names and links act on the
host, and would rewrite the very metadata under examination. The tar facts this module handles:

* **Compression** (gzip, xz, bzip2, zstd) is recognised by magic bytes, not by the file name
  (:mod:`storagekit.sources.tarstream`). Plain archives are read with ``pread`` at each member's
  data offset; a compressed stream cannot seek, so small regular files are kept in memory during
  the indexing pass and larger ones are re-decompressed up to their offset.
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

import contextlib
import dataclasses
import io
import os
import stat as st
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

from storagekit.errors import (
    NotADirectoryInSourceError,
    SourceError,
    SourceNotFoundError,
    UnsafePathError,
)
from storagekit.source import Cut, Entry, FileType, Source, normpath
from storagekit.sources.tarscan import Feed, Member, Scanner
from storagekit.sources.tarstream import (
    CHUNK,
    DATA_ERRORS,
    EOF_HEADER,
    READ_ERRORS,
    ZSTD,
    ArchiveLimits,
    Counter,
    DecompressionLimit,
    Prefetch,
    Readable,
    Reader,
    Restream,
    Window,
    compression,
    open_stream,
)

_NOATIME = getattr(os, "O_NOATIME", 0)
REGTYPE, DIRTYPE, SYMTYPE, LNKTYPE, FIFOTYPE = b"0", b"5", b"2", b"1", b"6"
_DEVICES = {b"3": FileType.CHARDEV, b"4": FileType.BLOCKDEV}
_MAX_PROBLEMS = 1000  # a hostile archive can hold millions of bad members


@dataclass(frozen=True, slots=True)
class _Extra:
    """The rarely present parts of an index record (most members have none)."""

    link_target: str | None = None
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] | None = None
    inode: str | None = None  # set for hard-linked names; else the entry's own path
    chunks: tuple[tuple[int, int, int], ...] | None = None  # sparse map, see Window
    damage: str | None = None  # why the data cannot be read


# One tuple per member keeps a million members in a few hundred MB:
# (type, mode, uid, gid, size, mtime_ns, data offset, extra).
_Rec = tuple[FileType, int, int, int, int, int, int, _Extra | None]
_IMPLIED: _Rec = (FileType.DIR, 0o755, 0, 0, 0, 0, 0, None)


class TarSource(Source):
    """A tar archive (plain or compressed), indexed once and read without extraction.

    Attributes:
        path: the archive on the host.
        problems: one line per member that was skipped or is damaged, and per archive-level
            defect (truncation, a damaged header that ends the readable part).
        cut: where the readable part of a truncated or damaged archive ends, else None.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cache_limit: int = 256 << 20,
        cache_member_limit: int = 1 << 20,
        limits: ArchiveLimits | None = None,
    ) -> None:
        """Open and index ``path``.

        Args:
            path: the archive.
            cache_limit: bytes of small regular files a compressed archive keeps in memory.
            cache_member_limit: the largest member that is kept in memory.
            limits: how far a compressed archive is decompressed (the defaults of
                :class:`ArchiveLimits` when ``None``); when reached, the members read so far
                are the index and :attr:`limit_reached` says so.

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
        self.cut: Cut | None = None
        self._index: dict[str, _Rec] = {"": _IMPLIED}
        self._children: dict[str, list[str]] = {}
        self._nlink: dict[str, int] = {}  # inode key -> names, for hard-linked files only
        self._cache: dict[int, bytes] = {}  # data offset -> contents (compressed archives)
        self._cached, self._serial, self._unlisted = 0, 0, 0
        self._limits = (cache_limit, cache_member_limit)
        self._modes: dict[int, int] = {}
        self._archive_limits = limits or ArchiveLimits()
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
            self._kind = compression(head)
            if self._kind == "zstd" and ZSTD is None:
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

    def _stream(self) -> Readable:
        """The archive's tar bytes from the start (decompressed)."""
        return open_stream(self._kind, self._pread, self._size, self.path)

    def _build(self) -> None:
        plain = self._kind == "tar"
        bound = None if plain else self._archive_limits.bound(self._size)
        stream = None if plain else Counter(self._stream(), bound)
        ahead = None if stream is None else Prefetch(stream)
        feed = Feed(read_at=self._pread) if ahead is None else Feed(stream=ahead)
        what = "not a tar archive" if plain else f"{self._kind}-compressed, but not a tar archive"
        try:
            reader = Reader(
                fileobj=cast(IO[bytes], feed), encoding="utf-8", errors="surrogateescape"
            )
        except READ_ERRORS as exc:
            if ahead is not None and stream is not None:
                ahead.close()
                stream.close()
            raise SourceError(f"{self.path}: {what} ({exc})") from None
        scanner = Scanner(feed, reader)
        failure: str | None = None
        last: tuple[str, int, int] | None = None  # path, data offset, stored bytes
        with contextlib.closing(reader):
            try:
                for member in scanner.members():
                    last = self._add(member, feed, plain) or last
            except READ_ERRORS as exc:
                failure = f"archive damaged at offset {scanner.offset}: {exc}"
            finally:
                if ahead is not None:
                    ahead.close()
        stop = scanner.stop
        if failure is None and stop is not None and not isinstance(stop, EOF_HEADER):
            failure = f"archive ends at offset {scanner.offset} without an end marker ({stop})"
        available: int | None = self._size  # None: a complete stream
        if stream is not None:
            with contextlib.closing(stream):
                available = None
                if bound is not None and stream.count > bound:
                    self._limit(bound)
                    failure, available = None, bound  # a member cut by the limit is damaged
                elif failure is not None:
                    try:
                        while not stream.eof and stream.read(CHUNK):
                            pass
                    except DecompressionLimit:
                        self._limit(bound or 0)  # what follows the damage is a bomb too
                    except DATA_ERRORS as exc:
                        failure += f"; {exc}"
                    available = stream.count
        if last is not None and available is not None and last[1] + last[2] > available:
            have = max(0, available - last[1])
            if self.limit_reached:
                self._damage(last[0], f"data past the decompression limit ({have} of {last[2]})")
            else:
                self._damage(last[0], f"data truncated ({have} of {last[2]} bytes in the archive)")
                failure = f"archive is truncated in the data of {last[0]}"
        if failure is not None:
            self._problem(failure)
            self.cut = Cut(
                failure,
                self._size,
                stream.count if stream is not None else min(self._size, scanner.offset),
                last[0] if last is not None else None,
                truncated_member=bool(last and "truncated" in failure and last[0] in failure),
            )
        if self._unlisted:
            self.problems.append(f"{self._unlisted} more problems are not listed")

    def paths_in_order(self) -> Iterator[str]:
        """Every path of the archive, in the order its members came (implied directories too)."""
        return iter(self._index)

    def _limit(self, bound: int) -> None:
        self.limit_reached = (
            f"{self.path}: decompression stopped after {bound} bytes, "
            f"{bound * 100 // max(self._size, 1) / 100:g} times the archive's size (a "
            "decompression bomb?): members past that point are not read; --archive-limit and "
            "--archive-ratio raise the limits"
        )

    def _problem(self, text: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self._unlisted += 1

    def _damage(self, path: str, why: str) -> None:
        rec = self._index[path]
        self._index[path] = (*rec[:7], dataclasses.replace(rec[7] or _Extra(), damage=why))

    def _add(self, member: Member, feed: Feed, plain: bool) -> tuple[str, int, int] | None:
        """Index one member; return (path, data offset, stored size) for a regular file."""
        try:
            path = normpath(member.name)
        except UnsafePathError:
            self._problem(f"{member.name!r}: unsafe member name, not indexed")
            return None
        kind_flag = member.type
        if not path and kind_flag != DIRTYPE:
            self._problem(f"{member.name!r}: names the top but is not a directory, not indexed")
            return None
        xattrs = member.xattrs()
        extra = _Extra(xattrs=xattrs) if xattrs else None
        if xattrs:
            self.xattr_members += 1
        perm = member.mode & 0o7777
        mode = self._modes.setdefault(perm, perm)
        head: tuple[int, int, int] = (mode, member.uid, member.gid)
        offset, size = member.offset_data, 0
        if kind_flag == REGTYPE:
            kind, size = FileType.FILE, member.size
            if member.sparse is not None:
                chunks = None if isinstance(member.sparse, str) else member.sparse
                damage = None if chunks is not None else "inconsistent sparse map"
                extra = _Extra(xattrs=xattrs or None, chunks=chunks, damage=damage)
        elif kind_flag == DIRTYPE:
            kind = FileType.DIR
        elif kind_flag == SYMTYPE:
            target = member.linkname
            kind, size = FileType.SYMLINK, len(target.encode("utf-8", "surrogateescape"))
            extra = _Extra(link_target=target, xattrs=xattrs or None)
        elif kind_flag in _DEVICES:
            kind = _DEVICES[kind_flag]
            extra = _Extra(rdev=(member.devmajor, member.devminor), xattrs=xattrs or None)
        elif kind_flag == FIFOTYPE:
            kind = FileType.FIFO
        elif kind_flag == LNKTYPE:
            self._add_hardlink(path, member)
            return None
        else:
            self._problem(f"{path}: unsupported member type {kind_flag!r}, not indexed")
            return None
        if not self._parents(path, member.name):
            return None
        if kind is FileType.FILE and not plain and member.sparse is None:
            self._keep(member, feed)
        self._put(path, (kind, *head, size, member.mtime_ns, offset, extra))
        if kind is not FileType.FILE:
            return None
        return path, offset, sum(c[1] for c in extra.chunks) if extra and extra.chunks else size

    def _add_hardlink(self, path: str, member: Member) -> None:
        try:
            target = normpath(member.linkname)
        except UnsafePathError:
            self._problem(f"{path}: hard link to unsafe name {member.linkname!r}, not indexed")
            return
        rec = self._index.get(target)
        if rec is None or rec[0] is FileType.DIR:
            what = "a directory" if rec else "a missing member"
            self._problem(f"{path}: hard link to {what} {target!r}, not indexed")
            return
        if not self._parents(path, member.name):
            return
        key = self._key(target, rec)
        self._nlink[key] = self._nlink.get(key, 1) + 1
        self._put(path, (*rec[:7], dataclasses.replace(rec[7] or _Extra(), inode=key)))

    def _keep(self, member: Member, feed: Feed) -> None:
        """Cache a small regular file of a compressed archive while the stream passes by."""
        budget, largest = self._limits
        if member.size > largest or self._cached + member.size > budget:
            return
        try:
            data = feed.read(member.size)
        except READ_ERRORS:
            return  # the end-of-archive check reports the damage
        if len(data) == member.size:  # else the end-of-archive check reports the truncation
            self._cache[member.offset_data] = data
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
            return io.BufferedReader(Window(self._pread, size, chunks, name))
        restream = Restream(self._stream, self.description)
        return io.BufferedReader(Window(restream.read_at, size, chunks, name, restream.close))
