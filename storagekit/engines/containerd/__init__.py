"""containerd: read a ``/var/lib/containerd`` root (meta.db, snapshotters, content store).

The layout is described in docs/containerd-podman-format.md §1–3; every reader takes a
:class:`~storagekit.source.Source` positioned at the containerd root and returns the named
tuples of :mod:`storagekit.engines.containerd.model`. Start with :func:`read_root`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Where each public name lives: imported on first use, so that finding (or not finding) a
#: containerd root in the evidence costs no import of the database readers.
_WHERE = {
    **dict.fromkeys(
        ("BoltMeta", "Container", "ContentBlob", "Descriptor", "Image",
         "Lease", "Mount", "Namespace", "Pod", "Snapshot"),
        "model",
    ),
    **dict.fromkeys(
        ("ContainerdRoot", "NotAContainerdRootError", "is_containerd_root", "layer_dirs",
         "read_root",
         "snapshot_chain"),
        "root",
    ),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{where}"), name)
