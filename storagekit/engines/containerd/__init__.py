"""containerd: read a ``/var/lib/containerd`` root (meta.db, snapshotters, content store).

The layout is described in docs/containerd-podman-format.md §1–3; every reader takes a
:class:`~storagekit.source.Source` positioned at the containerd root and returns the frozen
dataclasses of :mod:`storagekit.engines.containerd.model`. Start with :func:`read_root`.
"""

from __future__ import annotations

from storagekit.engines.containerd.model import (
    BoltMeta,
    Container,
    ContainerdRoot,
    ContentBlob,
    Descriptor,
    Image,
    Lease,
    Mount,
    Namespace,
    Pod,
    Snapshot,
)
from storagekit.engines.containerd.root import (
    NotAContainerdRootError,
    is_containerd_root,
    layer_dirs,
    read_root,
    snapshot_chain,
)

__all__ = [
    "BoltMeta",
    "Container",
    "ContainerdRoot",
    "ContentBlob",
    "Descriptor",
    "Image",
    "Lease",
    "Mount",
    "Namespace",
    "NotAContainerdRootError",
    "Pod",
    "Snapshot",
    "is_containerd_root",
    "layer_dirs",
    "read_root",
    "snapshot_chain",
]
