"""Docker containers whose filesystems live in containerd (the containerd image store).

Since Docker 24 with the containerd-snapshotter feature (the default for new installs since
29.0), ``config.v2.json`` names a containerd snapshotter as ``Driver`` (``overlayfs``) and
carries ``ImageManifest``; there is no ``image/<driver>/`` store and no ``layerdb/mounts``. The
container's read-write layer is snapshot ``<id>`` of namespace ``moby``, over ``<id>-init``,
over the image's top chain ID (moby ``daemon/containerd/image_snapshot.go``
``PrepareSnapshot``; ``daemon/snapshotter/mount.go``). The snapshots are read by whichever
engine of the evidence lends them (:meth:`~storagekit.engine.Engine.layer_stack`); this module
turns them into Docker's records and views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from storagekit.engine import Engine, LayerStack
from storagekit.errors import SourceError
from storagekit.jsontext import Record
from storagekit.model import Container

if TYPE_CHECKING:
    from storagekit.union.changes import Change
    from storagekit.union.view import UnionView

#: The containerd namespace Docker keeps its images, snapshots and containers in.
NAMESPACE = "moby"


def borrowed(lenders: Sequence[Engine], container: Container) -> LayerStack | None:
    """The container's snapshot stack from the first engine that lends it, else ``None``."""
    for engine in lenders:
        stack = engine.layer_stack(NAMESPACE, container.driver, container.id)
        if stack is not None:
            return stack
    return None


def borrowed_verify(lenders: Sequence[Engine], container: Container) -> list[Record] | None:
    """``verify`` of the image snapshots below the container, by the engine that lends them."""
    for engine in lenders:
        found = engine.verify_stack(NAMESPACE, container.driver, container.id)
        if found is not None:
            return found
    return None


def _role(key: str, container: Container) -> str:
    if key == container.id:
        return "rw"
    return "init" if key == f"{container.id}-init" else "image"


def rw_size(container: Container, stack: LayerStack) -> int | None:
    """``docker ps -s`` with the containerd store: the snapshotter's usage of snapshot ``<id>``.

    moby ``daemon/containerd/image_snapshot.go`` asks the snapshotter (overlayfs: the disk
    usage of the upper directory, allocated blocks); an archive records no allocation, so
    there the apparent bytes are given.
    """
    from storagekit.analysis.diskusage import path_usage

    if not stack.dirs or not stack.keys or stack.keys[0] != container.id:
        return None
    top = stack.dirs[0]
    if top.layer_id != stack.ids[0]:
        return None
    allocated, apparent = path_usage(top.source, top.path)
    return apparent if allocated is None else allocated


def update_record(
    record: Record, container: Container, stack: LayerStack, *, sizes: bool = False
) -> Record:
    """A ``containers`` object with the layers containerd holds for it."""
    record = dict(record)
    if sizes:
        record["size_rw"] = rw_size(container, stack)
    record["mount_id"] = container.id if stack.keys and stack.keys[0] == container.id else None
    init = f"{container.id}-init"
    record["init_id"] = init if init in stack.keys else None
    record["layer_dirs"] = list(stack.paths)
    record["snapshotter"] = container.driver
    record["snapshot_key"] = container.id
    return record


def chain_record(container: Container, stack: LayerStack) -> Record:
    """The ``chain`` object of a container on containerd."""
    return {
        "ref": container.id,
        "kind": "container",
        "driver": container.driver,
        "layers": [
            {
                "role": _role(key, container),
                "cache_id": sid,
                "chain_id": key if key.startswith("sha256:") else None,
                "diff_id": None,
                "path": path,
                "present": present,
                "key": key,
            }
            for key, sid, path, present in zip(
                stack.keys, stack.ids, stack.paths, stack.present, strict=True
            )
        ],
        "driver_parents_agree": None,
        "complete": stack.problem is None and all(stack.present),
        "problems": [stack.problem] if stack.problem else [],
        "namespace": NAMESPACE,
    }


def view(container: Container, stack: LayerStack, *, rw: bool = True) -> UnionView:
    """The container's union view (without its read-write layer when ``rw`` is false).

    Raises:
        SourceError: none of its snapshot directories is in the evidence.
    """
    from storagekit.union.view import UnionView as View

    dirs = list(stack.dirs)
    if not rw and stack.keys and stack.keys[0] == container.id:
        dirs = [d for d in dirs if d.layer_id != stack.ids[0]]
    if not dirs:
        raise SourceError(f"container {container.id}: its snapshots are not in the evidence")
    return View(dirs, f"container {container.name or container.id}")


def changes(container: Container, stack: LayerStack) -> list[Change]:
    """``docker diff``: the container's view against its view without the read-write layer."""
    from storagekit.union.changes import Tree
    from storagekit.union.changes import changes as compare

    new, old = view(container, stack), view(container, stack, rw=False)
    return compare(Tree(new, ""), Tree(old, ""))
