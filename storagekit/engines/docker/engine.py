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

from storagekit.engine import Engine
from storagekit.engines.docker import records
from storagekit.engines.docker.locate import find_root
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import NotAStorageRootError, UnknownReferenceError
from storagekit.jsontext import Record
from storagekit.model import Container, Image, Volume
from storagekit.source import Source

if TYPE_CHECKING:
    from storagekit.logs import LogEntry
    from storagekit.union.changes import Change
    from storagekit.union.mounted import RecoveryView


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
        return cls(DockerRoot(source, evidence=description, location=location))

    @property
    def containers(self) -> Mapping[str, Container]:  # noqa: D102 - see Engine
        return self.root.containers

    @property
    def images(self) -> Sequence[Image]:  # noqa: D102 - see Engine
        return self.root.images

    @property
    def volumes(self) -> Mapping[str, Volume]:  # noqa: D102 - see Engine
        return self.root.volumes

    @property
    def recorded_path(self) -> str:  # noqa: D102 - see Engine
        return self.root.original_path

    def container_records(self, *, sizes: bool) -> list[Record]:  # noqa: D102 - see Engine
        return records.container_records(self.root, sizes=sizes, adopt=False)

    def container_records_json(self, *, sizes: bool) -> str:  # noqa: D102 - see Engine
        return records.container_records_json(self.root, sizes=sizes)

    def image_records(self) -> list[Record]:  # noqa: D102 - see Engine
        return records.image_records(self.root)

    def layer_records(self) -> list[Record]:  # noqa: D102 - see Engine
        return records.layer_records(self.root)

    def volume_records(self) -> list[Record]:  # noqa: D102 - see Engine
        return records.volume_records(self.root)

    def chain_record(self, obj: Container | Image) -> Record:  # noqa: D102 - see Engine
        return records.chain_record(self.root, obj)

    def df_record(self, *, verbose: bool) -> Record:  # noqa: D102 - see Engine
        return records.df_record(self.root, verbose=verbose)

    def orphan_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker.orphans import find_orphans

        return find_orphans(self.root)

    def audit_record(self) -> Record:  # noqa: D102 - see Engine
        return records.audit_record(self.root)

    def view(  # noqa: D102 - see Engine
        self, obj: Container | Image, *, with_mounts: bool = False
    ) -> RecoveryView:
        from storagekit.engines.docker.views import container_view, image_view, mounted_view

        if isinstance(obj, Container):
            return mounted_view(self.root, obj) if with_mounts else container_view(self.root, obj)
        return image_view(self.root, obj)

    def changes(self, container: Container) -> list[Change]:  # noqa: D102 - see Engine
        from storagekit.engines.docker.views import container_changes

        return container_changes(self.root, container)

    def verify_records(self, obj: Container | Image | None) -> list[Record]:
        """Each image layer rebuilt from tar-split; a container's own layer as its changes."""
        from storagekit.analysis.verify import verify as verify_layers
        from storagekit.ids import chain_ids

        root = self.root
        if obj is None:
            return verify_layers(root, root.layers)
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
            found.append(
                {
                    "chain_id": None,
                    "diff_id": None,
                    "cache_id": rw.mount_id if rw else None,
                    "status": "container-changes",
                    "computed_diff_id": None,
                    "files": [
                        {
                            "path": c.path,
                            "change": {"A": "added", "C": "changed", "D": "deleted"}[c.kind],
                        }
                        for c in self.changes(obj)
                    ],
                }
            )
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

    def history_records(self, image: Image) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.docker.history import history_records

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
