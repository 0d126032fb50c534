"""What an open descriptor of the evidence holds: a directory's rows and xattrs, file bytes.

Nothing here resolves a path beyond one name below a directory descriptor, follows a link, or
opens anything for writing (the caller, :mod:`storagekit.sources.dirsource`, decides what may be
opened and how). Errors are left as ``OSError`` for it to name.
"""

from __future__ import annotations

import errno
import os
import stat as st

from storagekit.source import CHUNK, Entry, FileType, Row, Writer

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
_FIRST_READ = 1 << 16

_TYPES = {
    st.S_IFREG: FileType.FILE,
    st.S_IFDIR: FileType.DIR,
    st.S_IFLNK: FileType.SYMLINK,
    st.S_IFCHR: FileType.CHARDEV,
    st.S_IFBLK: FileType.BLOCKDEV,
    st.S_IFIFO: FileType.FIFO,
    st.S_IFSOCK: FileType.SOCKET,
}


#: File types by ``st_mode >> 12`` (unknown types read as regular files).
_KINDS = [_TYPES.get(i << 12, FileType.FILE) for i in range(16)]


def open_noatime(path: str, flags: int, dir_fd: int | None = None) -> int:
    """``os.open`` with ``O_NOATIME`` where the kernel permits it (owner or CAP_FOWNER).

    Reading a directory or file through such a descriptor leaves its access time alone.
    """
    if _NOATIME:
        try:
            return os.open(path, flags | _NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass
    return os.open(path, flags, dir_fd=dir_fd)


def identity(s: os.stat_result) -> tuple[int, int]:
    """What tells two directories apart: device and inode."""
    return s.st_dev, s.st_ino


def stat_row(s: os.stat_result, link_target: str | None = None) -> Row:
    """An ``lstat`` result as a :data:`~storagekit.source.Row` (the fields after the path)."""
    mode = s.st_mode
    kind = _KINDS[mode >> 12]
    rdev = None
    if kind is FileType.CHARDEV or kind is FileType.BLOCKDEV:
        rdev = (os.major(s.st_rdev), os.minor(s.st_rdev))
    return (
        kind,
        mode & 0o7777,
        s.st_uid,
        s.st_gid,
        s.st_size,
        s.st_mtime_ns,
        s.st_nlink,
        (s.st_dev, s.st_ino),
        rdev,
        link_target,
        s.st_blocks * 512,
    )


def entry_from_stat(path: str, s: os.stat_result, link_target: str | None = None) -> Entry:
    """Build an :class:`Entry` from an ``lstat`` result."""
    return Entry.from_row(path, stat_row(s, link_target))


def fd_xattrs(fd: int) -> dict[str, bytes]:
    """The extended attributes of an open file; names hidden from this user are absent."""
    try:
        return {n: os.getxattr(fd, n) for n in os.listxattr(fd)}
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.ENODATA):
            return {}
        raise


def fd_rows(fd: int) -> list[tuple[str, Row]]:
    """Every entry of an open directory as (name, :data:`~storagekit.source.Row`).

    One ``fstatat`` per name, a ``readlinkat`` per link; names that vanish or cannot be
    stat'ed are left out (not evidence we can speak for).
    """
    names = os.listdir(fd)
    rows: list[tuple[str, Row]] = []
    add, stat, row = rows.append, os.stat, stat_row
    for name in names:
        try:
            s = stat(name, dir_fd=fd, follow_symlinks=False)
            target = os.readlink(name, dir_fd=fd) if st.S_ISLNK(s.st_mode) else None
        except OSError:
            continue  # vanished or unreadable: not evidence we can speak for
        add((name, row(s, target)))
    return rows


_ONE_READ = 1 << 30


def read_fd(ffd: int, limit: int | None) -> bytes:
    """Read up to ``limit`` bytes (all when ``None``) of an open regular file.

    Most metadata files are tiny: the first read asks for 64 KiB and a short read ends it;
    only larger files cost an ``fstat`` and a second read of the whole (up to 1 GiB: reading
    the rest in pieces and joining them cost several times as much).
    """
    first = os.read(ffd, _FIRST_READ if limit is None else min(limit, _FIRST_READ))
    if len(first) < _FIRST_READ or (limit is not None and len(first) >= limit):
        return first
    want = os.fstat(ffd).st_size + 1 if limit is None else limit
    if want <= _ONE_READ:  # all of it again in one read from the start: no pieces to join
        return os.pread(ffd, want, 0)
    chunks = [first]
    want -= len(first)
    while want > 0:
        ask = min(want, 1 << 24)
        chunk = os.read(ffd, ask)
        chunks.append(chunk)
        if len(chunk) < ask:  # a short read of a regular file is its end
            break
        want -= len(chunk)
    return b"".join(chunks)


def copy_fd(ffd: int, size: int, write: Writer) -> int:
    """Send at most ``size`` bytes of an open regular file to ``write``; returns how many."""
    done = 0
    while done < size:
        data = os.read(ffd, min(CHUNK, size - done))
        if not data:
            break
        write(data)
        done += len(data)
    return done
