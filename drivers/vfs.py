"""vfs: every layer is a complete copy of its stack's filesystem.

On disk::

    vfs/dir/<id>/      the whole filesystem of the layer (parent copied, then the diff applied)

``<id>`` is a cache ID, a mount ID or ``<mount-id>-init``. The diff is applied naively
(``go-archive/diff.go`` ``UnpackLayer``), so deletions are real deletions and no whiteout exists
on disk. Parentage is kept only in the layer store (``image/vfs/layerdb``).

References: moby ``daemon/graphdriver/vfs/driver.go``, ``vfs/copy_linux.go``.
"""

from __future__ import annotations

from typing import ClassVar

from .layouts import FullCopyLayers


class VfsDriver(FullCopyLayers):
    """Reader for ``vfs/dir/<id>`` full-copy layers."""

    name: ClassVar[str] = "vfs"
    layers_dir: ClassVar[str] = "vfs/dir"
