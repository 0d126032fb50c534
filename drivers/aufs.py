"""aufs (removed in Docker 24.0): change-only branches with aufs whiteout files.

On disk::

    aufs/diff/<id>/     the layer's own files; whiteouts are empty files ``.wh.<name>``,
                        opaque directories hold ``.wh..wh..opq``; container branches also keep
                        ``.wh..wh.aufs``, ``.wh..wh.plnk/`` and ``.wh..wh.orph/`` at their root
    aufs/layers/<id>    text: ancestor IDs one per line, nearest first; empty for a base layer
                        (a container's starts with ``<mount-id>-init``)
    aufs/mnt/<id>/      the union mount point (empty when not mounted)

Deleted layers are renamed ``<id>-removing`` first. ``diff/<id>`` is written by a plain untar, so
whiteouts are the tar convention, stored literally.

References: moby ``v23.0.0:daemon/graphdriver/aufs/aufs.go``, ``aufs/dirs.go``;
``go-archive/whiteouts.go``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from storagekit.driver import WH_PREFIX, ParentRecord, StorageDriver, Whiteout
from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.source import Entry, FileType, Source

from .layouts import aufs_style_whiteout

MAX_LAYERS_FILE = 1 << 20


class AufsDriver(StorageDriver):
    """Reader for ``aufs/{diff,layers,mnt}``."""

    name: ClassVar[str] = "aufs"
    branch_diff: ClassVar[bool] = True

    @classmethod
    def detect(cls, source: Source) -> bool:
        """``aufs/diff`` or ``aufs/layers`` exists."""
        return source.is_dir("aufs/diff") or source.is_dir("aufs/layers")

    def layer_ids(self) -> list[str]:
        """Names in ``aufs/diff`` and ``aufs/layers`` (a layer exists if either has it)."""
        ids: set[str] = set()
        for sub in ("aufs/diff", "aufs/layers"):
            try:
                ids.update(e.name for e in self.source.scandir(sub))
            except SourceError:
                continue
        return sorted(ids)

    def _layer_path(self, layer_id: str) -> str:
        return f"aufs/diff/{layer_id}"

    def layer_parts(self, layer_id: str) -> list[str]:
        """``diff/<id>`` (its files), ``layers/<id>`` (its parents) and ``mnt/<id>``."""
        self.layer_path(layer_id)  # validates the ID
        return [f"aufs/{sub}/{layer_id}" for sub in ("diff", "layers", "mnt")]

    def _read_parents(self, layer_id: str) -> ParentRecord | None:
        """The lines of ``aufs/layers/<id>``, nearest ancestor first; unsafe lines are findings."""
        path = f"aufs/layers/{layer_id}"
        try:
            text = self.source.read_bytes(path, MAX_LAYERS_FILE).decode("utf-8")
        except SourceError:
            self.findings.warning(
                "missing-driver-parents", path, "aufs layers file is missing or unreadable"
            )
            return None
        except UnicodeDecodeError:
            self.findings.error("bad-driver-parents", path, "aufs layers file is not UTF-8 text")
            return ParentRecord((), complete=False)
        parents = []
        complete = True
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if not is_safe_component(line):
                self.findings.error(
                    "unsafe-id", path, f"aufs layers file names an unusable layer ID: {line!r}"
                )
                complete = False
                continue
            parents.append(line)
        return ParentRecord(tuple(parents), complete)

    def whiteout_candidate(self, name: str, kind: FileType) -> bool:
        """Only ``.wh.`` names are aufs whiteouts or bookkeeping."""
        return name.startswith(WH_PREFIX)

    def whiteout(self, entry: Entry, xattrs: Callable[[], dict[str, bytes]]) -> Whiteout:
        """Aufs whiteouts are ``.wh.`` files (``go-archive/whiteouts.go``)."""
        return aufs_style_whiteout(entry)
