"""Sizes as Docker computes them (``docker-root-format.md`` §10.1).

* image ``size``: the sum of the layer store ``size`` files over the image's whole chain
  (``docker image inspect .Size``);
* ``shared_size``: the part of that in layers also used by another *listed* image, where the
  listed ("top-level") images are those that have a reference or no child image — the set
  ``docker system df`` counts over (``daemon/images/images.go`` ``Images(all=false)``);
* a container's ``size_rw``: ``directory.Size`` of its read-write layer for change-only drivers
  (overlay2, aufs), ``ChangesSize`` of its changes against the init layer for drivers Docker
  wraps in ``NaiveDiffDriver`` (*daemon/graphdriver/fsdiff.go* ``DiffSize``): for full-copy
  drivers (vfs) the two layer directories, for legacy overlay the two mounted views.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from storagekit.cache import per_root
from storagekit.driver import StorageDriver
from storagekit.engines.docker.chains import container_stack
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import SourceError
from storagekit.ids import chain_ids
from storagekit.model import Container, Image, RWLayer


class ImageSizes(NamedTuple):
    """Docker's size figures for one image (bytes)."""

    size: int
    shared_size: int
    unique_size: int


def children_of(root: DockerRoot) -> dict[tuple[str, str], list[str]]:
    """(driver, image ID) -> IDs of images whose ``parent`` metadata names it."""
    kids: dict[tuple[str, str], list[str]] = {}
    for image in root.images:
        if image.parent:
            kids.setdefault((image.driver, image.parent), []).append(image.id)
    return kids


def listed_images(root: DockerRoot) -> list[Image]:
    """The images ``docker images`` / ``docker system df`` list: referenced or childless."""
    kids = children_of(root)
    return [i for i in root.images if i.tags or i.digests or not kids.get((i.driver, i.id))]


def image_sizes(root: DockerRoot) -> dict[tuple[str, str], ImageSizes]:
    """Size figures for every image, keyed by (driver, image ID)."""
    listed = {(i.driver, i.id) for i in listed_images(root)}
    refs: Counter[tuple[str, str]] = Counter()
    chains: dict[tuple[str, str], list[str]] = {}
    for image in root.images:
        key = (image.driver, image.id)
        chains[key] = list(chain_ids(image.diff_ids))
        if key in listed:
            refs.update((image.driver, c) for c in chains[key])
    result = {}
    for image in root.images:
        key = (image.driver, image.id)
        store = root.stores[image.driver]
        size = shared = 0
        for chain in chains[key]:
            layer = store.layers.get(chain)
            layer_size = layer.size if layer is not None and layer.size is not None else 0
            size += layer_size
            others = refs[(image.driver, chain)] - (1 if key in listed else 0)
            if others > 0:
                shared += layer_size
        result[key] = ImageSizes(size, shared, size - shared)
    return result


def plain_rw_dir(root: DockerRoot, container: Container) -> str | None:
    """The writable layer directory whose ``directory.Size`` alone is ``size_rw``, if any.

    Change-only drivers only; ``df`` sizes these in its walk of the whole root
    (:func:`storagekit.analysis.diskusage.measure`'s marks).
    """
    found = _rw_top(root, container)
    return found[2] if found is not None and not found[1].naive_diff else None


def _rw_top(root: DockerRoot, container: Container) -> tuple[RWLayer, StorageDriver, str] | None:
    """The container's read-write layer record, its driver and its directory, if present."""
    rw = root.rw_layer(container)
    driver = root.driver(rw.driver) if rw else None
    if rw is None or driver is None or rw.mount_id is None or not driver.has_layer(rw.mount_id):
        return None
    return rw, driver, driver.layer_path(rw.mount_id)


@per_root(key=lambda root, container: container.id)
def container_size_rw(root: DockerRoot, container: Container) -> int | None:
    """Bytes in the container's writable layer as ``docker ps -s`` counts them.

    Change-only drivers: ``directory.Size`` of the writable layer. Naive-diff drivers: the size
    of its changes against the layer below (the init layer), as ``ChangesSize``. Measured once
    per root (``audit`` reports it in the inventory and in the disk usage); a size measured by
    a forked worker is handed in with ``container_size_rw.seed``.
    """
    # Imported here: `containers` without sizes (docker ps's default) never needs them.
    from storagekit.analysis.diskusage import apparent_size
    from storagekit.union.changes import Tree, changes, changes_size

    found = _rw_top(root, container)
    if found is None:
        return None
    rw, driver, top = found
    if not driver.naive_diff:
        return apparent_size(root.source, top)
    if driver.full_copy:
        below = rw.init_id
        if below is None:
            stack = container_stack(root, container).layers
            below = stack[1].cache_id if len(stack) > 1 else None
        if below is None or not driver.has_layer(below):
            return apparent_size(root.source, top)
        new, old = Tree(root.source, top), Tree(root.source, driver.layer_path(below))
    else:
        from storagekit.engines.docker.views import (
            naive_trees,  # the union view: only naive-diff drivers
        )

        try:
            new, old = naive_trees(root, container)
        except SourceError:
            return None  # neither view has a layer to read; the views said why
    return changes_size(new, changes(new, old))
