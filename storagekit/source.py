"""The read-only evidence contract: :class:`Source` and :class:`Entry`.

Everything storagekit reads goes through a ``Source``: a directory on the host, a tar archive, or
an in-memory tree built by a test. Paths inside a source are POSIX strings relative to its top,
without a leading slash; ``""`` is the top itself. Names that are not valid UTF-8 are carried as
``str`` with ``surrogateescape`` (as :func:`os.fsdecode` does), so any byte string round-trips.

Semantics are those of ``lstat``: a symbolic link is reported as a link and never followed by
``stat``/``scandir``/``open``. Intermediate components of a path that are symlinks are not
followed either; a path that goes through one does not exist as far as the source is concerned.
Links are resolved only on request, by :meth:`Source.resolve`, inside the source, with a hop
limit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, TypeAlias

from storagekit.entry import Entry, FileType, Row, is_safe_name, join, normpath
from storagekit.errors import (
    LinkLoopError,
    NotADirectoryInSourceError,
    SourceError,
    SourceNotFoundError,
)

# Entries and paths live in storagekit.entry; they are part of this contract too.
__all__ = [
    "CHUNK",
    "MAX_LINK_HOPS",
    "Entry",
    "FileType",
    "Row",
    "Source",
    "SubSource",
    "Writer",
    "is_safe_name",
    "join",
    "normpath",
]

#: Default number of symbolic links :meth:`Source.resolve` follows before giving up (Linux: 40).
MAX_LINK_HOPS = 40


#: Where :meth:`Source.copy_file` sends data.
Writer: TypeAlias = Callable[[bytes], object]
#: How much :meth:`Source.copy_file` reads at once.
CHUNK = 1 << 20


@dataclass(frozen=True)
class Cut:
    """Where the readable part of an incomplete archive ends.

    Attributes:
        why: the defect, in one line.
        archive_bytes: the size of the archive file.
        tar_bytes: how many bytes of tar (decompressed) could be read.
        last: the last member read (a path in the archive), if any.
        truncated_member: that member's data is itself cut short.
    """

    why: str
    archive_bytes: int
    tar_bytes: int
    last: str | None
    truncated_member: bool = False


class Source(ABC):
    """A read-only tree of evidence with ``lstat`` semantics.

    Implementations: :class:`storagekit.sources.dirsource.DirSource`,
    :class:`storagekit.sources.tarsource.TarSource`,
    :class:`storagekit.sources.memsource.MemorySource`, and :class:`SubSource` (a view of a
    subdirectory). None of them ever writes.
    """

    #: A human-readable description for messages (a host path or an archive name).
    description: str = "<source>"

    #: Whether the evidence recorded extended attributes at all: ``False`` for an archive made
    #: without ``--xattrs`` (overlay opaque markers are then lost), ``None`` when not known.
    xattrs_recorded: bool | None = None

    #: Whether forked worker processes may read through this source (after :meth:`after_fork`).
    fork_safe: bool = False

    #: Damage met while opening the evidence (a truncated archive, skipped members): one line
    #: each; engines report them as findings.
    problems: Sequence[str] = ()

    #: Where the readable part ends, when the evidence is an archive cut short or damaged.
    cut: Cut | None = None

    #: Why reading stopped on purpose before the end of the evidence (a decompression limit),
    #: or ``None``: what is past that point is not seen, and the command says so (exit 3).
    limit_reached: str | None = None

    #: Whether extended attributes in the ``trusted.`` namespace can be seen through this source.
    #: A directory read by a non-root user cannot see them (overlay opaque markers then vanish).
    trusted_xattrs_visible: bool = True

    @abstractmethod
    def stat(self, path: str) -> Entry:
        """Return the entry at ``path`` without following a final symlink.

        Raises:
            SourceNotFoundError: nothing is there.
        """

    @abstractmethod
    def scandir(self, path: str) -> Iterator[Entry]:
        """Yield the entries of the directory ``path`` in no particular order.

        Raises:
            SourceNotFoundError: nothing is there.
            NotADirectoryInSourceError: it is not a directory.
        """

    @abstractmethod
    def open(self, path: str) -> BinaryIO:
        """Open the regular file at ``path`` for reading (never a device, FIFO or link).

        Raises:
            SourceNotFoundError: nothing is there.
            SourceError: it is not a regular file.
        """

    @abstractmethod
    def xattrs(self, path: str) -> dict[str, bytes]:
        """Return the extended attributes of ``path`` (empty where there are none)."""

    def paths_in_order(self) -> Iterator[str]:
        """Every path, in the order the evidence holds them (an archive's member order).

        A directory has no such order: it gives none.
        """
        return iter(())

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the source holds open (nothing by default)."""

    def after_fork(self) -> None:  # noqa: B027 - optional hook
        """In a forked child: stop sharing open file descriptions with the parent."""

    # Helpers built on the primitives. Implementations may override them for speed.

    def scan_dir(
        self, path: str, *, real: bool = False
    ) -> tuple[list[tuple[str, Row]], dict[str, bytes]]:
        """Every entry of directory ``path`` as (name, :data:`Row`), and its own xattrs.

        The entries come in no order. The bulk form of :meth:`scandir`, for merges that visit
        every name of every layer. ``real`` says that the caller saw every component of
        ``path`` as a directory, not a link, in scans of this source: a source may then
        resolve it in one call.

        Raises:
            SourceNotFoundError: nothing is there.
            NotADirectoryInSourceError: it is not a directory.
        """
        rows = [(e.name, e.row) for e in self.scandir(path)]
        return rows, self.xattrs(path)

    def copy_file(self, path: str, size: int, write: Writer, *, real: bool = False) -> int:
        """Write at most ``size`` bytes of the regular file ``path``; returns how many.

        ``real`` as for :meth:`scan_dir`, for the directories above the file.

        Raises:
            SourceNotFoundError: nothing is there.
            SourceError: it is not a regular file.
        """
        done = 0
        with self.open(path) as f:
            while done < size:
                data = f.read(min(CHUNK, size - done))
                if not data:
                    break
                write(data)
                done += len(data)
        return done

    def exists(self, path: str) -> bool:
        """True if something (of any type) is at ``path``."""
        try:
            self.stat(path)
        except SourceError:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        """True if ``path`` is a directory (not a link to one)."""
        try:
            return self.stat(path).is_dir
        except SourceError:
            return False

    def is_file(self, path: str) -> bool:
        """True if ``path`` is a regular file (not a link to one)."""
        try:
            return self.stat(path).is_file
        except SourceError:
            return False

    def listdir(self, path: str) -> list[str]:
        """The sorted names in the directory ``path``."""
        return sorted(e.name for e in self.scandir(path))

    def subdirs(self, path: str) -> tuple[list[str], list[str]]:
        """The sorted names in the directory ``path``: (directories, everything else).

        Symlinks to directories count as "everything else".
        """
        dirs: list[str] = []
        others: list[str] = []
        for e in self.scandir(path):
            (dirs if e.is_dir else others).append(e.name)
        return sorted(dirs), sorted(others)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """Read a regular file; with ``limit``, at most that many bytes."""
        with self.open(path) as f:
            return f.read() if limit is None else f.read(limit)

    def read_small_files(
        self, directory: str, names: Collection[str], limit: int
    ) -> tuple[dict[str, bytes], set[str]]:
        """Read several small files of one directory at once (metadata directories).

        Returns the contents (at most ``limit`` bytes each) of those ``names`` that are regular
        files, and the names of every entry in the directory; a wanted name that is present
        but has no content was not a regular file or could not be read.

        Raises:
            SourceNotFoundError: the directory does not exist.
            NotADirectoryInSourceError: it is not a directory.
        """
        present = {e.name for e in self.scandir(directory)}
        contents = {}
        for name in names:
            if name in present:
                try:
                    contents[name] = self.read_bytes(join(directory, name), limit)
                except SourceError:
                    continue
        return contents, present

    def read_text(self, path: str, limit: int | None = None) -> str:
        """Read a regular file as UTF-8 (invalid bytes raise :class:`UnicodeDecodeError`)."""
        return self.read_bytes(path, limit).decode("utf-8")

    def readlink(self, path: str) -> str:
        """The target of the symlink at ``path``.

        Raises:
            SourceError: it is not a symlink.
        """
        entry = self.stat(path)
        if entry.link_target is None:
            raise SourceError(f"{self.description}: {path}: not a symbolic link")
        return entry.link_target

    def resolve(self, path: str, *, hops: int = MAX_LINK_HOPS) -> str:
        """Resolve every symlink in ``path`` inside the source, as if chrooted into it.

        Absolute link targets restart from the top of the source; ``..`` stops at the top. The
        result names an existing entry that is not a symlink, or the path where a missing last
        component would be.

        Raises:
            LinkLoopError: more than ``hops`` links were followed.
            NotADirectoryInSourceError: a non-final component is not a directory.
        """
        pending = [p for p in path.split("/") if p and p != "."]
        pending.reverse()
        done: list[str] = []
        followed = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/".join([*done, part])
            try:
                entry = self.stat(candidate)
            except SourceNotFoundError:
                if pending:
                    raise
                return candidate
            if entry.is_symlink:
                followed += 1
                if followed > hops:
                    raise LinkLoopError(
                        f"{self.description}: {path}: more than {hops} symbolic links"
                    )
                target = entry.link_target or ""
                if target.startswith("/"):
                    done = []
                pending.extend(reversed([p for p in target.split("/") if p and p != "."]))
                continue
            if pending and not entry.is_dir:
                raise NotADirectoryInSourceError(
                    f"{self.description}: {candidate}: not a directory"
                )
            done.append(part)
        return "/".join(done)

    def walk(self, path: str = "") -> Iterator[tuple[str, list[Entry]]]:
        """Yield ``(directory, entries)`` top-down, one directory at a time, links not followed.

        Each directory is scanned once; only one directory's entries are held per level.
        Unreadable directories are skipped.
        """
        stack = [normpath(path)]
        while stack:
            top = stack.pop()
            try:
                entries = sorted(self.scandir(top), key=lambda e: e.path)
            except SourceError:
                continue
            yield top, entries
            stack.extend(e.path for e in reversed(entries) if e.is_dir)

    def file_sizes(
        self, path: str = "", *, dirs: bool = False, linked_only: bool = False
    ) -> Iterator[tuple[object, int, int | None]]:
        """Yield ``(inode, size, allocated)`` for every non-directory below ``path``.

        The cheap walk behind disk-usage figures: links are not followed, unreadable
        directories are skipped, each directory is scanned once.

        Args:
            path: the directory to walk (nothing is yielded if it is not one).
            dirs: also yield ``(None, 0, allocated)`` for every directory, ``path`` itself
                included: a directory's own blocks count on disk (as ``du`` counts them), but
                it has no content bytes and is never a hard link.
            linked_only: report ``inode`` only for entries with more than one name and
                ``None`` for the others, so that a caller counting each inode once (as ``du``
                does) remembers only hard-linked files. Entries without identity may then
                come summed, several in one tuple (the sums are all such a caller needs).
        """
        if dirs:
            try:
                top = self.stat(path)
            except SourceError:
                return
            if not top.is_dir:
                return
            yield None, 0, top.allocated
        for _, entries in self.walk(path):
            for e in entries:
                if e.is_dir:
                    if dirs:
                        yield None, 0, e.allocated
                elif linked_only and e.nlink < 2:
                    yield None, e.size, e.allocated
                else:
                    yield e.inode, e.size, e.allocated

    def sub(self, path: str) -> Source:
        """A source whose top is the directory ``path`` of this one."""
        path = normpath(path)
        if not path:
            return self
        if not self.is_dir(path):
            raise NotADirectoryInSourceError(f"{self.description}: {path}: not a directory")
        return SubSource(self, path)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OwningSource(Source):
    """A source that opens what it reads (descriptors of the evidence).

    One its user did not close releases them when it is collected; a source that borrows
    another's (a subtree, a view) has nothing of its own to release.
    """

    def __del__(self) -> None:
        try:  # (no module global here: at interpreter exit they may be gone already)
            self.close()
        except Exception:  # noqa: BLE001, S110 - nothing to do about it then
            pass


@dataclass
class SubSource(Source):
    """A view of one directory of another source, which becomes the view's top."""

    parent: Source
    prefix: str
    description: str = field(init=False)

    def __post_init__(self) -> None:
        self.description = f"{self.parent.description}/{self.prefix}"
        self.trusted_xattrs_visible = self.parent.trusted_xattrs_visible
        self.fork_safe = self.parent.fork_safe
        self.xattrs_recorded = self.parent.xattrs_recorded

    def _full(self, path: str) -> str:
        path = normpath(path)
        return f"{self.prefix}/{path}" if path else self.prefix

    def _strip(self, entry: Entry) -> Entry:
        rel = entry.path[len(self.prefix) + 1 :] if entry.path != self.prefix else ""
        return entry.moved(rel)

    def stat(self, path: str) -> Entry:  # noqa: D102 - see Source
        return self._strip(self.parent.stat(self._full(path)))

    def scandir(self, path: str) -> Iterator[Entry]:  # noqa: D102 - see Source
        return (self._strip(e) for e in self.parent.scandir(self._full(path)))

    def scan_dir(  # noqa: D102 - see Source
        self, path: str, *, real: bool = False
    ) -> tuple[list[tuple[str, Row]], dict[str, bytes]]:
        # Rows carry names, not paths: they need no change. ``real`` is not passed on: the
        # caller saw the components below the prefix, not the prefix's own.
        return self.parent.scan_dir(self._full(path))

    def open(self, path: str) -> BinaryIO:  # noqa: D102 - see Source
        return self.parent.open(self._full(path))

    def xattrs(self, path: str) -> dict[str, bytes]:  # noqa: D102 - see Source
        return self.parent.xattrs(self._full(path))

    def file_sizes(  # noqa: D102 - see Source
        self, path: str = "", *, dirs: bool = False, linked_only: bool = False
    ) -> Iterator[tuple[object, int, int | None]]:
        return self.parent.file_sizes(self._full(path), dirs=dirs, linked_only=linked_only)

    def close(self) -> None:  # noqa: D102 - see Source
        self.parent.close()

    def after_fork(self) -> None:  # noqa: D102 - see Source
        self.parent.after_fork()
