"""The facade: open evidence, find the Docker root in it, detect drivers, build the model.

Everything is read lazily and once: listing containers does not read image configs, and nothing
reads a layer's files unless an analysis asks for them.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property

from storagekit.driver import StorageDriver
from storagekit.engines.docker.containers import read_containers
from storagekit.engines.docker.imagestore import GraphDriverStore, ImageStore
from storagekit.engines.docker.locate import (
    find_root,
    image_stores,
    is_legacy_graph,
    is_pre_cas_root,
)
from storagekit.engines.docker.volumes import read_volumes
from storagekit.errors import SourceError
from storagekit.model import Container, Findings, Image, Layer, RWLayer, Volume
from storagekit.registry import driver_classes
from storagekit.source import Cut, Source, SubSource
from storagekit.sources import open_source


class DockerRoot:
    """A Docker data root found in the evidence, with its model built on demand.

    Attributes:
        source: the Docker root (a view into the evidence).
        evidence: a description of the evidence as given (a host path or archive).
        location: where the root is inside the evidence ("" for its top).
        findings: everything damaged, hostile or inconsistent met while reading.
    """

    def __init__(self, source: Source, *, evidence: str = "", location: str = "") -> None:
        self.source = source
        self.evidence = evidence or source.description
        self.location = location
        self.findings = Findings()
        #: The engines that hold this root's images when it has no graph-driver store.
        self.image_store_elsewhere = ""

    @classmethod
    def open(cls, path: str) -> DockerRoot:
        """Open a directory or archive and find the Docker root inside it.

        Raises:
            SourceError: the evidence cannot be read.
            NotAStorageRootError: it holds no Docker root.
        """
        evidence = open_source(path)
        try:
            source, location = find_root(evidence)
        except BaseException:
            evidence.close()
            raise
        root = cls(source, evidence=path, location=location)
        for problem in evidence.problems:
            root.findings.warning("archive-damage", None, problem)
        return root

    def close(self) -> None:
        """Release the evidence."""
        self.source.close()

    def __enter__(self) -> DockerRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def stores(self) -> dict[str, ImageStore]:
        """Image stores by driver name (a host that switched drivers keeps several)."""
        stores: dict[str, ImageStore] = {
            name: GraphDriverStore(self.source, name, self.findings)
            for name in image_stores(self.source)
        }
        if not stores and is_legacy_graph(self.source):
            from storagekit.engines.docker.graph import graph_stores

            stores = graph_stores(self.source, self.findings)  # Docker <= 1.9
        elif not stores and self._has_containers() and self.image_store_elsewhere:
            self.findings.info(
                "image-store-in-containerd",
                "image",
                "no graph-driver image store (image/<driver>/): images, layers and container "
                "filesystems are read from containerd's namespace moby "
                f"({self.image_store_elsewhere} in this evidence)",
            )
        elif not stores and self._has_containers():
            # Docker >= 24 with the containerd-snapshotter feature (the default for new
            # installs since 29.0) keeps images and layers in containerd's root, not in
            # image/<driver>/ (moby daemon/image_store_choice.go; docker-root-format.md §8).
            self.findings.info(
                "no-image-store",
                "image",
                "no graph-driver image store (image/<driver>/): images and layers are in "
                "containerd's image store (Docker >= 24 with containerd-snapshotter, the "
                "default since 29.0), which storagekit does not read yet, or were removed; "
                "containers and volumes are still reported",
            )
        return stores

    def _has_containers(self) -> bool:
        try:
            return bool(self.source.listdir("containers"))
        except SourceError:
            return False

    @cached_property
    def drivers(self) -> dict[str, StorageDriver]:
        """Driver readers for every driver whose directories exist or that a store names."""
        classes = driver_classes(self.findings)
        result: dict[str, StorageDriver] = {}
        for name, cls in sorted(classes.items()):
            if cls.detect(self.source) or name in self.stores:
                result[name] = cls(self.source, self.findings)
        for name, store in self.stores.items():
            if name not in classes and not (
                isinstance(store, GraphDriverStore) and store.is_empty()
            ):
                self.findings.warning(
                    "unsupported-driver",
                    f"image/{name}",
                    f"no reader for storage driver {name!r}: its layer files cannot be read",
                )
        return result

    def driver(self, name: str) -> StorageDriver | None:
        """The reader for driver ``name``, if storagekit has one and the root uses it."""
        return self.drivers.get(name)

    @cached_property
    def containers(self) -> dict[str, Container]:
        """Containers by ID."""
        return read_containers(self.source, self.findings)

    @cached_property
    def volumes(self) -> dict[str, Volume]:
        """Volumes by name."""
        return read_volumes(self.source, self.findings)

    @cached_property
    def original_path(self) -> str:
        """The root's path on the host it came from, as its containers recorded it.

        Docker prints volume sources and log paths under it; ``/var/lib/docker`` when no
        container recorded one.
        """
        seen = Counter(c.data_root for c in self.containers.values() if c.data_root)
        return seen.most_common(1)[0][0] if seen else "/var/lib/docker"

    @property
    def images(self) -> list[Image]:
        """All images of all stores, sorted by (ID, driver)."""
        return sorted(
            (i for s in self.stores.values() for i in s.images.values()),
            key=lambda i: (i.id, i.driver),
        )

    @property
    def layers(self) -> list[Layer]:
        """All read-only layers of all stores, sorted by (chain ID, driver)."""
        return sorted(
            (lay for s in self.stores.values() for lay in s.layers.values()),
            key=lambda lay: (lay.chain_id, lay.driver),
        )

    def store_for(self, container: Container) -> ImageStore | None:
        """The image store that holds a container's read-write layer."""
        store = self.stores.get(container.driver)
        if store is not None:
            return store
        for store in self.stores.values():
            if store.rw_layer(container.id) is not None:
                return store
        return None

    def rw_layer(self, container: Container) -> RWLayer | None:
        """The container's ``layerdb/mounts/<id>`` record, if any.

        A root of Docker <= 1.9 has no layer store: there the driver IDs of a container's
        layers were the container ID and ``<id>-init`` (*moby v1.9.1:daemon/daemon.go*
        ``createRootfs``; 1.10's migration kept them, *v1.10.0:layer/migration.go*
        ``CreateRWLayerByGraphID``), and the record is made up from them.
        """
        store = self.store_for(container)
        if store is not None:
            return store.rw_layer(container.id)
        driver = self.driver(container.driver)
        if not self.pre_cas or driver is None:
            return None
        init = f"{container.id}-init"
        return RWLayer(
            container_id=container.id,
            mount_id=container.id,
            init_id=init if driver.has_layer(init) else None,
            parent=None,
            driver=driver.name,
            meta_path=container.config_path,
        )

    @cached_property
    def pre_cas(self) -> bool:
        """Whether the root was last run by Docker <= 1.9 (``graph/``, no image store)."""
        legacy = all(getattr(s, "kind", "") == "graph" for s in self.stores.values())
        return legacy and is_pre_cas_root(self.source)

    def evidence_cut(self) -> tuple[Source, Cut] | None:
        """The evidence the root was read from and where it ends, if it is cut short."""
        source = self.source
        while isinstance(source, SubSource):
            source = source.parent
        return None if source.cut is None else (source, source.cut)

    def containers_read(self) -> bool:
        """Whether :attr:`containers` has been read (or adopted) already."""
        return "containers" in self.__dict__

    def adopt_containers(self, containers: dict[str, Container]) -> None:
        """Take containers read elsewhere (by parallel workers) as this root's containers."""
        self.__dict__["containers"] = containers
