"""Image stores: where a root keeps its images, layers and container read-write layers.

Only the graph-driver store (``image/<driver>/``: layerdb + imagedb + repositories.json) is read
today. The containerd store of Docker >= 29 and Kubernetes nodes keeps the same things in
containerd's BoltDB and snapshotter directories; it will be a second :class:`ImageStore` that
yields the same model objects, so nothing downstream opens a layerdb file itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from functools import cached_property

from storagekit.engines.docker.imagedb import read_images
from storagekit.engines.docker.layerdb import read_layers, read_mount, read_mounts
from storagekit.errors import SourceError
from storagekit.ids import is_hex64
from storagekit.model import Findings, Image, Layer, RWLayer
from storagekit.source import Source


class ImageStore(ABC):
    """Images, layers and container read-write layers of one store.

    Attributes:
        driver: the storage driver whose directories hold the layer data.
    """

    kind: str
    driver: str

    @property
    @abstractmethod
    def images(self) -> dict[str, Image]:
        """Images by ID."""

    @property
    @abstractmethod
    def layers(self) -> dict[str, Layer]:
        """Read-only layers by chain ID."""

    @property
    @abstractmethod
    def rw_layers(self) -> dict[str, RWLayer]:
        """Container read-write layers by container ID."""

    @abstractmethod
    def rw_layer(self, container_id: str) -> RWLayer | None:
        """One container's read-write layer, without reading the others."""


class GraphDriverStore(ImageStore):
    """``image/<driver>/`` of Docker 1.10 and later, read lazily."""

    kind = "graphdriver"

    def __init__(self, source: Source, driver: str, findings: Findings) -> None:
        self.source = source
        self.driver = driver
        self.findings = findings
        self._rw_cache: dict[str, RWLayer | None] = {}

    @cached_property
    def images(self) -> dict[str, Image]:  # noqa: D102 - see ImageStore
        return read_images(self.source, self.driver, self.findings)

    @cached_property
    def layers(self) -> dict[str, Layer]:  # noqa: D102 - see ImageStore
        return read_layers(self.source, self.driver, self.findings)

    @cached_property
    def rw_layers(self) -> dict[str, RWLayer]:  # noqa: D102 - see ImageStore
        return read_mounts(self.source, self.driver, self.findings)

    def loaded(self) -> bool:
        """True once the layers and the images have both been read."""
        return "layers" in self.__dict__ and "images" in self.__dict__

    def adopt(self, layers: Iterable[Layer], images: dict[str, Image]) -> None:
        """Take this store's layers and images, read elsewhere (by :mod:`.inventory`)."""
        self.__dict__["layers"] = {layer.chain_id: layer for layer in layers}
        self.__dict__["images"] = images

    def rw_layer(self, container_id: str) -> RWLayer | None:  # noqa: D102 - see ImageStore
        if "rw_layers" in self.__dict__:
            return self.rw_layers.get(container_id)
        if container_id not in self._rw_cache:
            found = None
            if is_hex64(container_id):
                try:
                    found = read_mount(self.source, self.driver, container_id, self.findings)
                except SourceError:  # no layerdb/mounts/<id> directory
                    found = None
            self._rw_cache[container_id] = found
        return self._rw_cache[container_id]

    def is_empty(self) -> bool:
        """True if the store holds no image, layer or container layer record.

        dockerd creates ``image/<driver>/`` (``imagedb``, ``layerdb``, a ``repositories.json``
        of ``{"Repositories":{}}``) for whatever driver it starts with (*moby
        daemon/daemon.go* ``NewDaemon``, ``imageRoot``); a host that was started once with
        another driver keeps that empty store beside the real one. google/docker-explorer's
        real overlay2 test root (Docker 18.x) has such an ``image/overlay/`` (``tests.py``
        ``testGetRepositoriesString``).
        """
        base = f"image/{self.driver}"
        for sub in ("layerdb/sha256", "layerdb/mounts", "imagedb/content/sha256"):
            try:
                if self.source.listdir(f"{base}/{sub}"):
                    return False
            except SourceError:
                continue
        return True

