"""Layer chains of images and containers, down to their driver directories.

An image: diff IDs -> chain IDs -> cache IDs -> driver directories. A container: read-write
layer (mount-id) + init layer + the image chain below it.

A container's chain is followed the way Docker mounts it: from ``layerdb/mounts/<id>/parent``
down the layer store's ``parent`` files. An image's chain is computed from its diff IDs. Chains
are walked iteratively with a visited set: a parent cycle or a chain thousands of layers deep is a
finding, never a hang or a recursion error. The driver's own parent records (aufs
``layers/<id>``, overlay2 ``lower``) are cross-checked against the layer store.
"""

from __future__ import annotations

from typing import NamedTuple

from storagekit.cache import per_root
from storagekit.driver import StorageDriver
from storagekit.engines.docker.imagestore import ImageStore
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import UnsafePathError
from storagekit.ids import chain_ids
from storagekit.model import Container, Image, Layer, Stack, StackLayer

#: Docker refuses to create chains deeper than this (``layer_store.go`` ``maxLayerDepth``).
MAX_DOCKER_DEPTH = 125


def _path(driver: StorageDriver | None, layer_id: str | None) -> tuple[str | None, bool]:
    if driver is None or layer_id is None:
        return None, False
    try:
        path = driver.layer_path(layer_id)
    except UnsafePathError:
        return None, False
    return path, driver.has_layer(layer_id)


def _stack_layer(
    role: str, driver: StorageDriver | None, cache_id: str | None, layer: Layer | None = None
) -> StackLayer:
    path, present = _path(driver, cache_id)
    return StackLayer(
        role=role,  # type: ignore[arg-type]
        cache_id=cache_id,
        chain_id=layer.chain_id if layer else None,
        diff_id=layer.diff_id if layer else None,
        path=path,
        present=present,
    )


class ParentWalk(NamedTuple):
    """The result of following ``parent`` files from a top chain ID.

    Attributes:
        layers: found layers, top first.
        problems: why the walk stopped early, if it did.
    """

    layers: list[Layer]
    problems: list[str]


class ParentLevels(NamedTuple):
    """Stack levels below a top chain ID, and what broke the walk (cached per root)."""

    levels: tuple[StackLayer, ...]
    problems: tuple[str, ...]


def walk_parents(store: ImageStore, top: str | None) -> ParentWalk:
    """Follow the layer store's ``parent`` files from ``top`` down to a base layer."""
    layers: list[Layer] = []
    problems: list[str] = []
    seen: set[str] = set()
    current = top
    while current:
        if current in seen:
            problems.append(f"parent cycle: {current} is its own ancestor")
            break
        seen.add(current)
        layer = store.layers.get(current)
        if layer is None:
            problems.append(f"layer {current} is missing from the layer store")
            break
        layers.append(layer)
        current = layer.parent
    if len(layers) > MAX_DOCKER_DEPTH:
        problems.append(
            f"chain is {len(layers)} layers deep; Docker refuses more than {MAX_DOCKER_DEPTH}"
        )
    return ParentWalk(layers, problems)


def parents_agree(root: DockerRoot, stack: Stack) -> bool | None:
    """Whether the driver's own parent record of the top layer names the rest of the stack.

    ``None`` when the driver keeps no such record (vfs) or the top layer is unknown. Legacy
    overlay image layers keep none either; there the hard links between their ``root/`` trees
    and the ``lower-id`` of the containers on them stand for it
    (:mod:`storagekit.engines.docker.overlaylinks`). The record names the lower branches of
    the layer's union mount
    (:meth:`~storagekit.driver.StorageDriver.union_branches`): every layer below for overlay2
    and aufs, the image's top layer for legacy overlay.
    """
    driver = root.driver(stack.driver)
    layers = stack.layers
    if driver is None or not layers or layers[0].cache_id is None:
        return None
    try:
        recorded = driver.parent_ids(layers[0].cache_id)
    except UnsafePathError:
        return False
    if recorded is None:
        if driver.name == "overlay" and all(lay.role == "image" for lay in layers):
            from storagekit.engines.docker.overlaylinks import image_agrees

            return image_agrees(root, driver, stack)
        return None
    writable = sum(lay.role != "image" for lay in layers)
    return recorded == driver.union_branches([lay.cache_id for lay in layers], writable)[1:]


@per_root(key=lambda root, image: (image.driver, image.id))
def image_stack(root: DockerRoot, image: Image) -> Stack:
    """The image's layers, top first, from its diff IDs (computed once per root)."""
    store = root.stores.get(image.driver)
    driver = root.driver(image.driver)
    layers: list[StackLayer] = []
    problems: list[str] = []
    previous: str | None = None
    for chain in chain_ids(image.diff_ids):
        layer = store.layers.get(chain) if store else None
        if layer is None:
            problems.append(f"layer {chain} is missing from the layer store")
            layers.append(StackLayer("image", None, chain, None, None, False))
        else:
            if layer.parent != previous:
                problems.append(f"layer {chain} records parent {layer.parent}, expected {previous}")
            layers.append(_stack_layer("image", driver, layer.cache_id, layer))
        previous = chain
    layers.reverse()
    return _reported(root, image.config_path, _finish(image.driver, layers, problems))


