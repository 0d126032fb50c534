"""A container's union view with what was mounted into it: volumes and generated files.

The engine says what was mounted where (:class:`ViewMount`: a directory or file of some Source);
this view lays those over the union view, as the container saw them. Bind mounts and tmpfs
mounts hold no data in the evidence and are not among them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from storagekit.errors import SourceError
from storagekit.source import Entry, Source, join, normpath
from storagekit.union.view import UnionView


@dataclass(frozen=True)
class ViewMount:
    """Something mounted into a container's view: a volume or a file the engine generated."""

    destination: str  # inside the container, without the leading "/"
    source: Source
    path: str  # inside ``source``
    label: str  # reported as the "layer" of what it provides


class MountedView(Source):
    """A container's view with its volumes and generated files mounted where the engine put them.

    Each mount appears at its destination, as the container saw it (for Docker: volumes'
    ``volumes/<name>/_data``, and ``hostname``, ``hosts`` and ``resolv.conf`` of
    ``containers/<id>/`` at ``/etc/...``).
    """

    def __init__(self, base: UnionView, mounts: list[ViewMount]) -> None:
        self.base = base
        self.mounts = sorted(mounts, key=lambda m: -len(m.destination))
        self.description = base.description
        self.trusted_xattrs_visible = base.trusted_xattrs_visible

    def _find(self, path: str) -> tuple[ViewMount, str] | None:
        for m in self.mounts:
            if path == m.destination or path.startswith(m.destination + "/"):
                return m, join(m.path, path[len(m.destination) + 1 :])
        return None

    def _rebase(self, entry: Entry, path: str) -> Entry:
        return entry.moved(path)

    def stat(self, path: str) -> Entry:  # noqa: D102 - see Source
        path = normpath(path)
        found = self._find(path)
        if found is None:
            return self.base.stat(path)
        mount, inner = found
        return self._rebase(mount.source.stat(inner), path)

    def scandir(self, path: str) -> Iterator[Entry]:  # noqa: D102 - see Source
        path = normpath(path)
        found = self._find(path)
        if found is not None:
            mount, inner = found
            prefix = f"{path}/" if path else ""
            return iter([self._rebase(e, prefix + e.name) for e in mount.source.scandir(inner)])
        entries = {e.path: e for e in self.base.scandir(path)}
        for m in self.mounts:
            if m.destination.rpartition("/")[0] == path:
                try:
                    entries[m.destination] = self._rebase(m.source.stat(m.path), m.destination)
                except SourceError:
                    continue
        return iter(entries.values())

    def open(self, path: str) -> BinaryIO:  # noqa: D102 - see Source
        path = normpath(path)
        found = self._find(path)
        if found is None:
            return self.base.open(path)
        mount, inner = found
        return mount.source.open(inner)

    def xattrs(self, path: str) -> dict[str, bytes]:  # noqa: D102 - see Source
        path = normpath(path)
        found = self._find(path)
        if found is None:
            return self.base.xattrs(path)
        mount, inner = found
        return mount.source.xattrs(inner)

    def scandir_layers(self, path: str) -> list[tuple[Entry, str]]:
        """The entries of directory ``path`` with the layer (or mount) providing each."""
        return [(e, self.layer_of(e.path)) for e in self.scandir(path)]

    def layer_of(self, path: str) -> str:
        """The layer ID providing ``path``, or what is mounted there."""
        found = self._find(normpath(path))
        return found[0].label if found else self.base.layer_of(path)

    def deleted(self, path: str) -> list[tuple[Entry, str]]:
        """Hidden entries of the image and container layers (none inside mounts)."""
        return [] if self._find(normpath(path)) else self.base.deleted(path)


#: What the recovery commands read: a union view, with or without what was mounted into it.
RecoveryView = UnionView | MountedView
