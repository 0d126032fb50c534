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
from collections.abc import Collection, Iterator
from typing import BinaryIO

from storagekit.errors import NotADirectoryInSourceError, SourceError, SourceNotFoundError
from storagekit.source import Entry, OwningSource, Row, Writer, normpath
from storagekit.sources.fdread import (
    DIR_FLAGS,
    FILE_FLAGS,
    copy_fd,
    entry_from_stat,
    fd_rows,
    fd_xattrs,
    identity,
    open_noatime,
    read_fd,
)
from storagekit.sources.fdwalk import walk_sizes

_FD_CACHE = 256
#: Paths shorter than this (in characters: at most 4 bytes each) always fit PATH_MAX.
_ONE_CALL = 1000


class DirSource(OwningSource):
    """A directory tree on the host, read without following any link inside it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.description = self.root
        try:
            self._root_fd = open_noatime(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise SourceError(f"{self.root}: cannot open directory: {exc.strerror}") from exc
        self._fds: OrderedDict[str, int] = OrderedDict()
        # Paths whose every component is known to be a real directory (opened with
        # O_NOFOLLOW, or reported as a directory, not a link, by a scan of a known one).
        # Below them a path can be resolved by the kernel in one call without following links.
        self._real_dirs: set[str] = {""}
        self._identity = identity(os.fstat(self._root_fd))
        self.trusted_xattrs_visible = os.geteuid() == 0
        self.fork_safe = True

    def close(self) -> None:
        """Close every descriptor the source holds."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def after_fork(self) -> None:
        """Reopen every descriptor, so parent and child never share a directory offset."""
        self.close()
        try:
            fd = open_noatime(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise SourceError(f"{self.root}: cannot reopen directory: {exc.strerror}") from exc
        if identity(os.fstat(fd)) != self._identity:
            os.close(fd)
            raise SourceError(f"{self.root}: the directory was replaced while being read")
        self._root_fd = fd

    def _error(self, path: str, exc: OSError) -> SourceError:
        where = f"{self.description}: {path or '.'}"
        if exc.errno == errno.ENOENT:
            return SourceNotFoundError(f"{where}: no such file or directory")
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            return NotADirectoryInSourceError(f"{where}: not a directory (or a link to one)")
        return SourceError(f"{where}: {exc.strerror}")

    def _dirfd(self, path: str) -> int:
        """A descriptor of the directory ``path``, opened component by component.

        From the deepest directory already open, down: no recursion, however deep the tree.
        """
        if not path:
            return self._root_fd
        fds = self._fds
        fd = fds.get(path)
        if fd is not None:
            fds.move_to_end(path)
            return fd
        parts = path.split("/")
        depth = len(parts) - 1
        while depth and "/".join(parts[:depth]) not in fds:
            depth -= 1
        done = "/".join(parts[:depth])
        fd = fds[done] if depth else self._root_fd
        for name in parts[depth:]:
            done = f"{done}/{name}" if done else name
            try:
                fd = open_noatime(name, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise self._error(done, exc) from None
            fds[done] = fd
            self._real_dirs.add(done)
            if len(fds) > _FD_CACHE:
                _, old = fds.popitem(last=False)
                if old == fd:  # pragma: no cover - the cache holds more than one level
                    raise SourceError(f"{self.description}: descriptor cache too small")
                os.close(old)
        return fd

    def _open_below(self, path: str, flags: int) -> int:
        """Open ``path`` (normal, made of scanned names) below the root in one call.

        A path longer than the kernel takes (``ENAMETOOLONG``: about 4 KiB, a deep tree) is
        opened from its parent's descriptor instead, reached component by component: a deep
        tree is never cut where its paths grow too long.
        """
        try:
            return open_noatime(path, flags, dir_fd=self._root_fd)
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
        head, _, name = path.rpartition("/")
        return open_noatime(name, flags, dir_fd=self._dirfd(head))

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

    def _mode(self, path: str) -> int | None:
        """``st_mode`` of ``path`` (not following a final link), ``None`` when unreachable."""
        path = normpath(path)
        head = path.rpartition("/")[0]
        if path and head in self._real_dirs:
            try:
                return os.stat(path, dir_fd=self._root_fd, follow_symlinks=False).st_mode
            except OSError as exc:
                if exc.errno != errno.ENAMETOOLONG:
                    return None
        try:
            fd, name = self._split(path)
            if not name:
                return os.fstat(fd).st_mode
            return os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except OSError:
            return None

    def readlink(self, path: str) -> str:
        """See :meth:`Source.readlink` (one ``readlinkat``, no stat)."""
        path = normpath(path)
        fd, name = self._split(path)
        try:
            return os.readlink(name, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise SourceError(f"{self.description}: {path}: not a symbolic link") from None
            raise self._error(path, exc) from None

    def exists(self, path: str) -> bool:
        """See :meth:`Source.exists` (no Entry built)."""
        return self._mode(path) is not None

    def is_dir(self, path: str) -> bool:
        """See :meth:`Source.is_dir` (no Entry built)."""
        mode = self._mode(path)
        return mode is not None and st.S_ISDIR(mode)

    def is_file(self, path: str) -> bool:
        """See :meth:`Source.is_file` (no Entry built)."""
        mode = self._mode(path)
        return mode is not None and st.S_ISREG(mode)

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

    def scan_dir(
        self, path: str, *, real: bool = False
    ) -> tuple[list[tuple[str, Row]], dict[str, bytes]]:
        """See :meth:`Source.scan_dir`: one ``fstatat`` per name (a ``readlinkat`` per link).

        With ``real`` the path is already normal (made of scanned names) and the directory
        is opened in one call from the top (``O_NOFOLLOW`` on the last component; the caller
        vouches for the others) rather than component by component: a merge of a hundred
        layers visits a hundred such directories for each directory of the view. Either way
        the descriptor stays in the cache, for the files read next (:meth:`copy_file`).
        """
        if not real:
            path = normpath(path)
            fd = self._dirfd(path)
        else:
            got = self._fds.get(path) if path else self._root_fd
            try:
                if got is None:
                    got = self._cache_fd(path, self._open_below(path, DIR_FLAGS))
            except OSError as exc:
                raise self._error(path, exc) from None
            fd = got
        try:
            return fd_rows(fd), fd_xattrs(fd)
        except OSError as exc:
            raise self._error(path, exc) from None

    def _cache_fd(self, path: str, fd: int) -> int:
        """Keep the descriptor of the directory ``path`` (the oldest one is closed)."""
        fds = self._fds
        fds[path] = fd
        if len(fds) > _FD_CACHE:
            _, old = fds.popitem(last=False)
            os.close(old)
        return fd

    def copy_file(self, path: str, size: int, write: Writer, *, real: bool = False) -> int:
        """See :meth:`Source.copy_file`: ``read`` on an ``O_NOFOLLOW`` descriptor, no file object.

        The type is checked with ``lstat`` before the open, unless the caller vouches for the
        directories above (``real``: it scanned them, and the file, as such), and with
        ``fstat`` on the descriptor before anything is read.
        """
        if real:
            head, _, name = path.rpartition("/")
            fd = self._fds.get(head) if head else self._root_fd
            try:
                if fd is None:
                    ffd = self._open_below(path, FILE_FLAGS)
                else:
                    ffd = open_noatime(name, FILE_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise self._error(path, exc) from None
        else:
            path = normpath(path)
            fd, name = self._split(path)
            ffd = self._open_regular(fd, name, path)
        try:
            if not st.S_ISREG(os.fstat(ffd).st_mode):
                raise SourceError(f"{self.description}: {path}: not a regular file")
            return copy_fd(ffd, size, write)
        except OSError as exc:
            raise self._error(path, exc) from None
        finally:
            os.close(ffd)

    def file_sizes(
        self, path: str = "", *, dirs: bool = False, linked_only: bool = False
    ) -> Iterator[tuple[object, int, int | None]]:
        """See :meth:`Source.file_sizes`: :func:`~storagekit.sources.fdwalk.walk_sizes`."""
        path = normpath(path)
        try:
            top = os.dup(self._dirfd(path))
        except (SourceError, OSError):
            return
        yield from walk_sizes(top, dirs=dirs, linked_only=linked_only)

    def listdir(self, path: str) -> list[str]:
        """See :meth:`Source.listdir` (without a stat per entry)."""
        path = normpath(path)
        fd = self._dirfd(path)
        try:
            return sorted(os.listdir(fd))
        except OSError as exc:
            raise self._error(path, exc) from None

    def _open_regular(self, fd: int, name: str, path: str, known: bool = False) -> int:
        """Open a regular file below ``fd`` without ever opening anything else.

        The type is checked with ``lstat`` *before* the open: a device node planted in the
        evidence (a watchdog, a tape, the host's disk) is never opened. ``known`` skips that
        check when a directory scan already said "regular file". The descriptor is verified to
        be the file that was checked.
        """
        try:
            if not known:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not st.S_ISREG(info.st_mode):
                    raise SourceError(f"{self.description}: {path}: not a regular file")
            ffd = open_noatime(name, FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            if isinstance(exc, SourceError):
                raise
            raise self._error(path, exc) from None
        if not known and not st.S_ISREG(os.fstat(ffd).st_mode):
            os.close(ffd)
            raise SourceError(f"{self.description}: {path}: not a regular file")
        return ffd

    def subdirs(self, path: str) -> tuple[list[str], list[str]]:
        """See :meth:`Source.subdirs` (file types from the directory scan, no stat each)."""
        path = normpath(path)
        fd = self._dirfd(path)
        dirs: list[str] = []
        others: list[str] = []
        try:
            with os.scandir(fd) as it:
                for de in it:
                    try:
                        is_dir = de.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    (dirs if is_dir else others).append(de.name)
        except OSError as exc:
            raise self._error(path, exc) from None
        prefix = f"{path}/" if path else ""
        self._real_dirs.update(prefix + d for d in dirs)
        return sorted(dirs), sorted(others)

    def open(self, path: str) -> BinaryIO:
        """See :meth:`Source.open`."""
        path = normpath(path)
        fd, name = self._split(path)
        return os.fdopen(self._open_regular(fd, name, path), "rb")

    def _read_fd(self, ffd: int, limit: int | None, path: str) -> bytes:
        """Read up to ``limit`` bytes (all when ``None``) and close the descriptor."""
        try:
            return read_fd(ffd, limit)
        except OSError as exc:
            raise self._error(path, exc) from None
        finally:
            os.close(ffd)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """See :meth:`Source.read_bytes` (one descriptor, no buffered file object).

        A file in a directory a scan has seen as a real one (``containers/<id>/config.v2.json``
        after ``containers/`` was listed) is reached in one call from the top, without opening
        and caching a descriptor of a directory that is visited once.
        """
        path = normpath(path)
        head = path.rpartition("/")[0]
        if head and head in self._real_dirs and len(path) < _ONE_CALL:
            fd, name = self._root_fd, path
        else:
            fd, name = self._split(path)
        return self._read_fd(self._open_regular(fd, name, path), limit, path)

    def read_small_files(
        self, directory: str, names: Collection[str], limit: int
    ) -> tuple[dict[str, bytes], set[str]]:
        """See :meth:`Source.read_small_files`: one directory scan, then one read per file.

        Metadata directories are visited once each, so the directory's descriptor is opened
        for this call and closed again rather than kept in the descriptor cache.
        """
        directory = normpath(directory)
        head, _, last = directory.rpartition("/")
        try:
            fd = open_noatime(last, DIR_FLAGS, dir_fd=self._dirfd(head)) if last else -1
        except OSError as exc:
            raise self._error(directory, exc) from None
        dfd = fd if fd >= 0 else self._root_fd
        contents: dict[str, bytes] = {}
        present: set[str] = set()
        try:
            with os.scandir(dfd) as it:
                for de in it:
                    name = de.name
                    present.add(name)
                    if name not in names:
                        continue
                    try:
                        if not de.is_file(follow_symlinks=False):
                            continue
                        # The scan said "regular file"; O_NOFOLLOW keeps a swapped link out.
                        ffd = open_noatime(name, FILE_FLAGS, dir_fd=dfd)
                        contents[name] = self._read_fd(ffd, limit, name)
                    except OSError:
                        continue
        except OSError as exc:
            raise self._error(directory, exc) from None
        finally:
            if fd >= 0:
                os.close(fd)
        return contents, present

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
