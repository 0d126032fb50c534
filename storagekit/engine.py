"""The engine contract: what core asks of one container engine's storage, and nothing more.

An engine (Docker's graph-driver store, containerd, podman's containers-storage) knows its own
on-disk layout and metadata. It finds its roots in the evidence, yields the model (images,
layers, containers, volumes) and its findings, and owns everything specific to it: where a
layer's files are (each layer directory carries its own Source, so an engine may read a second
root), what counts as an orphan, its disk-usage areas and ``df`` formulas, its diff semantics,
its integrity check and its ``save`` format. The command line and the union view never open an
engine's files: they take the records and views an engine gives.

A new engine is a package implementing :class:`Engine`, registered in the ``storagekit.engines``
entry-point group (:func:`storagekit.registry.engine_classes`); the built-in ones register the
same way. ``docs/extending.md`` walks through adding one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from storagekit.errors import StoragekitError
from storagekit.jsontext import Record, to_json
from storagekit.model import Container, Findings, Image, Volume
from storagekit.source import Source

if TYPE_CHECKING:  # the inventory commands start without the union view
    from storagekit.logs import LogEntry
    from storagekit.union.changes import Change
    from storagekit.union.mounted import RecoveryView
    from storagekit.union.view import LayerDir


@dataclass(frozen=True)
class LayerStack:
    """Layer directories one engine lends another: a stack of its storage, top first.

    One engine's containers may keep their filesystems in another engine's storage (Docker's
    containerd image store). :meth:`Engine.layer_stack` hands them over in core's terms.

    Attributes:
        dirs: the levels that are mounted, top first, as union layers (present ones only).
        paths: each mounted level's directory, relative to the lending engine's root.
        keys: each mounted level's own name in the lender (a snapshot key).
        ids: each mounted level's directory ID in the lender.
        present: whether each mounted level's directory exists.
        root: where the lender's root is in its evidence ("" for its top).
        problem: what broke the stack, if anything.
    """

    dirs: tuple[LayerDir, ...]
    paths: tuple[str, ...]
    keys: tuple[str, ...]
    ids: tuple[str, ...]
    present: tuple[bool, ...]
    root: str
    problem: str | None


class Engine(ABC):
    """One engine's storage found in the evidence, with its model built on demand.

    Attributes:
        name: the engine's name on the command line and in records (``--engine NAME``).
        title: how people call its storage root ("Docker" root), for messages and plans.
        daemon: the process that must be stopped before its root is changed (``reclaim``).
        absent: what the evidence lacks when this engine finds nothing there, for the one
            error line printed when no engine finds anything.
        source: the engine's root inside the evidence.
        evidence: the evidence as the user named it (a host path or an archive).
        location: where the root is inside the evidence ("" for its top).
        findings: everything damaged, hostile or inconsistent met while reading.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    daemon: ClassVar[str]
    absent: ClassVar[str]

    source: Source
    evidence: str
    location: str
    findings: Findings

    @classmethod
    @abstractmethod
    def find(cls, evidence: Source, description: str) -> Engine | None:
        """This engine's root in ``evidence``, opened, or ``None`` when it has none there."""

    @classmethod
    def find_all(cls, evidence: Source, description: str) -> list[Engine]:
        """Every root of this engine in ``evidence``, opened, in a fixed order.

        One evidence may hold several roots of one engine (a host's system store and its
        users' own); each is an engine of its own. The default is :meth:`find`'s one root.
        """
        engine = cls.find(evidence, description)
        return [] if engine is None else [engine]

    @classmethod
    def find_in_partial(cls, evidence: Source, description: str) -> Engine | None:
        """An engine answering from evidence cut short before any root could be recognised.

        Its answers are partial (from what there is: nothing, mostly); ``None`` if it cannot.
        """
        return None

    def incomplete(self) -> str | None:
        """The first line to print when the evidence is incomplete (every answer is partial).

        ``None`` when it is complete. An engine that can tell what the missing part hides
        (how many of its layer directories lie beyond the cut) says so here.
        """
        return None

    def settle(self) -> None:  # noqa: B027 - optional hook
        """Mark the findings the missing part of incomplete evidence explains (after analyses)."""

    def close(self) -> None:
        """Release the evidence."""
        self.source.close()

    def attach(self, engines: Sequence[Engine]) -> None:  # noqa: B027 - optional hook
        """Meet the other engines found in the same evidence (all of them, this one included).

        Called once, after every engine is opened and before any record is asked for: an
        engine whose storage lives partly in another's (:meth:`layer_stack`) finds it here.
        """

    def layer_stack(self, scope: str, driver: str, key: str) -> LayerStack | None:
        """The stack of ``key`` in ``scope`` of this engine's ``driver``, lent to another engine.

        ``None`` when this engine has no such thing (the default).
        """
        return None

    def verify_stack(self, scope: str, driver: str, key: str) -> list[Record] | None:
        """``verify`` objects of the image levels below ``key`` (see :meth:`layer_stack`).

        What this engine knows of the lent layers' origin (their blobs, their digests) checks
        them as its own ``verify`` would. ``None`` when it lends no such stack (the default).
        """
        return None

    def speaks_for(self) -> frozenset[str]:
        """Names of other engines whose objects this one lists too (with their ``engine``)."""
        return frozenset()

    def narrow(self, namespaces: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Read only these namespaces of the engine's storage (an engine without any ignores it)."""

    def describe(self, obj: Container | Image) -> str:
        """How a container or an image is named among the matches of an ambiguous reference."""
        what = "container" if isinstance(obj, Container) else "image"
        return f"{self.name} {what} {obj.id}"

    def identity(self, obj: Container | Image) -> str:
        """What makes two matches of a reference the same object (equal views, equal records)."""
        return self.describe(obj)

    #: Whether ``reclaim --apply`` may remove what the plan names (False: the engine's own
    #: tools must do it, with the daemon running, and the plan says how).
    reclaim_applies: ClassVar[bool] = True

    def reclaim_commands(self, orphans: Sequence[Record]) -> list[str] | None:
        """The engine's own commands that reclaim ``orphans``, or ``None`` to plan removals."""
        return None

    # the model ---------------------------------------------------------------------------

    @property
    @abstractmethod
    def containers(self) -> Mapping[str, Container]:
        """Containers by ID."""

    @property
    @abstractmethod
    def images(self) -> Sequence[Image]:
        """Every image, in a deterministic order."""

    @property
    @abstractmethod
    def volumes(self) -> Mapping[str, Volume]:
        """Volumes by name."""

    # records of the inventory commands (``cli-contract.md`` keys) -------------------------

    @abstractmethod
    def container_records(self, *, sizes: bool) -> list[Record]:
        """Every ``containers`` object; ``size_rw`` is measured only with ``sizes``."""

    def container_records_json(self, *, sizes: bool) -> str:
        """The JSON array of :meth:`container_records` (an engine may render it faster)."""
        return to_json(self.container_records(sizes=sizes))

    @abstractmethod
    def image_records(self) -> list[Record]:
        """Every ``images`` object."""

    @abstractmethod
    def layer_records(self) -> list[Record]:
        """Every ``layers`` object: known layers, then layer directories nothing knows."""

    @abstractmethod
    def volume_records(self) -> list[Record]:
        """Every ``volumes`` object."""

    @abstractmethod
    def chain_record(self, obj: Container | Image) -> Record:
        """The ``chain`` object of a container or an image (its stack, top first)."""

    @abstractmethod
    def df_record(self, *, verbose: bool) -> Record:
        """The ``df`` object: the engine's own ``system df`` numbers, orphans, bytes on disk."""

    @abstractmethod
    def orphan_records(self) -> list[Record]:
        """Every ``orphans`` object: unreferenced, leaked and broken storage."""

    @abstractmethod
    def audit_record(self, *, verify: bool = False) -> Record:
        """The ``audit`` object: everything above, chain health, integrity and the findings.

        ``integrity`` says whether image layers were verified (only with ``verify``).
        """

    # recovery ----------------------------------------------------------------------------

    @abstractmethod
    def view(self, obj: Container | Image, *, with_mounts: bool = False) -> RecoveryView:
        """The merged filesystem of a container or an image (with a container's mounts).

        Raises:
            SourceError: no layer of it can be read.
        """

    @abstractmethod
    def changes(self, container: Container) -> list[Change]:
        """The container's changes as the engine's own ``diff`` reports them."""

    @abstractmethod
    def verify_records(self, obj: Container | Image | None) -> list[Record]:
        """``verify`` objects: each layer (of ``obj``, or every layer) checked against its digest.

        Raises:
            StoragekitError: ``obj`` has no image in this root.
        """

    @abstractmethod
    def save(self, images: Sequence[Image], out: BinaryIO) -> list[Record]:
        """Write ``images`` as an archive the engine's own import takes; returns its manifest."""

    # the analyst's commands (optional: an engine without them says so) ---------------------

    def _unsupported(self, command: str) -> StoragekitError:
        return StoragekitError(f"{self.name}: {command} is not supported")

    def inspect_record(self, obj: Container | Image, *, size: bool = False) -> Record:
        """``inspect``: the engine's own record of a container or an image, in its own shape.

        ``size``: measure a container's writable layer (``docker inspect --size``).
        """
        raise self._unsupported("inspect")

    def history_records(self, image: Image) -> list[Record]:
        """``history``: the image's build steps, newest first (``<missing>`` IDs included)."""
        raise self._unsupported("history")

    def log_entries(self, container: Container) -> list[LogEntry]:
        """``logs``: the container's entries, oldest first (none, and a finding, if not kept)."""
        raise self._unsupported("logs")

    def timeline_files(self) -> Iterator[Record]:
        """``timeline``: every file of every layer directory, on its own (not merged).

        Keys: ``holder`` (what holds it, for people), ``layer_kind``, ``layer_id``, ``path``,
        ``type``, ``mode``, ``uid``, ``gid``, ``size``, ``mtime_ns``, ``inode``,
        ``link_target``, ``deleted`` (a whiteout: the path it hides, timed by the whiteout).
        """
        raise self._unsupported("timeline")

    def timeline_events(self) -> list[Record]:
        """``timeline --format jsonl``: the engine's events, in any order.

        Keys: ``time_ns``, ``datetime``, ``timestamp_desc``, ``message`` and the IDs concerned.
        """
        raise self._unsupported("timeline")
