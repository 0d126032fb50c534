"""Layouts several built-in drivers share: overlay whiteouts, directory per layer, full copies.

Also the tar (aufs) whiteout naming convention, which overlay evidence may hold too.

These are driver knowledge, not core: core's contract (:mod:`storagekit.driver`) only asks a
driver how to classify an entry and where a layer's files are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from storagekit.driver import WH_OPAQUE, WH_PREFIX, StorageDriver, Whiteout
from storagekit.errors import SourceError
from storagekit.source import Entry, FileType, Source

#: aufs bookkeeping names at a branch root.
WH_META = ".wh..wh."
#: Extended attributes that make an overlay directory opaque (value ``y``): the kernel's,
#: rootless/userxattr mounts', and fuse-overlayfs' own.
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque")


def aufs_style_whiteout(entry: Entry) -> Whiteout:
    """Classify an entry by the aufs (tar) naming convention (``go-archive/whiteouts.go``)."""
    name = entry.name
    if not name.startswith(WH_PREFIX):
        return Whiteout.NONE
    if name == WH_OPAQUE:
        return Whiteout.OPAQUE_MARKER
    if name.startswith(WH_META):
        return Whiteout.BOOKKEEPING
    return Whiteout.FILE



class KernelOverlayDriver(StorageDriver):
    """A driver whose layers are merged by the kernel's overlay filesystem (overlay2, overlay).

    Whiteouts are character devices 0/0; an opaque directory carries ``trusted.overlay.opaque=y``
    (``user.overlay.opaque=y`` for rootless and userxattr mounts). A root copied without xattrs,
    or by a tool that turned whiteouts into tar convention files, may hold ``.wh.<name>`` /
    ``.wh..wh..opq`` files instead; they are recognised too (*go-archive/archive_linux.go*
    ``ConvertRead``; Linux ``Documentation/filesystems/overlayfs.rst``).
    """

    opaque_xattr: ClassVar[str | None] = OPAQUE_XATTRS[0]
    private_xattrs: ClassVar[tuple[str, ...]] = ("trusted.overlay.", "user.overlay.")

    def whiteout_candidate(self, name: str, kind: FileType) -> bool:
        """0/0 devices and tar-convention ``.wh.`` names (opacity is the directory's own)."""
        return kind is FileType.CHARDEV or name.startswith(WH_PREFIX)

    def whiteout(self, entry: Entry, xattrs: Callable[[], dict[str, bytes]]) -> Whiteout:
        """0/0 character devices hide names; opaque xattrs mark directories; ``.wh.`` files too."""
        if entry.type is FileType.CHARDEV and entry.rdev == (0, 0):
            return Whiteout.FILE
        if entry.is_dir:
            attrs = xattrs()
            if any(attrs.get(name) == b"y" for name in OPAQUE_XATTRS):
                return Whiteout.OPAQUE_DIR
            return Whiteout.NONE
        return aufs_style_whiteout(entry)


class DirectoryPerLayer(StorageDriver):
    """A driver whose layers are the subdirectories of one directory below the root.

    Attributes:
        layers_dir: that directory (``vfs/dir``, ``overlay``).
    """

    layers_dir: ClassVar[str]

    @classmethod
    def detect(cls, source: Source) -> bool:
        """The layers directory exists."""
        return source.is_dir(cls.layers_dir)

    def layer_ids(self) -> list[str]:
        """The directories in the layers directory."""
        try:
            return self.source.subdirs(self.layers_dir)[0]
        except SourceError:
            return []


class FullCopyLayers(DirectoryPerLayer):
    """Each layer directory is the complete filesystem of its stack (vfs, btrfs).

    ``Create`` copies or snapshots the parent's directory and the layer's tar is applied to it
    naively (*go-archive/diff.go* ``UnpackLayer``): deletions are real deletions, no whiteout
    exists on disk, and parentage is kept only in the layer store. Docker wraps such drivers in
    ``NaiveDiffDriver``.
    """

    full_copy: ClassVar[bool] = True
    naive_diff: ClassVar[bool] = True

    def _layer_path(self, layer_id: str) -> str:
        return f"{self.layers_dir}/{layer_id}"