def _reported(root: DockerRoot, where: str, stack: Stack) -> Stack:
    """Record the stack's problems as ``broken-chain`` findings, wherever it is built."""
    for problem in stack.problems:
        root.findings.error("broken-chain", where, problem)
    return stack


@per_root(key=lambda root, container: container.id)
def container_stack(root: DockerRoot, container: Container) -> Stack:
    """The container's rw layer, init layer and image layers, top first (once per root)."""
    store = root.store_for(container)
    driver_name = store.driver if store else container.driver
    driver = root.driver(driver_name)
    rw = store.rw_layer(container.id) if store else None
    if rw is None and not root.stores:
        # No graph-driver store at all: the layers are in containerd's image store (the
        # container's Driver is a snapshotter, e.g. overlayfs), which the root reports once.
        return Stack(driver_name, (), complete=False)
    if rw is None:
        return _reported(
            root,
            container.config_path,
            Stack(
                driver_name,
                (),
                complete=False,
                problems=(f"no read-write layer record (layerdb/mounts/{container.id})",),
            ),
        )
    layers: list[StackLayer] = []
    problems: list[str] = []
    if rw.mount_id is None:
        problems.append(f"{rw.meta_path}/mount-id is missing or unusable")
    layers.append(_stack_layer("rw", driver, rw.mount_id))
    if rw.init_id is not None:
        layers.append(_stack_layer("init", driver, rw.init_id))
    assert store is not None
    below, walk_problems = _image_layers(root, store, driver, rw.parent)
    layers.extend(below)
    problems.extend(walk_problems)
    image = store.images.get(container.image_id)
    if image is not None and image.diff_ids:
        top = top_chain_id(root, image)
        if rw.parent != top:
            problems.append(
                f"read-write layer parent {rw.parent} is not the top layer {top} of its image"
            )
    return _reported(root, container.config_path, _finish(driver_name, layers, problems))


def container_layer_dirs(root: DockerRoot, container: Container) -> list[str | None]:
    """The container's driver directory IDs, top first, as Docker mounts them.

    Docker mounts what the driver itself recorded for the writable layer (overlay2 ``lower``,
    aufs ``layers/<mount-id>``), and ``docker inspect`` shows the same. When the driver keeps
    no such record (vfs), names only part of the chain (legacy overlay ``lower-id``), or it is
    damaged or incomplete, the chain comes from the layer store.
    """
    rw = root.rw_layer(container)
    if rw is None:
        return []
    driver = root.driver(rw.driver)
    if driver is not None and rw.mount_id is not None:
        try:
            record = driver.parent_record(rw.mount_id)
        except UnsafePathError:
            record = None
        if (
            record is not None
            and record.complete
            and record.whole_chain
            and (record.parents or rw.init_id is None)
        ):
            return [rw.mount_id, *record.parents]
    return [lay.cache_id for lay in container_stack(root, container).layers]


@per_root(key=lambda root, image: (image.driver, image.id))
def top_chain_id(root: DockerRoot, image: Image) -> str | None:
    """The chain ID of the image's top layer (``None`` for an image without layers)."""
    *_, top = [None, *chain_ids(image.diff_ids)]
    return top


def _image_layers(
    root: DockerRoot, store: ImageStore, driver: StorageDriver | None, top: str | None
) -> tuple[list[StackLayer], list[str]]:
    """Stack levels and problems below a top chain ID; shared by every container on it."""
    walked = _parent_levels(root, store, driver, top)
    return list(walked.levels), list(walked.problems)


@per_root(key=lambda root, store, driver, top: (store.driver, top or ""))
def _parent_levels(
    root: DockerRoot, store: ImageStore, driver: StorageDriver | None, top: str | None
) -> ParentLevels:
    walk = walk_parents(store, top)
    return ParentLevels(
        tuple(_stack_layer("image", driver, lay.cache_id, lay) for lay in walk.layers),
        tuple(walk.problems),
    )


def _finish(name: str, layers: list[StackLayer], problems: list[str]) -> Stack:
    # A layer without a path belongs to a driver storagekit has no reader for (devicemapper,
    # btrfs ...): whether its directory exists is
    # unknown, not missing. The root already says once that the driver cannot be read.
    for lay in layers:
        if lay.cache_id is not None and lay.path is not None and not lay.present:
            problems.append(f"driver directory {lay.path} is missing")
    return Stack(
        driver=name,
        layers=tuple(layers),
        complete=not problems,
        problems=tuple(problems),
    )
