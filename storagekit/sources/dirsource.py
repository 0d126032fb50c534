"""A directory on the host as a read-only :class:`~storagekit.source.Source`.

Every path is walked one component at a time with ``O_NOFOLLOW | O_DIRECTORY`` relative to the
previous directory's descriptor, so a symlink planted anywhere in the evidence (``diff -> /etc``)
is never followed on the host. Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO never
blocks) and ``O_NOATIME`` where the kernel permits it, so reading leaves access times alone.
Nothing is ever opened for writing.
"""

from __future__ import annotations

import errno
import os
import stat as st
from collections import OrderedDict
from collections.abc import Iterator
from typing import BinaryIO

from storagekit.errors import NotADirectoryInSourceError, SourceError, SourceNotFoundError
from storagekit.source import Entry, FileType, Source, normpath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
_FD_CACHE = 64

_TYPES = {
    st.S_IFREG: FileType.FILE,
    st.S_IFDIR: FileType.DIR,
    st.S_IFLNK: FileType.SYMLINK,
    st.S_IFCHR: FileType.CHARDEV,
    st.S_IFBLK: FileType.BLOCKDEV,
    st.S_IFIFO: FileType.FIFO,
    st.S_IFSOCK: FileType.SOCKET,
}


def _open_noatime(path: str, flags: int, dir_fd: int | None = None) -> int:
    """``os.open`` with ``O_NOATIME`` where the kernel permits it (owner or CAP_FOWNER).

    Reading a directory or file through such a descriptor leaves its access time alone.
    """
    if _NOATIME:
        try:
            return os.open(path, flags | _NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass
    return os.open(path, flags, dir_fd=dir_fd)


def entry_from_stat(path: str, s: os.stat_result, link_target: str | None = None) -> Entry:
    """Build an :class:`Entry` from an ``lstat`` result."""
    kind = _TYPES.get(st.S_IFMT(s.st_mode), FileType.FILE)
    rdev = None
    if kind in (FileType.CHARDEV, FileType.BLOCKDEV):
        rdev = (os.major(s.st_rdev), os.minor(s.st_rdev))
    return Entry(
        path=path,
        type=kind,
        mode=st.S_IMODE(s.st_mode),
        uid=s.st_uid,
        gid=s.st_gid,
        size=s.st_size,
        mtime_ns=s.st_mtime_ns,
        nlink=s.st_nlink,
        inode=(s.st_dev, s.st_ino),
        rdev=rdev,
        link_target=link_target,
        allocated=s.st_blocks * 512,
    )


class DirSource(Source):
    """A directory tree on the host, read without following any link inside it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.description = self.root
        try:
            self._root_fd = _open_noatime(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise SourceError(f"{self.root}: cannot open directory: {exc.strerror}") from exc
        self._fds: OrderedDict[str, int] = OrderedDict()
        self.trusted_xattrs_visible = os.geteuid() == 0

    def close(self) -> None:
        """Close every descriptor the source holds."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def _error(self, path: str, exc: OSError) -> SourceError:
        where = f"{self.description}: {path or '.'}"
        if exc.errno == errno.ENOENT:
            return SourceNotFoundError(f"{where}: no such file or directory")
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            return NotADirectoryInSourceError(f"{where}: not a directory (or a link to one)")
        return SourceError(f"{where}: {exc.strerror}")

    def _dirfd(self, path: str) -> int:
        """A descriptor of the directory ``path``, opened component by component."""
        if not path:
            return self._root_fd
        fd = self._fds.get(path)
        if fd is not None:
            self._fds.move_to_end(path)
            return fd
        head, _, name = path.rpartition("/")
        parent = self._dirfd(head)
        try:
            fd = _open_noatime(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise self._error(path, exc) from None
        self._fds[path] = fd
        if len(self._fds) > _FD_CACHE:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        return fd

    def _split(self, path: str) -> tuple[int, str]:
        head, _, name = normpath(path).rpartition("/")
        return self._dirfd(head), name

    def stat(self, path: str) -> Entry:
        """See :meth:`Source.stat`."""
        path = normpath(path)
        if not path:
            return entry_from_stat("", os.fstat(self._root_fd))
        fd, name = self._split(path)
        try:
            s = os.stat(name, dir_fd=fd, follow_symlinks=False)
            target = os.readlink(name, dir_fd=fd) if st.S_ISLNK(s.st_mode) else None
        except OSError as exc:
            raise self._error(path, exc) from None
        return entry_from_stat(path, s, target)

    def scandir(self, path: str) -> Iterator[Entry]:
        """See :meth:`Source.scandir`."""
        path = normpath(path)
        fd = self._dirfd(path)
        prefix = f"{path}/" if path else ""
        try:
            it = os.scandir(fd)
        except OSError as exc:
            raise self._error(path, exc) from None
        with it:
            for de in it:
                try:
                    s = de.stat(follow_symlinks=False)
                    target = os.readlink(de.name, dir_fd=fd) if st.S_ISLNK(s.st_mode) else None
                except OSError:
                    continue  # vanished or unreadable: not evidence we can speak for
                yield entry_from_stat(prefix + de.name, s, target)

    def listdir(self, path: str) -> list[str]:
        """See :meth:`Source.listdir` (without a stat per entry)."""
        path = normpath(path)
        fd = self._dirfd(path)
        try:
            return sorted(os.listdir(fd))
        except OSError as exc:
            raise self._error(path, exc) from None

    def open(self, path: str) -> BinaryIO:
        """See :meth:`Source.open`."""
        path = normpath(path)
        fd, name = self._split(path)
        try:
            ffd = _open_noatime(name, _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise self._error(path, exc) from None
        if not st.S_ISREG(os.fstat(ffd).st_mode):
            os.close(ffd)
            raise SourceError(f"{self.description}: {path}: not a regular file")
        return os.fdopen(ffd, "rb")

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """See :meth:`Source.read_bytes` (one descriptor, no buffered file object)."""
        path = normpath(path)
        fd, name = self._split(path)
        try:
            ffd = _open_noatime(name, _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise self._error(path, exc) from None
        try:
            info = os.fstat(ffd)
            if not st.S_ISREG(info.st_mode):
                raise SourceError(f"{self.description}: {path}: not a regular file")
            want = info.st_size + 1 if limit is None else limit
            chunks = []
            while want > 0:
                chunk = os.read(ffd, min(want, 1 << 24))
                if not chunk:
                    break
                chunks.append(chunk)
                if limit is not None:
                    want -= len(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise self._error(path, exc) from None
        finally:
            os.close(ffd)

    def xattrs(self, path: str) -> dict[str, bytes]:
        """See :meth:`Source.xattrs`; names the kernel hides from this user are absent."""
        path = normpath(path)
        fd, name = self._split(path)
        # /proc/self/fd/N is the directory itself; the final name is not followed.
        where = f"/proc/self/fd/{fd}/{name}" if name else f"/proc/self/fd/{fd}"
        try:
            names = os.listxattr(where, follow_symlinks=False)
            return {n: os.getxattr(where, n, follow_symlinks=False) for n in names}
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EPERM, errno.EACCES):
                return {}
            raise self._error(path, exc) from None
