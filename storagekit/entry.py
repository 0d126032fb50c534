"""Entries of a read-only source: :class:`Entry`, its plain-tuple form :data:`Row`, and paths.

Paths inside a source are POSIX strings relative to its top, without a leading slash; ``""`` is
the top itself. Names that are not valid UTF-8 are carried as ``str`` with ``surrogateescape``
(as :func:`os.fsdecode` does), so any byte string round-trips. :func:`normpath` is the one place
that decides whether a path may be used: ``..`` and NUL bytes are refused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from storagekit.errors import UnsafePathError


class FileType(enum.Enum):
    """The type of an entry, with the names used in storagekit's JSON output."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    CHARDEV = "chardev"
    BLOCKDEV = "blockdev"
    FIFO = "fifo"
    SOCKET = "socket"


@dataclass(frozen=True, slots=True)
class Entry:
    """What ``lstat`` says about one path inside a source.

    Attributes:
        path: the path inside the source ("" for its top).
        type: the file type.
        mode: permission bits including set-id and sticky bits (``st_mode & 0o7777``).
        uid: owner.
        gid: group.
        size: apparent size in bytes (for a symlink, the length of its target, as ``lstat``).
        mtime_ns: modification time in nanoseconds since the epoch.
        nlink: hard link count (1 where the source cannot tell).
        inode: identity of the underlying file: equal for hard links to the same data. For a
            directory source ``(st_dev, st_ino)``, for a tar the path of the first member.
        rdev: ``(major, minor)`` for character and block devices, else ``None``.
        link_target: the target of a symlink, else ``None``.
        allocated: bytes allocated on disk (``st_blocks * 512``) where the source knows it, else
            ``None`` (tar members have no allocation).
    """

    path: str
    type: FileType
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    nlink: int = 1
    inode: object = None
    rdev: tuple[int, int] | None = None
    link_target: str | None = None
    allocated: int | None = None

    @property
    def name(self) -> str:
        """The last component of :attr:`path`."""
        return self.path.rpartition("/")[2]

    def moved(self, path: str) -> Entry:
        """The same entry under another path (a view's path for a layer's entry)."""
        return Entry.from_row(path, self.row)

    @classmethod
    def from_row(cls, path: str, row: Row) -> Entry:
        """``Entry(path, *row)``, several times faster (slots filled directly: no checks run)."""
        entry = _new(cls)
        _SET_PATH(entry, path)
        _SET_TYPE(entry, row[0])
        _SET_MODE(entry, row[1])
        _SET_UID(entry, row[2])
        _SET_GID(entry, row[3])
        _SET_SIZE(entry, row[4])
        _SET_MTIME(entry, row[5])
        _SET_NLINK(entry, row[6])
        _SET_INODE(entry, row[7])
        _SET_RDEV(entry, row[8])
        _SET_LINK(entry, row[9])
        _SET_ALLOCATED(entry, row[10])
        return entry

    @property
    def row(self) -> Row:
        """Every field but the path, as :meth:`Source.scan_dir` gives them."""
        return (
            self.type,
            self.mode,
            self.uid,
            self.gid,
            self.size,
            self.mtime_ns,
            self.nlink,
            self.inode,
            self.rdev,
            self.link_target,
            self.allocated,
        )

    @property
    def is_dir(self) -> bool:
        """True for a directory."""
        return self.type is FileType.DIR

    @property
    def is_file(self) -> bool:
        """True for a regular file."""
        return self.type is FileType.FILE

    @property
    def is_symlink(self) -> bool:
        """True for a symbolic link."""
        return self.type is FileType.SYMLINK


_new = object.__new__
(
    _SET_PATH,
    _SET_TYPE,
    _SET_MODE,
    _SET_UID,
    _SET_GID,
    _SET_SIZE,
    _SET_MTIME,
    _SET_NLINK,
    _SET_INODE,
    _SET_RDEV,
    _SET_LINK,
    _SET_ALLOCATED,
) = (Entry.__dict__[name].__set__ for name in Entry.__slots__)

#: An entry's fields after its path, in :class:`Entry` order (``Entry(path, *row)`` rebuilds it):
#: type, mode, uid, gid, size, mtime_ns, nlink, inode, rdev, link_target, allocated. Bulk
#: readers (:meth:`Source.scan_dir`) use plain tuples because building an Entry per name of
#: every layer costs more than the ``lstat`` behind it.
Row: TypeAlias = tuple[
    FileType, int, int, int, int, int, int, object, tuple[int, int] | None, str | None, int | None
]
#: Row field positions.
R_TYPE, R_MODE, R_UID, R_GID, R_SIZE, R_MTIME, R_NLINK, R_INODE, R_RDEV, R_LINK = range(10)


def normpath(path: str) -> str:
    """Normalise a path inside a source: no leading or trailing slash, no ``.`` components.

    ``..`` components are refused: callers that need to resolve them do so explicitly with
    chroot semantics (:meth:`Source.resolve`).

    Raises:
        UnsafePathError: the path contains ``..`` or a NUL byte.
    """
    # The common case, a path that is already normal, costs a few substring searches.
    if not path:
        return path
    if "\0" not in path and "//" not in path and path[0] != "/" and path[-1] != "/":
        wrapped = f"/{path}/"
        if "/./" not in wrapped and "/../" not in wrapped:
            return path
    if "\0" in path:
        raise UnsafePathError(f"path contains a NUL byte: {path!r}")
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise UnsafePathError(f"path leaves its directory: {path!r}")
    return "/".join(parts)


def join(*parts: str) -> str:
    """Join path components inside a source (empty components are skipped)."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def is_safe_name(name: str) -> bool:
    """True if ``name`` can be used as one path component: non-empty, no ``/``, not ``.``/``..``."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")
