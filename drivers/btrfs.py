"""btrfs: every layer is a subvolume holding the complete filesystem of its stack.

On disk::

    btrfs/subvolumes/<id>/    a btrfs subvolume: a base layer is a new, empty subvolume; any
                              other layer a snapshot of its parent's, then the diff applied
    btrfs/quotas/<id>         only with ``--storage-opt size``: the layer's size limit, decimal

``<id>`` is a cache ID, a mount ID or ``<mount-id>-init``. The diff is applied naively
(``NaiveDiffDriver.ApplyDiff``, ``go-archive/diff.go`` ``UnpackLayer``), so deletions are real
deletions and no whiteout exists on disk, exactly as for vfs. A copied root holds the subvolumes
as plain directories (a snapshot shares extents on the filesystem, not in a copy); parentage is
kept only in the layer store (``image/btrfs/layerdb``). ``GraphDriver.Data`` is empty: Docker
names no directory.

Docker wraps the driver in ``NaiveDiffDriver``: ``docker diff`` and ``SizeRw`` compare the
container's subvolume with its init layer's.

References: moby ``v20.10.24:daemon/graphdriver/btrfs/btrfs.go`` (``Init``, ``Create``,
``subvolumesDirID``, ``quotasDirID``, ``Get``), ``daemon/graphdriver/fsdiff.go``.
"""

from __future__ import annotations

from typing import ClassVar

from .layouts import FullCopyLayers


class BtrfsDriver(FullCopyLayers):
    """Reader for ``btrfs/subvolumes/<id>`` full-copy layers (``btrfs/quotas`` is not a layer)."""

    name: ClassVar[str] = "btrfs"
    layers_dir: ClassVar[str] = "btrfs/subvolumes"
