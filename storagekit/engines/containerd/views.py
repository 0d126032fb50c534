"""Union views of containerd snapshots, and an active snapshot's changes.

A snapshot's filesystem is what its snapshotter mounts (``ctr snapshots mounts``):

* ``overlayfs``: the snapshot's ``fs`` as upperdir (or, for a committed or view snapshot, the top
  lowerdir) over each parent's ``fs``, nearest first — the kernel's overlay, with 0/0
  character-device whiteouts and ``trusted.overlay.opaque`` directories
  (containerd ``snapshots/overlay/overlay.go`` ``mounts``);
* ``native``: a bind mount of the snapshot's own directory, a complete copy of its parent's
  tree with its changes applied (``snapshots/native/native.go``).

Each level becomes a :class:`~storagekit.union.view.LayerDir` whose driver is the registered
driver of the same layout (overlay2 for overlayfs, vfs for native; :func:`classifier`), so the
union view merges snapshots exactly as it merges Docker's overlay2 or vfs layers.
A container's changes (plain containerd has no ``diff``) are its active snapshot against its
parent, in ``docker diff``'s form.
"""

from __future__ import annotations

from storagekit.driver import StorageDriver
from storagekit.engines.containerd.chains import mounted_levels
from storagekit.engines.containerd.model import Snapshot
from storagekit.errors import SourceError
from storagekit.model import Findings
from storagekit.registry import driver_classes
from storagekit.source import Source
from storagekit.sources.memsource import MemorySource
from storagekit.union.changes import Change, Tree, changes
from storagekit.union.view import LayerDir, UnionView, check_markers

#: The registered driver whose layout each read snapshotter shares: overlayfs keeps a layer's
#: own changes with the kernel overlay's whiteouts and opaque xattrs, as overlay2 does; native
#: keeps every snapshot as a complete tree, as vfs does.
SHARED_LAYOUT = {"overlayfs": "overlay2", "native": "vfs"}


def classifier(snapshotter: str, source: Source, findings: Findings) -> StorageDriver | None:
    """The entry classifier of a snapshotter's directories, from the driver registry.

    Only the classification is used (whiteouts, opaque directories, full copies): where a
    snapshot's files are and what its parents are come from the snapshotter's database.
    ``None`` for a snapshotter whose layout no registered driver shares.
    """
    name = SHARED_LAYOUT.get(snapshotter)
    base = driver_classes(findings).get(name) if name else None
    if base is None:
        return None
    return base(source, findings)


def layer_dirs_of(
    source: Source, chain: list[Snapshot], findings: Findings, where: str, what: str
) -> list[LayerDir]:
    """The chain's mounted levels as layer directories (missing ones become findings)."""
    out = []
    for snap in mounted_levels(chain):
        if snap.dir is None or not snap.present:
            findings.error(
                "missing-snapshot-dir",
                snap.dir or snap.path,
                f"{what}: snapshot {snap.key!r} has no directory; its files are absent",
            )
            continue
        driver = classifier(snap.snapshotter, source, findings)
        if driver is None:
            findings.error(
                "unread-snapshotter", snap.path,
                f"{what}: no reader for the {snap.snapshotter} snapshotter's directories",
            )
            continue
        out.append(LayerDir(source, snap.dir, str(snap.id), driver))
    return out


def chain_view(
    source: Source, chain: list[Snapshot], findings: Findings, where: str, what: str
) -> UnionView:
    """The merged view of a snapshot chain (top first).

    Raises:
        SourceError: no level of the chain can be read.
    """
    dirs = layer_dirs_of(source, chain, findings, where, what)
    if not dirs:
        raise SourceError(f"{what}: none of its snapshot directories is in the evidence")
    view = UnionView(dirs, what)
    check_markers(view, source, findings, where)
    return view


def snapshot_changes(
    source: Source, chain: list[Snapshot], findings: Findings, where: str, what: str
) -> list[Change]:
    """The top snapshot's changes against its parent, as ``docker diff`` prints them.

    A snapshot without a parent is compared with an empty tree: everything in it is added.
    """
    new = chain_view(source, chain, findings, where, what)
    if len(chain) < 2:
        return changes(Tree(new, ""), Tree(MemorySource("<empty parent>"), ""))
    old = chain_view(source, chain[1:], findings, where, f"{what} (parent)")
    return changes(Tree(new, ""), Tree(old, ""))

