"""The storage driver contract: what core asks of a driver reader, and nothing more.

A driver reader knows one graph driver's directory layout below the Docker root (``overlay2/``,
``aufs/``, ``vfs/`` ...). Everything under ``image/<driver>/`` is driver-independent and read by
core. Merging layers is core code too: it asks the driver only how to classify an entry
(:class:`Whiteout`) and where a layer's own files are.

A new driver is one module implementing :class:`StorageDriver`, registered in the
``storagekit.drivers`` entry-point group.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from storagekit.errors import SourceError, UnsafePathError
from storagekit.ids import is_safe_component
from storagekit.model import Finding, Findings
from storagekit.source import Entry, FileType, Source


class Whiteout(enum.Enum):
    """How a directory entry of a layer takes part in the union.

    Members:
        NONE: an ordinary entry.
        FILE: a whiteout: hides :meth:`StorageDriver.hidden_name` in lower layers; not shown.
        OPAQUE_MARKER: its presence makes the directory that contains it opaque; not shown
            (aufs and tar-style ``.wh..wh..opq``).
        OPAQUE_DIR: this directory is itself opaque (overlay ``trusted.overlay.opaque=y``);
            shown, but nothing of lower layers is merged into it.
        BOOKKEEPING: driver metadata that is never part of the container's filesystem
            (aufs ``.wh..wh.aufs``, ``.wh..wh.plnk``, ``.wh..wh.orph``).
    """

    NONE = "none"
    FILE = "file"
    OPAQUE_MARKER = "opaque-marker"
    OPAQUE_DIR = "opaque-dir"
    BOOKKEEPING = "bookkeeping"


#: Prefix of whiteout files in the tar convention (the OCI image layer format's).
WH_PREFIX = ".wh."
#: The tar convention's opaque-directory marker.
WH_OPAQUE = ".wh..wh..opq"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ParentRecord:
    """A driver's own record of a layer's parents (aufs ``layers/<id>``, overlay2 ``lower``).

    Attributes:
        parents: the parent layer IDs, nearest first (entries that could not be used left out).
        complete: every entry of the record named a usable layer directory.
        whole_chain: the record names every layer below (overlay2 ``lower``, aufs
            ``layers/<id>``). False when it names only the lower branches of the layer's union
            mount (legacy overlay ``lower-id``: the image's top layer, not the init layer).
    """

    parents: tuple[str, ...]
    complete: bool = True
    whole_chain: bool = True


class StorageDriver(ABC):
    """A reader of one graph driver's on-disk layout below the Docker root.

    Attributes:
        name: Docker's own name for the driver (``config.v2.json`` ``Driver``).
        full_copy: each layer directory holds the complete filesystem of its stack (vfs,
            btrfs, zfs): deletions are absences and there are no whiteouts.
        naive_diff: Docker wraps the driver in ``NaiveDiffDriver`` (*moby
            daemon/graphdriver/fsdiff.go*): a container's changes and ``SizeRw`` are
            ``ChangesDirs``/``ChangesSize`` of its mounted view against its init layer's, never
            the size of its own directory (vfs, legacy overlay).
        branch_diff: the engine lists a container's changes by walking its read-write branch
            against its parent branches, with tar-convention whiteouts (*moby
            pkg/archive/changes.go* ``Changes``; aufs), not by comparing two mounted views.
        opaque_xattr: the extended attribute that makes a directory opaque (overlay's
            ``trusted.overlay.opaque``), if the driver marks them so: evidence read without root
            or archived without ``--xattrs`` cannot show it, and the union view says so.
        private_xattrs: prefixes of extended attributes that are the driver's bookkeeping, not
            the file's (overlay's ``trusted.overlay.*``): the union view leaves them out.
        source: the Docker root.
        findings: where the driver records damaged or hostile artefacts.
    """

    name: ClassVar[str]
    full_copy: ClassVar[bool] = False
    naive_diff: ClassVar[bool] = False
    branch_diff: ClassVar[bool] = False
    opaque_xattr: ClassVar[str | None] = None
    private_xattrs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, source: Source, findings: Findings) -> None:
        self.source = source
        self.findings = findings
        self._present: dict[str, bool] = {}
        self._listed: set[str] | None = None
        self._parents: dict[str, ParentRecord | None] = {}

    @classmethod
    @abstractmethod
    def detect(cls, source: Source) -> bool:
        """True if this driver's directories exist in the root ``source``."""

    @abstractmethod
    def layer_ids(self) -> list[str]:
        """Every layer directory ID present on disk, referenced or not, sorted."""

    @abstractmethod
    def _layer_path(self, layer_id: str) -> str:
        """Where the layer's own files are, for an ID already validated."""

    def layer_path(self, layer_id: str) -> str:
        """The directory inside the root that holds the layer's own files.

        Raises:
            UnsafePathError: ``layer_id`` cannot name a directory entry safely.
        """
        if not is_safe_component(layer_id):
            raise UnsafePathError(f"{self.name}: not a usable layer ID: {layer_id!r}")
        return self._layer_path(layer_id)

    def has_layer(self, layer_id: str) -> bool:
        """True if the layer's directory exists (an unsafe ID never exists); asked once per ID."""
        present = self._present.get(layer_id)
        if present is None:
            if self._listed is None:
                self._listed = set(self.layer_ids())
            try:
                present = layer_id in self._listed and self.source.is_dir(self.layer_path(layer_id))
            except (UnsafePathError, SourceError):
                present = False
            self._present[layer_id] = present
        return present

    def layer_parts(self, layer_id: str) -> list[str]:
        """Every path the layer object consists of on disk (existing or not), its files first.

        What removing the layer would remove: by default its directory; a driver that keeps
        more per layer (overlay2's ``<id>/`` and its ``l/<short>`` link, aufs' three folders)
        names all of it.

        Raises:
            UnsafePathError: ``layer_id`` cannot name a directory entry safely.
        """
        return [self.layer_path(layer_id)]

    def layout_findings(self, live: set[str]) -> list[Finding]:
        """Broken storage that belongs to the driver's own layout, not to any one layer.

        ``live`` holds the IDs of layer directories something still references. The default
        finds nothing; overlay2's layout reports short links to nothing (``broken-link``) and
        live layers whose short link is gone (``missing-link``).
        """
        return []

    def parent_record(self, layer_id: str) -> ParentRecord | None:
        """The parents the driver itself recorded for a layer (read once per ID).

        ``None`` when the driver keeps no such record (vfs).

        Raises:
            UnsafePathError: ``layer_id`` cannot name a directory entry safely.
        """
        self.layer_path(layer_id)  # validates the ID
        if layer_id not in self._parents:
            self._parents[layer_id] = self._read_parents(layer_id)
        return self._parents[layer_id]

    def _read_parents(self, layer_id: str) -> ParentRecord | None:
        """Read the driver's parent record of a validated layer ID (``None``: keeps none)."""
        return None

    def parent_ids(self, layer_id: str) -> list[str] | None:
        """The parents the driver itself recorded for a layer, nearest first.

        ``None`` when the driver keeps no such record (vfs). Used to cross-check the layer
        store; entries that cannot be resolved are left out and reported as findings.
        """
        record = self.parent_record(layer_id)
        return None if record is None else list(record.parents)

    def union_branches(self, levels: Sequence[T], writable: int) -> list[T]:
        """The levels of a stack (top first) that are branches of its union mount.

        ``writable`` leading levels are container layers (read-write, init); the rest are image
        layers. The default is every level: each holds only its own changes (overlay2, aufs).
        A driver whose layers hold more than their changes mounts fewer (legacy overlay).
        The driver's own parent record of the top level names the branches below it.
        """
        return list(levels)

    def whiteout_candidate(self, name: str, kind: FileType) -> bool:
        """A cheap first test: False when :meth:`whiteout` would say NONE for any such entry.

        Merging asks it for every name of every layer, before anything else is known about
        the entry, so it must cost next to nothing. It concerns what a name does to its
        siblings (hide one, make their directory opaque, be bookkeeping): a directory's own
        opacity comes from its extended attributes, and :meth:`whiteout` is asked about it,
        with them, when that directory is merged.
        """
        return False

    def whiteout(self, entry: Entry, xattrs: Callable[[], dict[str, bytes]]) -> Whiteout:
        """Classify a directory entry of a layer; ``xattrs`` fetches its extended attributes.

        A directory without extended attributes is never :attr:`Whiteout.OPAQUE_DIR`.
        """
        return Whiteout.NONE

    def hidden_name(self, entry: Entry) -> str:
        """For a :attr:`Whiteout.FILE` entry, the name it hides in lower layers."""
        name = entry.name
        return name[len(WH_PREFIX) :] if name.startswith(WH_PREFIX) else name
