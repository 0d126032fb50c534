"""Union views of podman containers and images, ``podman diff``, and rootless owners.

The layer directories are the ones podman mounts (:func:`.root.container_layer_dirs`):
``overlay/<id>/diff`` (overlay: kernel overlay whiteouts and opaque xattrs, ``trusted.`` rootful,
``user.`` rootless) or ``vfs/dir/<id>`` (full copies). The same layouts as Docker's overlay2 and
vfs drivers below other directories, so their readers are reused from the driver registry:
podman's ``overlay/`` is overlay2's layout (``l/`` links, ``link``, ``lower``), not Docker's
legacy ``overlay`` driver (``root/``, ``upper/``, ``lower-id``), which would misread it. Only
its entry classification, layer paths and layer parts are used: the stack and the ``lower``
cross-check come from containers-storage's records (:func:`.root.container_layer_dirs`), whose
short names are ``[A-Z0-9]{26}``, wider than moby's base32 ones.

``podman diff`` is containers-storage's ``Changes`` of the container layer against its parent
(``ChangesDirs`` of the two mounts when the diff is naive), with the paths podman writes or
mounts itself left out (podman ``libpod/diff.go``, ``containerMounts``). Rootless roots hold
owners shifted by the user's subordinate IDs; the view shows them as the container saw them
(:class:`IDMappedSource`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from storagekit.driver import StorageDriver
from storagekit.engines.podman.common import IDMapping, to_container_id
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.root import container_layer_dirs, image_layer_dirs
from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Container, Findings, Image
from storagekit.registry import driver_classes
from storagekit.source import Entry, Row, Source, Writer, normpath
from storagekit.union.changes import Change, Tree, changes
from storagekit.union.mounted import MountedView, ViewMount
from storagekit.union.view import LayerDir, UnionView, check_markers

#: What ``podman diff`` leaves out: files podman writes into the container layer or mounts
#: over it (``libpod/diff.go`` ``containerMounts`` and the ``/dev``, ``/proc``, ``/sys``,
#: ``/run`` trees).
PODMAN_WRITES = frozenset(
    {
        "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/etc/mtab", "/run/.containerenv",
        "/run/secrets", "/run/notify", "/dev", "/proc", "/sys", "/run",
    }
)  # fmt: skip
_OVERFLOW = 65534


def driver_for(name: str, source: Source, findings: Findings) -> StorageDriver | None:
    """A reader of podman's ``name`` layout, built from the registered drivers."""
    classes = driver_classes(findings)
    if name == "overlay":
        base = classes.get("overlay2")
        if base is None:
            return None
        cls = type("PodmanOverlay", (base,), {"name": "overlay", "root": "overlay"})
        driver: StorageDriver = cls(source, findings)
        return driver
    found = classes.get(name)
    return found(source, findings) if found is not None else None


class IDMappedSource(Source):
    """A layer source whose owners are shown as the container saw them (rootless roots).

    An on-disk owner no mapping covers is shown as the kernel shows it, 65534.
    """

    def __init__(
        self, inner: Source, uids: tuple[IDMapping, ...], gids: tuple[IDMapping, ...]
    ) -> None:
        self.inner = inner
        self.uids, self.gids = uids, gids
        self.description = inner.description
        self.xattrs_recorded = inner.xattrs_recorded
        self.trusted_xattrs_visible = inner.trusted_xattrs_visible
        self.fork_safe = inner.fork_safe
        self._cache: dict[tuple[int, int], tuple[int, int]] = {}

    def _ids(self, uid: int, gid: int) -> tuple[int, int]:
        got = self._cache.get((uid, gid))
        if got is None:
            u, g = to_container_id(uid, self.uids), to_container_id(gid, self.gids)
            got = self._cache[(uid, gid)] = (
                _OVERFLOW if u is None else u,
                _OVERFLOW if g is None else g,
            )
        return got

    def _row(self, row: Row) -> Row:
        uid, gid = self._ids(row[2], row[3])
        return (*row[:2], uid, gid, *row[4:])

    def _entry(self, e: Entry) -> Entry:
        return Entry.from_row(e.path, self._row(e.row))

    def stat(self, path: str) -> Entry:  # noqa: D102 - see Source
        return self._entry(self.inner.stat(path))

    def scandir(self, path: str) -> Iterator[Entry]:  # noqa: D102 - see Source
        return (self._entry(e) for e in self.inner.scandir(path))

    def scan_dir(  # noqa: D102 - see Source
        self, path: str, *, real: bool = False
    ) -> tuple[list[tuple[str, Row]], dict[str, bytes]]:
        rows, xattrs = self.inner.scan_dir(path, real=real)
        return [(n, self._row(r)) for n, r in rows], xattrs

    def open(self, path: str) -> BinaryIO:  # noqa: D102 - see Source
        return self.inner.open(path)

    def copy_file(  # noqa: D102 - see Source
        self, path: str, size: int, write: Writer, *, real: bool = False
    ) -> int:
        return self.inner.copy_file(path, size, write, real=real)

    def xattrs(self, path: str) -> dict[str, bytes]:  # noqa: D102 - see Source
        return self.inner.xattrs(path)

    def after_fork(self) -> None:  # noqa: D102 - see Source
        self.inner.after_fork()


