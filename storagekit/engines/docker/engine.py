"""Docker's graph-driver store as an :class:`~storagekit.engine.Engine`.

A Docker data root (``/var/lib/docker``, found anywhere in the evidence by
:func:`~storagekit.engines.docker.locate.find_root`): images and layers in
``image/<driver>/``, containers in ``containers/<id>/``, volumes in ``volumes/``, and the
layer files in the graph drivers' directories; also a root of Docker <= 1.9 (``graph/``).
Everything here hands the work to the Docker modules beside it; this class is only the seam.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from storagekit.engine import Engine, LayerStack
from storagekit.engines.docker.locate import find_root
from storagekit.errors import NotAStorageRootError, UnknownReferenceError
from storagekit.jsontext import Record, to_json
from storagekit.model import Container, Image, Volume
from storagekit.source import Source

if TYPE_CHECKING:
    from storagekit.engines.docker.root import DockerRoot
    from storagekit.logs import LogEntry
    from storagekit.union.changes import Change
    from storagekit.union.mounted import RecoveryView


def _changes_record(cache_id: str | None, changes: list[Change]) -> Record:
    """A read-write layer in ``verify``: it has no tar-split; what it holds is its changes."""
    return {
        "chain_id": None,
        "diff_id": None,
        "cache_id": cache_id,
        "status": "container-changes",
        "computed_diff_id": None,
        "files": [
            {"path": c.path, "change": {"A": "added", "C": "changed", "D": "deleted"}[c.kind]}
            for c in changes
        ],
    }


class DockerEngine(Engine):
    """A Docker data root read through :class:`DockerRoot` and the Docker analyses."""

    name: ClassVar[str] = "docker"
    title: ClassVar[str] = "Docker"
    daemon: ClassVar[str] = "dockerd"
    absent: ClassVar[str] = (
        "not a Docker data root "
        "(no image/<driver>/ store, no containers/ beside driver data, no var/lib/docker)"
    )

    def __init__(self, root: DockerRoot) -> None:
        self.root = root
        self.lenders: list[Engine] = []
        self._stacks: dict[str, LayerStack | None] = {}
        self.source = root.source
        self.evidence = root.evidence
        self.location = root.location
        self.findings = root.findings

    @classmethod
    def find(cls, evidence: Source, description: str) -> DockerEngine | None:
        """The Docker root in the evidence: at its top, moved, nested or a host's."""
        try:
            source, location = find_root(evidence)
        except NotAStorageRootError:
            return None
        from storagekit.engines.docker.root import DockerRoot  # only once there is a root

        return cls(DockerRoot(source, evidence=description, location=location))

    @classmethod
    def find_in_partial(cls, evidence: Source, description: str) -> DockerEngine | None:
        """A cut archive: its top read as a Docker root, with what it lacks said first."""
        from storagekit.engines.docker.root import DockerRoot

        engine = cls(DockerRoot(evidence, evidence=description))
        engine.findings.error("not-a-docker-root", None, f"{evidence.description}: {cls.absent}")
        return engine

    def incomplete(self) -> str | None:
        """Where the archive ends and how many layer directories that hides."""
        if self.root.evidence_cut() is None:
            return None  # whole evidence: the cut's module is not even imported
        from storagekit.engines.docker.incomplete import incomplete_line

        return incomplete_line(self.root)

    def settle(self) -> None:
        """Findings the cut explains become its consequences, ranked below it."""
        if self.root.evidence_cut() is None:
            return
        from storagekit.engines.docker.incomplete import settle

        settle(self.root)

    def attach(self, engines: Sequence[Engine]) -> None:
        """Other engines may hold this root's images and container filesystems (containerd)."""
        self.lenders = [e for e in engines if e is not self]
        if self.lenders:
            self.root.image_store_elsewhere = ", ".join(e.name for e in self.lenders)

    def _stack(self, container: Container) -> LayerStack | None:
        """The container's layers lent by another engine, when no graph driver holds them."""
        from storagekit.engines.docker.snapshotted import borrowed

        if not self.lenders or self.root.driver(container.driver) is not None:
            return None
        if container.id not in self._stacks:
            self._stacks[container.id] = borrowed(self.lenders, container)
        return self._stacks[container.id]

    def _lent(self, records: list[Record], *, sizes: bool = False) -> list[Record]:
        from storagekit.engines.docker.snapshotted import update_record

        if not self.lenders:
            return records
        out = []
        for r in records:
            c = self.root.containers.get(r["id"])
            stack = self._stack(c) if c is not None else None
            out.append(update_record(r, c, stack, sizes=sizes) if c is not None and stack else r)
        return out

    @property
    def containers(self) -> Mapping[str, Container]:  # noqa: D102 - see Engine
        return self.root.containers

    @property
    def images(self) -> Sequence[Image]:  # noqa: D102 - see Engine
        return self.root.images

    @property
    def volumes(self) -> Mapping[str, Volume]:  # noqa: D102 - see Engine
        return self.root.volumes

    def container_records(self, *, sizes: bool) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records

        found = records.container_records(self.root, sizes=sizes, adopt=False)
        return self._lent(found, sizes=sizes)

    def container_records_json(self, *, sizes: bool) -> str:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records

        if self.lenders:
            return to_json(self.container_records(sizes=sizes))
        return records.container_records_json(self.root, sizes=sizes)

    def image_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records

        return records.image_records(self.root)

    def layer_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records

        return records.layer_records(self.root)

    def volume_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records

        return records.volume_records(self.root)

    def chain_record(self, obj: Container | Image) -> Record:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records, snapshotted

        stack = self._stack(obj) if isinstance(obj, Container) else None
        if stack is not None and isinstance(obj, Container):
            return snapshotted.chain_record(obj, stack)
        return records.chain_record(self.root, obj)

    def df_record(self, *, verbose: bool) -> Record:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records

        return records.df_record(self.root, verbose=verbose)

    def orphan_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker.incomplete import mark_records
        from storagekit.engines.docker.orphans import find_orphans

        return mark_records(self.root, find_orphans(self.root))

    def audit_record(self, *, verify: bool = False) -> Record:  # noqa: D102 - see Engine
        from storagekit.engines.docker import records

        report = records.audit_record(self.root, verify=verify)
        report["containers"] = self._lent(report["containers"], sizes=True)
        return report

    def view(  # noqa: D102 - see Engine
        self, obj: Container | Image, *, with_mounts: bool = False
    ) -> RecoveryView:
        from storagekit.engines.docker import snapshotted
        from storagekit.engines.docker.views import container_view, image_view, mounted_view

        stack = self._stack(obj) if isinstance(obj, Container) else None
        if stack is not None and isinstance(obj, Container):
            base = snapshotted.view(obj, stack)
            return mounted_view(self.root, obj, base) if with_mounts else base
        if isinstance(obj, Container):
            return mounted_view(self.root, obj) if with_mounts else container_view(self.root, obj)
        return image_view(self.root, obj)

    def changes(self, container: Container) -> list[Change]:  # noqa: D102 - see Engine
        from storagekit.engines.docker import snapshotted
        from storagekit.engines.docker.views import container_changes

        stack = self._stack(container)
        if stack is not None:
            return snapshotted.changes(container, stack)
        return container_changes(self.root, container)

    def verify_records(self, obj: Container | Image | None) -> list[Record]:
        """Each image layer rebuilt from tar-split; a container's own layer as its changes."""
        from storagekit.engines.docker.snapshotted import borrowed_verify
        from storagekit.engines.docker.verify import verify as verify_layers
        from storagekit.ids import chain_ids

        root = self.root
        if obj is None:
            return verify_layers(root, root.layers)
        from storagekit.engines.docker import initlayer

        stack = self._stack(obj) if isinstance(obj, Container) else None
        if stack is not None and isinstance(obj, Container):
            lent = borrowed_verify(self.lenders, obj) or []
            rw_id = stack.ids[0] if stack.keys and stack.keys[0] == obj.id else None
            if (init := initlayer.lent_init_layer(stack, obj)) is not None:
                initlayer.check_init_layer(init, self.findings)
            return [*lent, _changes_record(rw_id, self.changes(obj))]
        image: Container | Image | None = obj
        if isinstance(obj, Container):
            store_of = root.store_for(obj)
            image = store_of.images.get(obj.image_id) if store_of else None
        if not isinstance(image, Image):
            raise UnknownReferenceError("its image is not in this root")
        store = root.stores[image.driver]
        layers = [lay for c in chain_ids(image.diff_ids) if (lay := store.layers.get(c))]
        found = verify_layers(root, layers)
        if isinstance(obj, Container):
            # A read-write layer has no tar-split: what it holds is the container's changes.
            rw = root.rw_layer(obj)
            found.append(_changes_record(rw.mount_id if rw else None, self.changes(obj)))
            if (init := initlayer.graph_init_layer(root, obj)) is not None:
                initlayer.check_init_layer(init, self.findings)
        return found

    def save(self, images: Sequence[Image], out: BinaryIO) -> list[Record]:
        """A ``docker save`` archive that ``docker load`` accepts, layer tars byte-exact."""
        from storagekit.engines.docker.save import save as save_images

        return save_images(self.root, images, out)

    # the analyst's commands ----------------------------------------------------------------

    def inspect_record(  # noqa: D102 - see Engine
        self, obj: Container | Image, *, size: bool = False
    ) -> Record:
        from storagekit.engines.docker.inspect import container_inspect, image_inspect

        if isinstance(obj, Container):
            return container_inspect(self.root, obj, size=size)
        return image_inspect(self.root, obj)

    def history_records(self, image: Image) -> list[Record]:
        """The image config's history; for the ``graph/`` layout (Docker <= 1.9), its v1 layers'."""
        from storagekit.engines.docker.history import history_records

        graph = getattr(self.root.stores.get(image.driver), "history", None)
        if graph is not None:
            found: list[Record] = graph(image.id)
            return found
        return history_records(self.root, image)

    def log_entries(self, container: Container) -> list[LogEntry]:  # noqa: D102 - see Engine
        from storagekit.engines.docker.logs import log_entries

        return log_entries(self.root, container)

    def timeline_files(self) -> Iterator[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker.timeline import file_records

        return file_records(self.root)

    def timeline_events(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker.timeline import event_records

        return event_records(self.root)
