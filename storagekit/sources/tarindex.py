"""The index of a tar archive: one record per path, built member by member in archive order.

What the archive's members mean for the tree they describe:

* **Hard links** are members of type ``1`` that name an earlier member. They become entries with
  the target's type, size, mode and data but their own path; all names of one file share
  ``inode`` (the normalised path of the first member) and report the number of names as
  ``nlink``.
* **Implied directories**: ``a/b/c`` may come without ``a/`` or ``a/b/`` headers; such parents
  exist as directories (0o755, root, mtime 0), and the top ``""`` always does.
* **Replacement**: a later member with the same path replaces the earlier one, as extraction
  would; a directory re-stating a directory keeps its children.
* **Hostile and damaged members** are recorded as problems and left out: names with ``..`` or
  NUL, members below a non-directory (``x -> /etc`` then ``x/passwd``), unsupported types, bad
  sparse maps.

:class:`MemoryIndex` is what a :class:`~storagekit.sources.tarsource.TarSource` reads;
:class:`IndexBuilder` fills one; :mod:`storagekit.sources.indexcache` keeps one on disk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from storagekit.errors import UnsafePathError
from storagekit.source import FileType, normpath
from storagekit.sources.tarfeed import Feed
from storagekit.sources.tarscan import Member
from storagekit.sources.tarstream import READ_ERRORS

REGTYPE, DIRTYPE, SYMTYPE, LNKTYPE, FIFOTYPE = b"0", b"5", b"2", b"1", b"6"
_DEVICES = {b"3": FileType.CHARDEV, b"4": FileType.BLOCKDEV}
MAX_PROBLEMS = 1000  # a hostile archive can hold millions of bad members


@dataclass(frozen=True, slots=True)
class Extra:
    """The rarely present parts of an index record (most members have none)."""

    link_target: str | None = None
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] | None = None
    inode: str | None = None  # set for hard-linked names; else the entry's own path
    chunks: tuple[tuple[int, int, int], ...] | None = None  # sparse map, see Window
    damage: str | None = None  # why the data cannot be read


# One tuple per member keeps a million members in a few hundred MB:
# (type, mode, uid, gid, size, mtime_ns, data offset, extra).
Rec = tuple[FileType, int, int, int, int, int, int, Extra | None]
IMPLIED: Rec = (FileType.DIR, 0o755, 0, 0, 0, 0, 0, None)


def inode_of(path: str, rec: Rec) -> str:
    """The identity of the file at ``path``: shared by every name of a hard-linked file."""
    extra = rec[7]
    return path if extra is None or extra.inode is None else extra.inode


class Index(Protocol):
    """What a TarSource reads of its index, wherever the index is kept."""

    def get(self, path: str) -> Rec | None:
        """The record at a normalised ``path``, or None."""
        ...

    def children(self, path: str) -> list[str]:
        """The paths directly below the directory ``path``, in archive order."""
        ...

    def listing(self, path: str) -> list[tuple[str, Rec]]:
        """The paths directly below the directory ``path`` with their records."""
        ...

    def nlink(self, inode: str) -> int:
        """How many names the file ``inode`` has."""
        ...

    def data(self, offset: int) -> bytes | None:
        """The kept contents of the file whose data starts at ``offset``, if kept."""
        ...

    def paths(self) -> Iterator[str]:
        """Every path, in archive order."""
        ...

    def close(self) -> None:
        """Release what the index holds open."""
        ...

    def after_fork(self) -> None:
        """In a forked child: stop sharing what the parent holds open."""
        ...


class MemoryIndex:
    """An archive's index in memory.

    Attributes:
        records: path -> record, in the order the members came (implied directories too).
        kids: directory path -> its children's paths, in the same order.
        links: inode key -> number of names, for hard-linked files only.
        blobs: data offset -> contents of the small files kept in memory (compressed archives).
    """

    def __init__(self) -> None:
        self.records: dict[str, Rec] = {"": IMPLIED}
        self.kids: dict[str, list[str]] = {}
        self.links: dict[str, int] = {}
        self.blobs: dict[int, bytes] = {}

    def get(self, path: str) -> Rec | None:
        """The record at a normalised ``path``, or None."""
        return self.records.get(path)

    def children(self, path: str) -> list[str]:
        """The paths directly below the directory ``path``, in archive order."""
        return self.kids.get(path, [])

    def listing(self, path: str) -> list[tuple[str, Rec]]:
        """The paths directly below the directory ``path`` with their records."""
        records = self.records
        return [(c, records[c]) for c in self.kids.get(path, ())]

    def nlink(self, inode: str) -> int:
        """How many names the file ``inode`` has."""
        return self.links.get(inode, 1)

    def data(self, offset: int) -> bytes | None:
        """The kept contents of the file whose data starts at ``offset``, if kept."""
        return self.blobs.get(offset)

    def paths(self) -> Iterator[str]:
        """Every path, in archive order."""
        return iter(self.records)

    def close(self) -> None:
        """Nothing to release."""

    def after_fork(self) -> None:
        """Nothing is shared but memory, which the child has its own copy of."""


class IndexBuilder(MemoryIndex):
    """Fills a :class:`MemoryIndex` from members in archive order.

    Attributes:
        problems: one line per member that was skipped or is damaged.
        unlisted: problems past the first thousand, counted only.
        xattr_members: members that carried extended attributes (none at all in an archive of
            overlay2 layers means it was made without ``--xattrs``).
    """

    def __init__(self, keep_budget: int, keep_largest: int, part: bool = False) -> None:
        """Index members; with ``part``, those of a part of an archive after its start.

        A part's hard link to a file it does not hold then sets :attr:`foreign` instead of
        being a problem (the file may be in the part before).
        """
        super().__init__()
        self.part = part
        self.foreign = False
        self.problems: list[str] = []
        self.unlisted = 0
        self.xattr_members = 0
        self._budget, self._largest = keep_budget, keep_largest
        self._cached, self._serial = 0, 0
        self.modes: dict[int, int] = {}  # permission bits, interned

    @property
    def serial(self) -> int:
        """How many names were given numbered identities (a hard-linked file replaced)."""
        return self._serial

    def problem(self, text: str) -> None:
        """Record a problem (at most a thousand are listed; the rest are counted)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.unlisted += 1

    def damage(self, path: str, why: str) -> None:
        """Mark the data of ``path`` unreadable, saying why."""
        rec = self.records[path]
        self.records[path] = (*rec[:7], dataclasses.replace(rec[7] or Extra(), damage=why))

    def add(self, member: Member, feed: Feed, plain: bool) -> tuple[str, int, int] | None:
        """Index one member; return (path, data offset, stored size) for a regular file."""
        try:
            path = normpath(member.name)
        except UnsafePathError:
            self.problem(f"{member.name!r}: unsafe member name, not indexed")
            return None
        kind_flag = member.type
        if not path and kind_flag != DIRTYPE:
            self.problem(f"{member.name!r}: names the top but is not a directory, not indexed")
            return None
        xattrs = member.xattrs
        extra = Extra(xattrs=xattrs) if xattrs else None
        if xattrs:
            self.xattr_members += 1
        perm = member.mode & 0o7777
        mode = self.modes.setdefault(perm, perm)
        head: tuple[int, int, int] = (mode, member.uid, member.gid)
        offset, size = member.offset_data, 0
        if kind_flag == REGTYPE:
            kind, size = FileType.FILE, member.size
            if member.sparse is not None:
                chunks = None if isinstance(member.sparse, str) else member.sparse
                damage = None if chunks is not None else "inconsistent sparse map"
                extra = Extra(xattrs=xattrs or None, chunks=chunks, damage=damage)
        elif kind_flag == DIRTYPE:
            kind = FileType.DIR
        elif kind_flag == SYMTYPE:
            target = member.linkname
            kind, size = FileType.SYMLINK, len(target.encode("utf-8", "surrogateescape"))
            extra = Extra(link_target=target, xattrs=xattrs or None)
        elif kind_flag in _DEVICES:
            kind = _DEVICES[kind_flag]
            extra = Extra(rdev=(member.devmajor, member.devminor), xattrs=xattrs or None)
        elif kind_flag == FIFOTYPE:
            kind = FileType.FIFO
        elif kind_flag == LNKTYPE:
            self._add_hardlink(path, member)
            return None
        else:
            self.problem(f"{path}: unsupported member type {kind_flag!r}, not indexed")
            return None
        if not self._parents(path, member.name):
            return None
        if kind is FileType.FILE and not plain and member.sparse is None:
            self._keep(member, feed)
        self._put(path, (kind, *head, size, member.mtime_ns, offset, extra))
        if kind is not FileType.FILE:
            return None
        return path, offset, sum(c[1] for c in extra.chunks) if extra and extra.chunks else size

    def place(self, path: str, name: str, rec: Rec) -> bool:
        """Index a member read ahead as a record (``name`` as the archive gave it).

        The steps :meth:`add` takes once it has the record: implied parents made, a later
        member replacing an earlier one. False if it was left out (a parent is not a
        directory).
        """
        if not self._parents(path, name):
            return False
        self._put(path, rec)
        return True

    def _add_hardlink(self, path: str, member: Member) -> None:
        try:
            target = normpath(member.linkname)
        except UnsafePathError:
            self.problem(f"{path}: hard link to unsafe name {member.linkname!r}, not indexed")
            return
        rec = self.records.get(target)
        if rec is None and self.part:
            self.foreign = True
            return
        if rec is None or rec[0] is FileType.DIR:
            what = "a directory" if rec else "a missing member"
            self.problem(f"{path}: hard link to {what} {target!r}, not indexed")
            return
        if not self._parents(path, member.name):
            return
        key = inode_of(target, rec)
        self.links[key] = self.links.get(key, 1) + 1
        self._put(path, (*rec[:7], dataclasses.replace(rec[7] or Extra(), inode=key)))

    def _keep(self, member: Member, feed: Feed) -> None:
        """Cache a small regular file of a compressed archive while the stream passes by."""
        if member.size > self._largest or self._cached + member.size > self._budget:
            return
        try:
            data = feed.read(member.size)
        except READ_ERRORS:
            return  # the end-of-archive check reports the damage
        if len(data) == member.size:  # else the end-of-archive check reports the truncation
            self.blobs[member.offset_data] = data
            self._cached += len(data)

    def _parents(self, path: str, name: str) -> bool:
        """Create the implied parent directories of ``path``; False if one is not a directory."""
        missing: list[str] = []
        parent = path
        while parent:
            parent = parent.rpartition("/")[0]
            rec = self.records.get(parent)
            if rec is not None:
                if rec[0] is not FileType.DIR:
                    self.problem(f"{name!r}: {parent} is not a directory, not indexed")
                    return False
                break
            missing.append(parent)
        for p in reversed(missing):
            self._put(p, IMPLIED)
        return True

    def _put(self, path: str, rec: Rec) -> None:
        old = self.records.get(path)
        if old is None:
            self.kids.setdefault(path.rpartition("/")[0], []).append(path)
        elif not (old[0] is FileType.DIR and rec[0] is FileType.DIR):
            self._forget(path, old)
        if (rec[7] is None or rec[7].inode is None) and path in self.links:
            # Earlier names hard-linked to a file that was at this path keep its identity.
            self._serial += 1
            rec = (
                *rec[:7],
                dataclasses.replace(rec[7] or Extra(), inode=f"{path}//{self._serial}"),
            )
        self.records[path] = rec

    def _forget(self, path: str, old: Rec) -> None:
        """Drop what ``path`` held before a later member replaced it, its subtree included."""
        stack, gone = [(path, old)], 0
        while stack:
            p, rec = stack.pop()
            key = inode_of(p, rec)
            names = self.links.pop(key, 1) - 1
            if names:
                self.links[key] = names
            elif rec[0] is FileType.FILE:  # the last name of the file: release its cached data
                self._cached -= len(self.blobs.pop(rec[6], b""))
            for child in self.kids.pop(p, ()):
                stack.append((child, self.records.pop(child)))
                gone += 1
        if gone:
            self.problem(f"{path}: a later member replaces a directory of {gone} entries")
