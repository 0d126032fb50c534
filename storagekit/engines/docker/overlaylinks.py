"""Legacy overlay image chains checked against the driver's own evidence of parentage.

Legacy ``overlay`` keeps a parent record (``lower-id``) only for init and container layers: it
names the image's top layer, and the chains of containers compare it with the layer store. An
image layer has none, but its ``root/`` is its parent's ``root/`` copied with every regular file
hard-linked (``copy.DirCopy(..., copy.Hardlink)``) before its own tar is applied (*moby
v23.0.0:daemon/graphdriver/overlay/overlay.go* ``ApplyDiff``). So a layer whose ``root/`` shares
files (the same inode at the same path) with the ``root/`` of the layer the store names as its
parent was built on that parent: the driver agrees. A child that shares none of its parent's
files, although the parent has some, was built on something else: it disagrees. Every
``lower-id`` that names one of the image's layers must, in turn, name the top layer of the
container stacked on it in the layer store.
"""

from __future__ import annotations

from storagekit.cache import per_root
from storagekit.driver import StorageDriver
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import SourceError, StoragekitError
from storagekit.model import Stack


def image_agrees(root: DockerRoot, driver: StorageDriver, stack: Stack) -> bool | None:
    """Whether an overlay image stack (top first) is what the driver built; None if unknown."""
    ids = [lay.cache_id for lay in stack.layers]
    if not ids or any(i is None or not driver.has_layer(i) for i in ids):
        return None
    for child, parent in zip(ids, ids[1:], strict=False):
        assert child is not None
        assert parent is not None
        if not _built_on(root, driver, child, parent):
            return False
    return _lower_ids_agree(root, driver, ids)


@per_root(key=lambda root, driver, child, parent: (driver.name, child, parent))
def _built_on(root: DockerRoot, driver: StorageDriver, child: str, parent: str) -> bool:
    """Whether ``child``'s tree shares a hard-linked file with ``parent``'s (or parent has none)."""
    source = root.source
    top, below = driver.layer_path(child), driver.layer_path(parent)
    answer = True  # a parent without regular files leaves nothing to share
    for _directory, items in source.walk(below):
        for e in items:
            if not e.is_file:
                continue
            answer = False
            try:
                mine = source.stat(top + e.path[len(below) :])
            except (SourceError, StoragekitError):
                continue
            if mine.is_file and mine.inode is not None and mine.inode == e.inode:
                return True
    return answer


def _lower_ids_agree(root: DockerRoot, driver: StorageDriver, ids: list[str | None]) -> bool:
    """Whether each ``lower-id`` naming one of these layers names its container's image top.

    The image's top is the layer store's: the ``parent`` of the container's read-write layer.
    """
    mine = set(ids)
    for store in root.stores.values():
        if store.driver != driver.name:
            continue
        for rw in store.rw_layers.values():
            tops = {lay.cache_id for lay in store.layers.values() if lay.chain_id == rw.parent}
            for layer_id in (rw.init_id, rw.mount_id):
                if layer_id is None or not driver.has_layer(layer_id):
                    continue
                try:
                    recorded = driver.parent_ids(layer_id)
                except StoragekitError:
                    continue
                if recorded and recorded[0] in mine and recorded[0] not in tops:
                    return False
    return True
