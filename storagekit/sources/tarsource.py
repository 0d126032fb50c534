"""A tar archive of evidence as a read-only :class:`~storagekit.source.Source`.

The archive is indexed once, in one sequential pass, and never extracted: extracting would need
root for devices and ``trusted.*`` xattrs, would let hostile member names and links act on the
host, and would rewrite the very metadata under examination. The tar facts this module handles:

* **Compression** (gzip, xz, bzip2, zstd) is recognised by magic bytes, not by the file name
  (:mod:`storagekit.sources.tarstream`). Plain archives are read with ``pread`` at each member's
  data offset; a compressed stream cannot seek, so small regular files are kept in memory during
  the indexing pass and larger ones are re-decompressed up to their offset.
* **Headers** are read by :mod:`storagekit.sources.tarscan` (the common shapes directly,
  everything else by :mod:`tarfile`). **PAX records** extend the 512-byte ustar header:
  ``path``/``linkpath`` (long or non-ASCII names), ``mtime`` with a fraction (kept to the
  nanosecond) and ``SCHILY.xattr.<name>`` extended attributes, also written by GNU
  ``tar --xattrs``. Values are decoded as UTF-8 with ``surrogateescape``, so encoding them the
  same way gives the raw bytes back (an ``trusted.overlay.origin`` file handle is binary).
* What the members mean for the tree (hard links, implied directories, replacement, hostile
  names) is :mod:`storagekit.sources.tarindex`'s. Damaged headers and data cut short end the
  readable part: :attr:`TarSource.problems` and :attr:`TarSource.cut` say where and why.
  Symlinks are only entries; nothing here follows them.
* **The index is kept** outside the evidence when an :class:`~storagekit.sources.indexcache.
  IndexCache` is given, and the next opening of the same archive starts from it.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat as st
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, BinaryIO, Literal, cast

from storagekit import progress
from storagekit.errors import (
    NotADirectoryInSourceError,
    SourceError,
    SourceNotFoundError,
)
from storagekit.source import Cut, Entry, FileType, OwningSource, Row, normpath
from storagekit.sources.indexcache import IndexCache
from storagekit.sources.indexrows import IndexFacts
from storagekit.sources.tarfeed import Feed, Prefetch
from storagekit.sources.tarhalves import MIN_SPLIT, read_members
from storagekit.sources.tarindex import Index, IndexBuilder, MemoryIndex, Rec, inode_of
from storagekit.sources.tarscan import Scanner
from storagekit.sources.tarstream import (
    CHUNK,
    DATA_ERRORS,
    EOF_HEADER,
    READ_ERRORS,
    ZSTD,
    ArchiveLimits,
    Counter,
    DecompressionLimit,
    Readable,
    Reader,
    Restream,
    Window,
    compression,
    open_stream,
    seeker,
)

if TYPE_CHECKING:
    from storagekit.sources.gzseek import Cursor, GzipSeeker
    from storagekit.sources.xzseek import XzCursor, XzSeeker

_NOATIME = getattr(os, "O_NOATIME", 0)


class TarSource(OwningSource):
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
        cache: IndexCache | None = None,
        split_min: int = MIN_SPLIT,
    ) -> None:
        """Open and index ``path``.

        Args:
            path: the archive.
            cache_limit: bytes of small regular files a compressed archive keeps in memory.
            cache_member_limit: the largest member that is kept in memory.
            limits: how far a compressed archive is decompressed (the defaults of
                :class:`ArchiveLimits` when ``None``); when reached, the members read so far
                are the index and :attr:`limit_reached` says so.
            cache: where the index is kept between runs (``None``: it is not).
            split_min: a plain archive this large is read on two cores.

        Raises:
            SourceError: the file cannot be read or holds no readable tar member list.
        """
        self.path = os.fspath(path)
        self.description = self.path
        self.trusted_xattrs_visible = True
        # Reads are preads (no shared offset); a kept index reopens its database in a child.
        self.fork_safe = True
        #: Members that carried extended attributes: none at all in an archive of overlay2
        #: layers means it was made without ``--xattrs`` (opaque markers are then lost).
        self.xattr_members = 0
        self.problems: list[str] = []
        self.cut: Cut | None = None
        #: Whether the index came from the cache (not from reading the archive).
        self.from_cache = False
        self._index: Index = MemoryIndex()
        self._limits = (cache_limit, cache_member_limit)
        self._archive_limits = limits or ArchiveLimits()
        self._cache = cache
        self._split_min = split_min
        self._seeker: GzipSeeker | XzSeeker | Literal[False] | None = None  # False: it has none
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
            self._open_index(info)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the archive (readers still open fail from now on)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._index.close()

    def after_fork(self) -> None:
        """See :meth:`Source.after_fork`."""
        self._index.after_fork()

    def _params(self) -> str:
        """What, besides the archive's bytes, decides what the index holds."""
        a = self._archive_limits
        return f"{self._limits[0]}:{self._limits[1]}:{a.size}:{a.ratio}:{a.floor}"

    def _open_index(self, info: os.stat_result) -> None:
        """Start from the kept index if there is a sound one; else read the archive."""
        if self._cache is None:
            self._build()
            return
        kept_at = self._cache.path_for(self._fd, info, self._params())  # reads sampled blocks
        kept = self._cache.load(kept_at, self._rebuild)
        if kept is not None:
            self._index, facts = kept
            self.problems, self.cut = list(facts.problems), facts.cut
            self.xattr_members, self.limit_reached = facts.xattr_members, facts.limit_reached
            self.xattrs_recorded = self.xattr_members > 0
            self.from_cache = True
            return
        self._cache.save(kept_at, self._build(), self._facts())

    def _rebuild(self) -> MemoryIndex:
        """Read the archive after all (the kept index turned out unsound)."""
        self.problems, self.cut, self.limit_reached = [], None, None
        self.from_cache = False
        return self._build()

    def _facts(self) -> IndexFacts:
        return IndexFacts(tuple(self.problems), self.cut, self.xattr_members, self.limit_reached)

    # Indexing.

    def _pread(self, offset: int, n: int) -> bytes:
        return os.pread(self._fd, n, offset)

    def _stream(self) -> Readable:
        """The archive's tar bytes from the start (decompressed)."""
        return open_stream(self._kind, self._pread, self._size, self.path)

    def _build(self) -> MemoryIndex:
        """Read the archive's member list into a new index (and make it this source's)."""
        with progress.step("indexing the archive", total=self._size) as bar:
            return self._build_counted(bar)

    def _build_counted(self, bar: progress.Bar) -> MemoryIndex:
        builder = IndexBuilder(*self._limits)
        plain = self._kind == "tar"
        bound = None if plain else self._archive_limits.bound(self._size)

        def counted(offset: int, n: int) -> bytes:  # the compressed bytes read, for the bar
            data = os.pread(self._fd, n, offset)
            bar.advance(len(data))
            return data

        stream = None
        if not plain:
            stream = Counter(open_stream(self._kind, counted, self._size, self.path), bound)
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
        with contextlib.closing(reader):
            try:
                scanner = Scanner(feed, reader)
                split = self._kind == "tar" and self._size >= self._split_min
                reading = read_members(builder, scanner, self._pread, self._size, split, bar)
                last, failure, stop, end = reading
            finally:
                if ahead is not None:
                    ahead.close()
        if failure is None and stop is not None and not isinstance(stop, EOF_HEADER):
            failure = f"archive ends at offset {end} without an end marker ({stop})"
        available: int | None = self._size  # None: a complete stream
        if stream is not None:
            with contextlib.closing(stream):
                available = None
                # The limit counts when the member list needed bytes past it, not when the
                # read-ahead thread met it beyond where the reading stopped.
                if bound is not None and isinstance(feed.failure, DecompressionLimit):
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
            have = f"{max(0, available - last[1])} of {last[2]}"
            if self.limit_reached:
                builder.damage(last[0], f"data past the decompression limit ({have})")
            else:
                builder.damage(last[0], f"data truncated ({have} bytes in the archive)")
                failure = f"archive is truncated in the data of {last[0]}"
        if failure is not None:
            builder.problem(failure)
            self.cut = Cut(
                failure,
                self._size,
                stream.count if stream is not None else min(self._size, end),
                last[0] if last is not None else None,
                truncated_member=bool(last and "truncated" in failure and last[0] in failure),
            )
        if builder.unlisted:
            builder.problems.append(f"{builder.unlisted} more problems are not listed")
        self.problems = builder.problems
        self.xattr_members = builder.xattr_members
        self.xattrs_recorded = self.xattr_members > 0
        self._index = builder
        return builder

    def paths_in_order(self) -> Iterator[str]:
        """Every path of the archive, in the order its members came (implied directories too)."""
        return self._index.paths()

    def _limit(self, bound: int) -> None:
        self.limit_reached = (
            f"{self.path}: decompression stopped after {bound} bytes, "
            f"{bound * 100 // max(self._size, 1) / 100:g} times the archive's size (a "
            "decompression bomb?): members past that point are not read; --archive-limit and "
            "--archive-ratio raise the limits"
        )

    # The Source interface.

    def _lookup(self, path: str) -> tuple[str, Rec]:
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

    def _row(self, path: str, rec: Rec) -> Row:
        """The fields of the entry at ``path`` after its path (:data:`Row`)."""
        kind, mode, uid, gid, size, mtime, _, extra = rec
        inode = inode_of(path, rec)
        rdev, target = (None, None) if extra is None else (extra.rdev, extra.link_target)
        return (
            kind,
            mode,
            uid,
            gid,
            size,
            mtime,
            self._index.nlink(inode),
            inode,
            rdev,
            target,
            None,
        )

    def _entry(self, path: str, rec: Rec) -> Entry:
        return Entry.from_row(path, self._row(path, rec))

    def stat(self, path: str) -> Entry:
        """See :meth:`Source.stat`."""
        return self._entry(*self._lookup(path))

    def _dir(self, path: str) -> tuple[str, Rec]:
        path, rec = self._lookup(path)
        if rec[0] is not FileType.DIR:
            raise NotADirectoryInSourceError(f"{self.description}: {path}: not a directory")
        return path, rec

    def scandir(self, path: str) -> Iterator[Entry]:
        """See :meth:`Source.scandir`."""
        return iter([self._entry(c, rec) for c, rec in self._index.listing(self._dir(path)[0])])

    def scan_dir(
        self, path: str, *, real: bool = False
    ) -> tuple[list[tuple[str, Row]], dict[str, bytes]]:
        """See :meth:`Source.scan_dir`: rows straight from the index, no entries built."""
        path, rec = self._dir(path)
        cut = len(path) + 1 if path else 0
        rows = [(child[cut:], self._row(child, kept)) for child, kept in self._index.listing(path)]
        extra = rec[7]
        return rows, dict(extra.xattrs) if extra and extra.xattrs else {}

    def listdir(self, path: str) -> list[str]:
        """See :meth:`Source.listdir` (without building entries)."""
        return sorted(c.rpartition("/")[2] for c in self._index.children(self._dir(path)[0]))

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
        cached = None if self._kind == "tar" else self._index.data(offset)  # kept: compressed
        if cached is not None:
            return io.BytesIO(cached)
        local = extra.chunks if extra is not None and extra.chunks is not None else ((0, size, 0),)
        chunks = tuple((start, n, offset + at) for start, n, at in local)
        name = f"{self.description}: {path}"
        if self._kind == "tar":
            return io.BufferedReader(Window(self._pread, size, chunks, name))
        if self._seeker is None:
            self._seeker = seeker(self._kind, self._pread, self._size, self.description) or False
        reader: Cursor | XzCursor | Restream
        if self._seeker:
            reader = self._seeker.cursor()
        else:
            reader = Restream(self._stream, self.description)
        return io.BufferedReader(Window(reader.read_at, size, chunks, name, reader.close))
