"""An in-memory tree as a :class:`~storagekit.source.Source`, built by tests.

Damaged and hostile layouts are easiest to state next to the assertion that checks them::

    src = (
        MemorySource()
        .add_dir("upper/opaque", xattrs={"trusted.overlay.opaque": b"y"})
        .add_device("upper/gone", FileType.CHARDEV, 0, 0)
        .add_symlink("upper/etc/passwd", "../../../../etc/passwd")
    )

Parents are created as needed (0o755, root, mtime 0), like the implied directories of a tar. A
later ``add_*`` on an existing path replaces it (a directory re-added keeps its children and
takes the new metadata). Hard links share one node, so every name reports the same ``inode``
(the path it was first added under) and the number of names as ``nlink``; directories report
``nlink`` 1 and size 0, and nothing has an allocation. With ``trusted_xattrs_visible=False``,
``xattrs()`` hides the ``trusted.*`` names, as a directory read by a non-root user does.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from storagekit.errors import NotADirectoryInSourceError, SourceError, SourceNotFoundError
from storagekit.source import Entry, FileType, Source, normpath


@dataclass(slots=True)
class _Node:
    type: FileType
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    xattrs: dict[str, bytes]
    data: bytes = b""
    link_target: str | None = None
    rdev: tuple[int, int] | None = None
    inode: str = ""
    names: int = 1
    children: set[str] = field(default_factory=set)  # paths, for a directory


class MemorySource(Source):
    """A tree of evidence held in memory; the ``add_*`` builders return the source itself."""

    def __init__(
        self, description: str = "<memory>", *, trusted_xattrs_visible: bool = True
    ) -> None:
        """Start with an empty top directory (0o755, root, mtime 0)."""
        self.description = description
        self.trusted_xattrs_visible = trusted_xattrs_visible
        self._nodes: dict[str, _Node] = {"": _Node(FileType.DIR, 0o755, 0, 0, 0, {})}
        self._serial = 0

    @classmethod
    def from_dict(cls, spec: Mapping[str, bytes | str | None]) -> MemorySource:
        """Build a tree from ``{path: bytes (a file) | str (a symlink target) | None (a dir)}``."""
        src = cls()
        for path, what in spec.items():
            if what is None:
                src.add_dir(path)
            elif isinstance(what, str):
                src.add_symlink(path, what)
            else:
                src.add_file(path, what)
        return src

    # Builders.

    def add_dir(
        self,
        path: str,
        mode: int = 0o755,
        uid: int = 0,
        gid: int = 0,
        mtime_ns: int = 0,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> MemorySource:
        """Add a directory (or restate one: its children stay); ``""`` sets the top's metadata."""
        return self._add(path, _Node(FileType.DIR, mode, uid, gid, mtime_ns, dict(xattrs or {})))

    def add_file(
        self,
        path: str,
        data: bytes,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime_ns: int = 0,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> MemorySource:
        """Add a regular file holding ``data``."""
        node = _Node(FileType.FILE, mode, uid, gid, mtime_ns, dict(xattrs or {}), data=bytes(data))
        return self._add(path, node)

    def add_symlink(
        self,
        path: str,
        target: str,
        mode: int = 0o777,
        uid: int = 0,
        gid: int = 0,
        mtime_ns: int = 0,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> MemorySource:
        """Add a symbolic link to ``target`` (stored verbatim, resolved only by ``resolve``)."""
        node = _Node(FileType.SYMLINK, mode, uid, gid, mtime_ns, dict(xattrs or {}))
        node.link_target = target
        return self._add(path, node)

    def add_device(
        self,
        path: str,
        kind: FileType,
        major: int,
        minor: int,
        mode: int = 0o600,
        uid: int = 0,
        gid: int = 0,
        mtime_ns: int = 0,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> MemorySource:
        """Add a character or block device (an overlay whiteout is a 0/0 character device).

        Raises:
            ValueError: ``kind`` is not CHARDEV or BLOCKDEV.
        """
        if kind not in (FileType.CHARDEV, FileType.BLOCKDEV):
            raise ValueError(f"{path}: a device is CHARDEV or BLOCKDEV, not {kind.name}")
        node = _Node(kind, mode, uid, gid, mtime_ns, dict(xattrs or {}), rdev=(major, minor))
        return self._add(path, node)

    def add_fifo(
        self, path: str, mode: int = 0o644, uid: int = 0, gid: int = 0, mtime_ns: int = 0
    ) -> MemorySource:
        """Add a named pipe."""
        return self._add(path, _Node(FileType.FIFO, mode, uid, gid, mtime_ns, {}))

    def add_socket(
        self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0, mtime_ns: int = 0
    ) -> MemorySource:
        """Add a Unix socket (directories can hold them; tar archives cannot)."""
        return self._add(path, _Node(FileType.SOCKET, mode, uid, gid, mtime_ns, {}))

    def add_hardlink(self, path: str, existing_path: str) -> MemorySource:
        """Give the non-directory at ``existing_path`` another name.

        Raises:
            SourceNotFoundError: nothing is at ``existing_path``.
            ValueError: it is a directory.
        """
        node = self._node(normpath(existing_path))
        if node.type is FileType.DIR:
            raise ValueError(f"{existing_path}: cannot hard-link a directory")
        return self._add(path, node)

    def _add(self, path: str, node: _Node) -> MemorySource:
        path = normpath(path)
        if not path and node.type is not FileType.DIR:
            raise ValueError("the top of a source is a directory")
        parent = ""
        for part in path.split("/")[:-1]:
            child = f"{parent}/{part}" if parent else part
            if child not in self._nodes:
                self._add(child, _Node(FileType.DIR, 0o755, 0, 0, 0, {}))
            elif self._nodes[child].type is not FileType.DIR:
                raise ValueError(f"{path}: {child} is not a directory")
            parent = child
        old = self._nodes.get(path)
        node.names += 1 if node.inode else 0  # a new name of an existing node
        if old is None:
            if path:
                self._nodes[parent].children.add(path)
        elif old.type is FileType.DIR and node.type is FileType.DIR:
            node.children, node.inode = old.children, old.inode
        else:
            self._drop(old)
            if old.names and old.inode == path and not node.inode:
                # Other names of the replaced file keep its identity; this is a new file.
                self._serial += 1
                node.inode = f"{path}//{self._serial}"
        node.inode = node.inode or path
        self._nodes[path] = node
        return self

    def _drop(self, node: _Node) -> None:
        """Count down the names of a replaced node and of everything below it."""
        stack = [node]
        while stack:
            gone = stack.pop()
            gone.names -= 1
            stack.extend(self._nodes.pop(child) for child in gone.children)

    # The Source interface.

    def _node(self, path: str) -> _Node:
        node = self._nodes.get(path)
        if node is not None:
            return node
        parent = path
        while parent:
            parent = parent.rpartition("/")[0]
            above = self._nodes.get(parent)
            if above is not None:
                if above.type is not FileType.DIR:
                    raise NotADirectoryInSourceError(
                        f"{self.description}: {path}: not a directory (or a link to one)"
                    )
                break
        raise SourceNotFoundError(f"{self.description}: {path}: no such file or directory")

    def _entry(self, path: str, node: _Node) -> Entry:
        if node.type is FileType.SYMLINK:
            size = len((node.link_target or "").encode("utf-8", "surrogateescape"))
        else:
            size = len(node.data)
        return Entry(
            path=path,
            type=node.type,
            mode=node.mode,
            uid=node.uid,
            gid=node.gid,
            size=size,
            mtime_ns=node.mtime_ns,
            nlink=1 if node.type is FileType.DIR else node.names,
            inode=node.inode,
            rdev=node.rdev,
            link_target=node.link_target,
        )

    def stat(self, path: str) -> Entry:
        """See :meth:`Source.stat`."""
        path = normpath(path)
        return self._entry(path, self._node(path))

    def scandir(self, path: str) -> Iterator[Entry]:
        """See :meth:`Source.scandir`."""
        path = normpath(path)
        node = self._node(path)
        if node.type is not FileType.DIR:
            raise NotADirectoryInSourceError(f"{self.description}: {path}: not a directory")
        return iter([self._entry(c, self._nodes[c]) for c in node.children])

    def open(self, path: str) -> BinaryIO:
        """See :meth:`Source.open`."""
        path = normpath(path)
        node = self._node(path)
        if node.type is not FileType.FILE:
            raise SourceError(f"{self.description}: {path}: not a regular file")
        return io.BytesIO(node.data)

    def xattrs(self, path: str) -> dict[str, bytes]:
        """See :meth:`Source.xattrs`; ``trusted.*`` names are hidden unless visible."""
        node = self._node(normpath(path))
        visible = self.trusted_xattrs_visible
        return {k: v for k, v in node.xattrs.items() if visible or not k.startswith("trusted.")}