def _layer_sources(inv: Inventory, driver: str, cid: str | None) -> Callable[[str], Source]:
    """Each layer's source, its owners as the container saw them.

    A rootless root's files all carry the user's subordinate IDs. A container of its own ID
    mapping (``--uidmap``, rootful) writes its own layer with host IDs, and where the driver
    cannot shift (vfs) its layer is a copy of a chowned copy of the image's top layer
    (``mapped-layers``, whose record keeps the mapping in ``layers.json``). The image's other
    layers keep the image's owners on disk (overlay shifts them when it mounts them): they are
    the container's as they are. (``podman export`` shows the host's view, the mapped IDs.)
    """
    mapped = _mapped_source(inv, cid)
    st = inv.store_containers.get(cid) if cid is not None else None
    if mapped is inv.source or st is None or inv.rootless is not None:
        return lambda _layer_id: mapped

    def source(layer_id: str) -> Source:
        layer = inv.layer(driver, layer_id)
        host_ids = layer_id == st.layer or layer is None or layer.uidmap or layer.gidmap
        return mapped if host_ids else inv.source

    return source


def _mapped_source(inv: Inventory, cid: str | None) -> Source:
    """The evidence with host IDs shown as the container (or the rootless user) saw them.

    A volume's files carry host IDs: a container's volumes are read through it.
    """
    uids, gids = inv.id_maps(cid)
    return IDMappedSource(inv.source, uids, gids) if uids or gids else inv.source


def _view(
    inv: Inventory, driver_name: str, dirs: list[tuple[str, str | None, bool]], what: str,
    where: str, cid: str | None,
) -> UnionView:  # fmt: skip
    driver = driver_for(driver_name, inv.source, inv.findings)
    if driver is None:
        raise SourceError(f"{what}: no reader for the {driver_name} storage driver")
    source = _layer_sources(inv, driver_name, cid)
    layers = []
    for layer_id, path, present in dirs:
        if path is None or not present:
            continue  # reported by the stack readers as missing-layer-dir
        layers.append(LayerDir(source(layer_id), path, layer_id, driver))
    if driver.full_copy:
        layers = layers[:1]
    view = UnionView(layers, what)
    check_markers(view, inv.source, inv.findings, where)
    return view


def container_view(inv: Inventory, container: Container, *, rw: bool = True) -> UnionView:
    """The container's root filesystem; with ``rw=False``, its image's (its layer's parent).

    Raises:
        SourceError: no layer of the container can be read.
    """
    st = inv.store_containers.get(container.id)
    what = f"container {container.name or container.id}"
    if st is None:
        raise SourceError(f"{what}: not in containers.json, its layers are unknown")
    dirs = container_layer_dirs(inv.source, inv.root, container.id, inv.findings)
    if not rw:
        dirs = dirs[1:]
    triples = [(d.layer_id, d.path, d.present) for d in dirs]
    return _view(inv, st.driver, triples, what, st.meta_path, container.id)


def image_view(inv: Inventory, image: Image) -> UnionView:
    """The image's filesystem.

    Raises:
        SourceError: no layer of the image can be read.
    """
    dirs = image_layer_dirs(inv.source, inv.root, image.id, inv.findings)
    triples = [(d.layer_id, d.path, d.present) for d in dirs]
    return _view(inv, image.driver, triples, f"image {image.id}", image.config_path, None)


def raw_changes(inv: Inventory, container: Container) -> list[Change]:
    """Every change of the container layer against its parent, podman's files included."""
    new = container_view(inv, container)
    old = container_view(inv, container, rw=False)
    return changes(Tree(new, ""), Tree(old, ""))


def left_out(path: str) -> bool:
    """Whether ``podman diff`` leaves this path out."""
    return path in PODMAN_WRITES or any(path.startswith(f"{p}/") for p in PODMAN_WRITES)


def container_changes(inv: Inventory, container: Container) -> list[Change]:
    """``podman diff``: the changes, without what podman writes or mounts itself."""
    return [c for c in raw_changes(inv, container) if not left_out(c.path)]


def mounted_view(inv: Inventory, container: Container) -> MountedView:
    """The container's view with its named volumes mounted where it saw them."""
    base = container_view(inv, container)
    mounts = []
    for m in container.mounts:
        dest = normpath(m.destination)
        data = f"volumes/{m.name}/_data"
        if m.type == "volume" and is_safe_component(m.name) and inv.source.is_dir(data):
            mounts.append(
                ViewMount(dest, _mapped_source(inv, container.id), data, f"volume:{m.name}")
            )
            continue
        inv.findings.info(
            "mount-not-in-evidence",
            container.config_path,
            f"{m.type} mount at {m.destination} ({m.source or m.name}): its data is not in the "
            "evidence",
        )
    return MountedView(base, mounts)
