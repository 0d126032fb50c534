"""Union views of containers and images, and the container's changes (``docker diff``).

A container's filesystem is its read-write layer over its init layer over its image's layers —
the directories Docker mounts (:func:`~storagekit.engines.docker.chains.container_layer_dirs`). An
image's is its layers. Of such a stack the driver picks the levels its mount really layers
(:meth:`~storagekit.driver.StorageDriver.union_branches`: all of them but for legacy overlay,
whose layers hold more than their changes). ``docker diff`` compares the container's view with
the same stack without the read-write layer (init changes are never reported), or, for aufs,
walks the read-write branch (:func:`~storagekit.union.changes.branch_changes`).
"""

from __future__ import annotations

from storagekit.driver import StorageDriver
from storagekit.engines.docker.chains import container_layer_dirs, container_stack, image_stack
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import SourceError, UnsafePathError
from storagekit.ids import is_safe_component
from storagekit.model import Container, Image
from storagekit.source import normpath
from storagekit.union.changes import Change, Tree, branch_changes, changes
from storagekit.union.mounted import MountedView, ViewMount
from storagekit.union.view import LayerDir, UnionView, check_markers


def _layer_dirs(
    root: DockerRoot, driver: StorageDriver | None, ids: list[str | None], what: str, where: str
) -> list[LayerDir]:
    if driver is None:
        raise SourceError(f"{what}: no reader for its storage driver")
    layers = []
    for layer_id in ids:
        if layer_id is None:
            root.findings.error(
                "missing-layer", where, f"{what}: a layer of its stack is unknown; files absent"
            )
            continue
        try:
            present = driver.has_layer(layer_id)
            path = driver.layer_path(layer_id)
        except UnsafePathError:
            present = False
        if not present:
            root.findings.error(
                "missing-layer-dir",
                where,
                f"{what}: layer directory {layer_id} is missing; its files are absent",
            )
            continue
        layers.append(LayerDir(root.source, path, layer_id, driver))
    return layers


def container_view(root: DockerRoot, container: Container, *, rw: bool = True) -> UnionView:
    """The container's root filesystem; with ``rw=False``, as it was before it ran.

    Raises:
        SourceError: no layer of the container can be read.
    """
    container_stack(root, container)  # its problems become findings: the view may be partial
    record = root.rw_layer(container)
    driver = root.driver(record.driver if record else container.driver)
    ids = container_layer_dirs(root, container)
    writable = 1 + (record is not None and record.init_id is not None)
    if not rw:
        ids, writable = ids[1:], writable - 1
    if driver is not None:
        ids = driver.union_branches(ids, writable)
    what = f"container {container.name or container.id}"
    view = UnionView(_layer_dirs(root, driver, ids, what, container.config_path), what)
    check_markers(view, root.source, root.findings, container.config_path)
    return view


def image_view(root: DockerRoot, image: Image) -> UnionView:
    """The image's filesystem.

    Raises:
        SourceError: no layer of the image can be read.
    """
    stack = image_stack(root, image)
    driver = root.driver(image.driver)
    ids = [lay.cache_id for lay in stack.layers]
    if driver is not None:
        ids = driver.union_branches(ids, 0)
    what = f"image {image.id}"
    view = UnionView(_layer_dirs(root, driver, ids, what, image.config_path), what)
    check_markers(view, root.source, root.findings, image.config_path)
    return view


def container_changes(root: DockerRoot, container: Container) -> list[Change]:
    """``docker diff`` of a container, in an order Docker itself can produce."""
    record = root.rw_layer(container)
    driver = root.driver(record.driver) if record else None
    if driver is not None and driver.branch_diff and record and record.mount_id:
        parents = driver.parent_ids(record.mount_id)
        if parents is not None:
            return branch_changes(
                Tree(root.source, driver.layer_path(record.mount_id)),
                [Tree(root.source, driver.layer_path(p)) for p in parents],
            )
    new, old = naive_trees(root, container)
    return changes(new, old)


def naive_trees(root: DockerRoot, container: Container) -> tuple[Tree, Tree]:
    """The container's view and its view before it ran: what ``ChangesDirs`` compares.

    Raises:
        SourceError: no layer of the container can be read.
    """
    new = container_view(root, container)
    old = container_view(root, container, rw=False)
    return Tree(new, ""), Tree(old, "")


_GENERATED = {"hostname": "etc/hostname", "hosts": "etc/hosts", "resolv.conf": "etc/resolv.conf"}


def mounted_view(
    root: DockerRoot, container: Container, base: UnionView | None = None
) -> MountedView:
    """The container's view with its volumes and Docker's generated files mounted.

    ``base`` is the container's view where another engine holds its layers, else its graph
    driver's view.
    """
    return MountedView(base or container_view(root, container), view_mounts(root, container))


def view_mounts(root: DockerRoot, container: Container) -> list[ViewMount]:
    """What Docker mounts into the container that the evidence holds.

    Its volumes' ``volumes/<name>/_data``, and ``containers/<id>/{hostname,hosts,resolv.conf}``
    at ``/etc``; other mounts are an info finding each.
    """
    mounts = []
    for m in container.mounts:
        try:
            dest = normpath(m.destination)
        except UnsafePathError:
            continue  # an unsafe-path finding already (read_container)
        if m.type == "volume" and m.name and not is_safe_component(m.name):
            continue  # an unsafe-id finding already (read_container)
        if m.type == "volume" and is_safe_component(m.name):
            data = f"volumes/{m.name}/_data"
            if root.source.is_dir(data):
                mounts.append(ViewMount(dest, root.source, data, f"volume:{m.name}"))
                continue
        root.findings.info(
            "mount-not-in-evidence",
            container.config_path,
            f"{m.type} mount at {m.destination} ({m.source or m.name}): its data is not in the "
            "evidence",
        )
    for name, dest in _GENERATED.items():
        path = f"containers/{container.id}/{name}"
        if root.source.is_file(path):
            mounts.append(ViewMount(dest, root.source, path, f"containers/{container.id}/{name}"))
    return mounts
