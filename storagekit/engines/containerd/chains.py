"""Snapshot chains: a snapshot and its parents, top first, and the levels a snapshotter mounts.

A snapshot names its parent by key within its namespace and snapshotter (meta.db
``snapshots/<snapshotter>/<key>/parent``); a chain follows those names until a snapshot
without a parent. overlayfs mounts every level of the chain; full-copy snapshotters (native,
btrfs, zfs) keep each snapshot as a complete tree and mount only the top one
(containerd ``snapshots/overlay/overlay.go``, ``snapshots/native/native.go``).

Kept apart from :mod:`~storagekit.engines.containerd.views` so that the inventory commands,
which need chains but no union view, do not import one.
"""

from __future__ import annotations

from collections.abc import Iterable

from storagekit.engines.containerd.model import Snapshot
from storagekit.engines.containerd.snapshotters import FULL_COPY

#: How deep a snapshot chain is followed before it is called a loop or hostile.
MAX_CHAIN = 4096


class SnapshotIndex:
    """The snapshots of a root by ``(namespace, snapshotter, key)``, and their chains."""

    def __init__(self, snapshots: Iterable[Snapshot]) -> None:
        self.by_key = {(s.namespace, s.snapshotter, s.key): s for s in snapshots}

    def get(self, namespace: str, snapshotter: str, key: str | None) -> Snapshot | None:
        """One snapshot, or ``None``."""
        return None if key is None else self.by_key.get((namespace, snapshotter, key))

    def chain(
        self, namespace: str, snapshotter: str, key: str | None
    ) -> tuple[list[Snapshot], str | None]:
        """The snapshot ``key`` and its parents, top first, and what broke the chain if anything.

        A parent that is missing, a loop and a chain deeper than :data:`MAX_CHAIN` end it.
        """
        out: list[Snapshot] = []
        seen: set[str] = set()
        current = key
        while current is not None:
            if current in seen:
                return out, f"snapshot parent loop at {current!r}"
            if len(out) >= MAX_CHAIN:
                return out, f"snapshot chain deeper than {MAX_CHAIN}"
            snap = self.by_key.get((namespace, snapshotter, current))
            if snap is None:
                return out, (
                    f"snapshot {current!r} ({snapshotter}, namespace {namespace}) is missing"
                )
            seen.add(current)
            out.append(snap)
            current = snap.parent
        return out, None


def mounted_levels(chain: list[Snapshot]) -> list[Snapshot]:
    """The levels of a chain (top first) the snapshotter mounts: all, or the top for full copies."""
    if chain and chain[0].snapshotter in FULL_COPY:
        return chain[:1]
    return chain
