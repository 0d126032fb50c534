"""One parallel pass over what ``images`` reads: layer records, image configs and containers.

``images`` needs every layer record of a store (sizes, cache IDs), every image config and the
image ID of every container. Read kind by kind, that is two parallel passes and a serial one,
each after a serial listing of its directory; here the parent lists the three kinds
(``layerdb/sha256``, ``imagedb/content/sha256``, ``containers``), one
:func:`~storagekit.parallel.pmap` reads them all, and each result goes where the kind-by-kind
readers would have put it. Findings are the same as those readers'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from storagekit.engines.docker.containers import container_ids, read_then
from storagekit.engines.docker.imagedb import image_names, read_image, with_references
from storagekit.engines.docker.imagestore import GraphDriverStore
from storagekit.engines.docker.layerdb import layer_names, read_layer
from storagekit.engines.docker.root import DockerRoot
from storagekit.model import Container, Image, Layer
from storagekit.parallel import pmap

T = TypeVar("T")

_LAYER, _IMAGE, _CONTAINER = range(3)


def read_with_containers(root: DockerRoot, then: Callable[[Container], T]) -> list[T]:
    """Load the layers and images of every store not loaded yet; ``then`` of every container.

    ``then`` runs where its container was read (a forked worker, possibly): it must not need
    a store's layers or images, which the workers are still reading. Unreadable containers
    are left out (each is a finding).
    """
    source, findings = root.source, root.findings
    _ = root.drivers  # shared by the workers: set up before they fork
    stores = [s for s in root.stores.values() if isinstance(s, GraphDriverStore) and not s.loaded()]
    jobs: list[tuple[int, str, str]] = []
    for store in stores:
        jobs += [(_LAYER, store.driver, n) for n in layer_names(source, store.driver, findings)]
        jobs += [(_IMAGE, store.driver, n) for n in image_names(source, store.driver, findings)]
    jobs += [(_CONTAINER, "", cid) for cid in container_ids(source, findings)]
    pre_cas = root.pre_cas  # decided once, before the workers fork

    def one(job: tuple[int, str, str]) -> Layer | Image | T | None:
        kind, driver, name = job
        if kind == _LAYER:
            return read_layer(source, driver, name, findings)
        if kind == _IMAGE:
            return read_image(source, driver, name, findings)
        return read_then(source, name, findings, then, pre_cas=pre_cas)

    results = pmap(
        one, jobs, source=source, findings=findings, label="reading the root", spare_only=True
    )  # (forked only onto idle cores, as each_container)
    layers: dict[str, list[Layer]] = {s.driver: [] for s in stores}
    images: dict[str, list[Image]] = {s.driver: [] for s in stores}
    found: list[T] = []
    for (kind, driver, _), value in zip(jobs, results, strict=True):
        if value is None:
            continue
        if kind == _LAYER:
            assert isinstance(value, Layer)
            layers[driver].append(value)
        elif kind == _IMAGE:
            assert isinstance(value, Image)
            images[driver].append(value)
        else:
            found.append(value)  # type: ignore[arg-type]  # a T: the container kind
    for store in stores:
        read = with_references(source, store.driver, images[store.driver], findings)
        store.adopt(layers[store.driver], read)
    return found
