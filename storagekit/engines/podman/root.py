"""A containers-storage graph root as one object: its stores, libpod's state, volumes, stacks.

A graph root (``/var/lib/containers/storage``; rootless ``~/.local/share/containers/storage``)
holds one ``<driver>-layers``/``-images``/``-containers`` triple per graph driver that ever
ran there (containers-storage ``store.go``); each is read. libpod's state sits in
``libpod/`` (its static dir, by default below the graph root), volumes in
``volumes/<name>/_data`` (``libpod/volume_internal.go``). The two views of a container,
containers-storage's ``containers.json`` and libpod's database, are cross-checked: podman
itself calls a storage container without a libpod record "external" (``podman ps --external``:
buildah's working containers, or leftovers of an interrupted ``podman rm``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import NamedTuple, Protocol, TypeVar

from storagekit.engines.podman.common import IDMapping
from storagekit.engines.podman.containers import StorageContainer, read_containers
from storagekit.engines.podman.images import Image, read_images
from storagekit.engines.podman.layerdirs import LayerDir, OverlayLinks, layer_dir
from storagekit.engines.podman.layers import Layer, layer_chain, read_layers
from storagekit.engines.podman.libpod import BOLT_PATH, SQLITE_PATH, LibpodContainer, LibpodState
from storagekit.engines.podman.locate import graph_drivers
from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Finding, Findings
from storagekit.source import Source

T = TypeVar("T")

KNOWN_DRIVERS = ("overlay", "vfs", "btrfs", "zfs", "aufs", "devmapper")


class VolumeDir(NamedTuple):
    """A directory ``volumes/<name>``: whether ``_data`` is there."""

    name: str
    has_data: bool
    path: str


class PodmanRoot:
    """Everything read from one graph root; the stores' three files on first use.

    Attributes:
        drivers: the graph drivers with a ``<driver>-layers`` directory, sorted.
        layers: every layer record, by driver then file order (read on first use).
        images: every image record (read on first use).
        containers: every ``containers.json`` record (read on first use).
        libpod: libpod's state (SQLite preferred when both exist, as podman 5 does), or None;
            its containers are read when a command needs them (:mod:`.libpod_read`).
        volume_dirs: ``volumes/<name>`` directories, sorted by name.
        recorded: where damage and disagreements are recorded (an engine's findings).

    ``layers.json``, ``images.json`` and ``containers.json`` are read when first asked for,
    so that a command can read them in a forked worker while this process reads libpod's
    containers (:mod:`.parts`); :meth:`read_all` reads what is left. Pickled (a worker that
    read a whole root), it is read whole first and holds no source.
    """

    def __init__(self, source: Source, findings: Findings) -> None:
        """Read the drivers' names, libpod's state and the volume directories now."""
        self._source: Source | None = source
        self.recorded = findings
        self.drivers = tuple(graph_drivers(source))
        self.libpod = read_libpod(source, findings)
        self.volume_dirs = tuple(read_volume_dirs(source, findings))

    def _each_driver(self, read: Callable[[Source, str, Findings], list[T]]) -> tuple[T, ...]:
        assert self._source is not None  # a pickled root was read whole
        return tuple(x for drv in self.drivers for x in read(self._source, drv, self.recorded))

    @cached_property
    def layers(self) -> tuple[Layer, ...]:  # noqa: D102 - see the class
        return self._each_driver(read_layers)

    @cached_property
    def images(self) -> tuple[Image, ...]:  # noqa: D102 - see the class
        return self._each_driver(read_images)

    @cached_property
    def containers(self) -> tuple[StorageContainer, ...]:  # noqa: D102 - see the class
        return self._each_driver(read_containers)

    def read_all(self) -> None:
        """Read every part not read yet (their findings are then all recorded)."""
        for part in STORE_PARTS:
            getattr(self, part)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding recorded, sorted, once every part is read."""
        self.read_all()
        return tuple(self.recorded.sorted())

    def __getstate__(self) -> dict[str, object]:
        """The root read whole, without its source (for a worker that read it)."""
        self.read_all()
        return {k: v for k, v in self.__dict__.items() if k != "_source"}

    def __setstate__(self, state: dict[str, object]) -> None:
        """The parts as read by the worker."""
        self.__dict__.update(state, _source=None)

    def layer(self, layer_id: str) -> Layer | None:
        """The layer record with this ID."""
        return next((x for x in self.layers if x.id == layer_id), None)

    def container(self, container_id: str) -> StorageContainer | None:
        """The ``containers.json`` record with this ID."""
        return next((c for c in self.containers if c.id == container_id), None)


#: The parts of a root read on first use.
STORE_PARTS = ("layers", "images", "containers")


def read_libpod(source: Source, findings: Findings) -> LibpodState | None:
    """The state of libpod: ``libpod/db.sql`` if present (podman 5 prefers it), else BoltDB.

    Each reader is imported only for a root that has its file (sqlite3 and tempfile cost 5 ms
    of start-up).
    """
    if source.exists(SQLITE_PATH):
        from storagekit.engines.podman.libpod_sqlite import read_sqlite_state

        state = read_sqlite_state(source, findings)
        if state is not None:
            return state
    if not source.exists(BOLT_PATH):
        return None
    from storagekit.engines.podman.libpod_bolt import read_bolt_state

    return read_bolt_state(source, findings)


def read_volume_dirs(source: Source, findings: Findings) -> list[VolumeDir]:
    """Every ``volumes/<name>`` directory (``backingFsBlockDev`` is a device, not a volume)."""
    try:
        names = source.subdirs("volumes")[0]
    except SourceError:
        return []
    out = []
    for name in names:
        if not is_safe_component(name):
            findings.error("unsafe-id", "volumes", f"volume directory name {name!r}")
            continue
        path = f"volumes/{name}"
        out.append(VolumeDir(name, source.is_dir(f"{path}/_data"), path))
    return out


class Known(Protocol):
    """What the cross-check compares of a libpod container (a whole one or a brief)."""

    @property
    def id(self) -> str: ...  # noqa: D102 - see the class
    @property
    def name(self) -> str | None: ...  # noqa: D102
    @property
    def image_id(self) -> str | None: ...  # noqa: D102
    @property
    def config_path(self) -> str: ...  # noqa: D102


def crosscheck(
    containers: Sequence[StorageContainer], libpod: Sequence[Known], findings: Findings
) -> None:
    """Findings where ``containers.json`` and libpod's containers disagree about one.

    Called once libpod's containers are read (:class:`.inventory.Inventory`), never without
    a libpod database.
    """
    lp = {c.id: c for c in libpod}
    st = {c.id: c for c in containers}
    for cid in sorted(st.keys() - lp.keys()):
        findings.warning(
            "orphan-container",
            st[cid].meta_path,
            f"container {cid} is in containers.json but not in libpod's state",
        )
    for cid in sorted(lp.keys() - st.keys()):
        findings.warning(
            "orphan-container",
            lp[cid].config_path,
            f"container {cid} is in libpod's state but not in containers.json",
        )
    for cid in sorted(st.keys() & lp.keys()):
        s, p = st[cid], lp[cid]
        if p.name is not None and p.name not in s.names:
            findings.warning(
                "container-mismatch",
                s.meta_path,
                f"container {cid}: libpod names it {p.name!r}, containers.json {list(s.names)}",
            )
        if p.image_id is not None and s.image is not None and p.image_id != s.image:
            findings.warning(
                "container-mismatch",
                s.meta_path,
                f"container {cid}: libpod image {p.image_id}, containers.json image {s.image}",
            )


def read_root(source: Source, findings: Findings | None = None) -> PodmanRoot:
    """A graph root; damage becomes findings (never an exception for a usable root).

    ``findings``: where to record them (by default the root's own).
    """
    return PodmanRoot(source, findings if findings is not None else Findings())


def container_layer_dirs(
    source: Source, root: PodmanRoot, container_id: str, findings: Findings
) -> tuple[LayerDir, ...]:
    """A container's layer directories top first: its own layer, then the image's by parent.

    On overlay the ``lower`` file of the container layer is compared with the parent chain
    of ``layers.json``; a difference is a ``driver-parents-disagree`` finding.
    """
    ctr = root.container(container_id)
    if ctr is None or ctr.layer is None:
        findings.error("missing-layer", None, f"container {container_id} has no layer record")
        return ()
    by_id = {x.id: x for x in root.layers if x.driver == ctr.driver}
    chain, _ = layer_chain(by_id, ctr.layer, findings, ctr.meta_path)
    dirs = tuple(
        layer_dir(source, ctr.driver, lid, "container" if i == 0 else "image")
        for i, lid in enumerate(chain)
    )
    for d in dirs:
        if not d.present:
            findings.error("missing-layer-dir", d.path, f"layer {d.layer_id} has no directory")
    if ctr.driver == "overlay" and chain:
        lowers, whole = OverlayLinks(source, findings).lowers(chain[0])
        if whole and lowers != chain[1:]:
            findings.warning(
                "driver-parents-disagree",
                f"overlay/{chain[0]}/lower",
                f"overlay lower names {list(lowers)}, layers.json parents {list(chain[1:])}",
            )
    return dirs


def image_layer_dirs(
    source: Source, root: PodmanRoot, image_id: str, findings: Findings
) -> tuple[LayerDir, ...]:
    """An image's layer directories top first: its top layer (``layer``), then by parent."""
    image = next((i for i in root.images if i.id == image_id), None)
    if image is None or image.top_layer is None:
        findings.error("missing-layer", None, f"image {image_id} has no top layer record")
        return ()
    by_id = {x.id: x for x in root.layers if x.driver == image.driver}
    chain, _ = layer_chain(by_id, image.top_layer, findings, image.meta_path)
    return tuple(layer_dir(source, image.driver, lid, "image") for lid in chain)


def container_id_maps(
    root: PodmanRoot, container_id: str, lp: LibpodContainer | None
) -> tuple[tuple[IDMapping, ...], tuple[IDMapping, ...]]:
    """The (uid, gid) maps that apply to a container's files on disk (empty = identity).

    containers.json's maps first (what containers-storage applied to the container layer),
    then the container layer's own record, then libpod's ``idMappingsOptions`` (of ``lp``,
    the container as libpod records it).
    """
    ctr = root.container(container_id)
    layer = root.layer(ctr.layer) if ctr is not None and ctr.layer else None
    for uids, gids in (
        (ctr.uidmap, ctr.gidmap) if ctr else ((), ()),
        (layer.uidmap, layer.gidmap) if layer else ((), ()),
        (lp.uidmap, lp.gidmap) if lp else ((), ()),
    ):
        if uids or gids:
            return uids, gids
    return (), ()
