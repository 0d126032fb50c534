"""``docker system df [-v]`` offline: the numbers Docker prints, with Docker's own formulas.

The daemon answers ``GET /system/df`` (*moby daemon/disk_usage.go*) with raw lists, and the
Docker CLI up to v28 turns them into the four summary lines (*docker/cli
cli/command/formatter/disk_usage.go*); ``docker-root-format.md`` §10.1 has the details:

* **Images**: the listed ("top-level") images — those with a reference in
  ``repositories.json`` or without a child image (``daemon/images/images.go``
  ``Images(all=false)``). ``size``: ``LayersSize``, the sum of the layer store ``size`` files
  over the distinct layers in the chains of listed images (``getLayerRefs``); ``active``: listed
  images with at least one container (any state) whose ``Image`` is the image ID;
  ``reclaimable``: ``LayersSize - Σ (Size - SharedSize)`` over the active images (the CLI's
  formula up to v28; v29 computes it in the daemon differently). Per image, ``Size``,
  ``SharedSize`` and ``UniqueSize`` are those of :func:`.usage.image_sizes`. ``-v`` lists them
  newest first, as ``docker images``, each under its first reference in the reference store's
  order (``RepoTags[0]``, *docker/cli formatter/disk_usage.go*), ``<none>`` when untagged.
* **Containers**: ``size`` = Σ ``SizeRw`` (:func:`.usage.container_size_rw`);
  ``active`` = containers whose state is running, paused or restarting; ``reclaimable`` = Σ
  ``SizeRw`` of the others. A container whose writable layer is missing counts 0 and shows
  ``size_rw: null``. ``-v`` lists them as ``docker ps -a`` (newest first) with ``docker system
  df -v``'s columns: image, command, local volumes (mounts of the ``local`` volume driver),
  created, status, names.
* **Volumes**: only volumes of the ``local`` driver without options (``opts.json`` absent or
  all empty: a volume with options is a mount made at run time, *daemon/volume/service/
  service.go* ``LocalVolumesSize``) and present on disk. ``size``: ``directory.Size`` of
  ``volumes/<name>/_data`` (apparent sizes of non-directories, each inode once); ``links``
  (``RefCount``): the containers whose ``MountPoints`` name it, any state; ``active`` = volumes
  with links; ``reclaimable`` = Σ size of the unlinked ones. The volumes left out are named in
  ``uncounted`` with the reason, so that a count of every volume (``audit``) can be reconciled.
* **Build cache**: BuildKit's accounting is out of scope. Its cache records are the top-level
  buckets of ``buildkit/metadata_v2.db`` (BuildKit ``cache/metadata``); when that database holds
  none (or ``buildkit/`` is absent) the build cache is provably empty and every figure is 0.
  Otherwise the figures are ``null`` (unknown) and ``note`` says so; the bytes BuildKit keeps on
  disk are then in :func:`storagekit.analysis.diskusage.measure`'s ``build_cache``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from storagekit.analysis.diskusage import OTHER, Areas, apparent_size, measure, measure_started
from storagekit.engines.docker.inspect import repo_order
from storagekit.engines.docker.root import DockerRoot
from storagekit.engines.docker.usage import (
    container_size_rw,
    image_sizes,
    listed_images,
    plain_rw_dir,
)
from storagekit.errors import FormatError, SourceError, UnsafePathError
from storagekit.ids import chain_ids, is_safe_component
from storagekit.jsontext import Record
from storagekit.model import Container, Image, Volume
from storagekit.timefmt import order_key

#: Container states Docker's CLI counts as active (``diskUsageContainersContext.isActive``).
ACTIVE_STATES = frozenset({"running", "paused", "restarting"})
#: BuildKit's cache metadata database inside the Docker root.
BUILDKIT_DB = "buildkit/metadata_v2.db"


def _summary(count: int, active: int, size: int, reclaimable: int) -> Record:
    return {"count": count, "active": active, "size": size, "reclaimable": reclaimable}


def images_usage(root: DockerRoot, verbose: bool = False) -> Record:
    """The Images line (and, verbose, one item per listed image)."""
    listed = listed_images(root)
    sizes = image_sizes(root)
    users = Counter(c.image_id for c in root.containers.values())
    layers_size = 0
    counted: set[tuple[str, str]] = set()
    for image in listed:
        store = root.stores[image.driver]
        for chain in chain_ids(image.diff_ids):
            layer = store.layers.get(chain)
            if layer is None or (image.driver, chain) in counted:
                continue
            counted.add((image.driver, chain))
            layers_size += layer.size or 0
    items = []
    used = 0
    for image in sorted(listed, key=lambda i: (order_key(i.created), i.id), reverse=True):
        size = sizes[(image.driver, image.id)]
        if users[image.id]:
            used += size.size - size.shared_size
        repository, tag = first_tag(image)
        items.append(
            {
                "id": image.id,
                "repository": repository,
                "tag": tag,
                "created": image.created,
                "size": size.size,
                "shared_size": size.shared_size,
                "unique_size": size.unique_size,
                "containers": users[image.id],
            }
        )
    active = sum(1 for image in listed if users[image.id])
    record = _summary(len(listed), active, layers_size, layers_size - used)
    if verbose:
        record["items"] = items
    return record


def first_tag(image: Image) -> tuple[str, str]:
    """The repository and tag ``docker system df -v`` shows: ``RepoTags[0]``, else ``<none>``."""
    if not image.tags:
        return "<none>", "<none>"
    repository, _, tag = repo_order(image.tags)[0].rpartition(":")
    return repository, tag


def is_active(container: Container) -> bool:
    """Whether Docker's CLI counts the container as active."""
    return container.status in ACTIVE_STATES


def containers_usage(root: DockerRoot, verbose: bool = False) -> Record:
    """The Containers line (and, verbose, one item per container)."""
    containers = sorted(
        root.containers.values(), key=lambda c: (order_key(c.created), c.id), reverse=True
    )
    sizes = {c.id: container_size_rw(root, c) for c in containers}
    total = sum(s or 0 for s in sizes.values())
    idle = sum(sizes[c.id] or 0 for c in containers if not is_active(c))
    active = sum(1 for c in containers if is_active(c))
    record = _summary(len(containers), active, total, idle)
    if verbose:
        record["items"] = [container_item(c, sizes[c.id]) for c in containers]
    return record


def container_item(c: Container, size_rw: int | None) -> Record:
    """One container of ``docker system df -v``: its ``/system/df`` summary's fields."""
    return {
        "id": c.id,
        "size_rw": size_rw,
        "name": c.name,
        "image": c.image,
        "command": list(c.command),
        "local_volumes": sum(1 for m in c.mounts if m.driver == "local"),
        "created": c.created,
        "status": c.status,
        "exit_code": c.exit_code,
    }


def volume_links(root: DockerRoot) -> Counter[str]:
    """Volume name -> number of containers (any state) whose mounts name it."""
    links: Counter[str] = Counter()
    for container in root.containers.values():
        names = {m.name for m in container.mounts if m.type == "volume" and m.name}
        links.update(names)
    return links


def listed_volumes(root: DockerRoot) -> list[Volume]:
    """The volumes ``system df`` sizes: ``local`` ones without options, with data on disk."""
    return [
        v for v in root.volumes.values() if v.driver == "local" and not v.has_opts and v.has_data
    ]


def _data(volume: Volume) -> str:
    return f"{volume.path}/_data"


def volumes_usage(root: DockerRoot, verbose: bool = False) -> Record:
    """The Local Volumes line (and, verbose, one item per listed volume)."""
    links = volume_links(root)
    listed = listed_volumes(root)
    sizes = {v.name: apparent_size(root.source, _data(v)) for v in listed}
    size = sum(sizes.values())
    unused = sum(sizes[v.name] for v in listed if not links[v.name])
    active = sum(1 for v in listed if links[v.name])
    items = [{"name": v.name, "size": sizes[v.name], "links": links[v.name]} for v in listed]
    record = _summary(len(listed), active, size, unused)
    record["uncounted"] = [
        {"name": v.name, "reason": _uncounted(v)}
        for v in root.volumes.values()
        if v.name not in sizes
    ]
    if verbose:
        record["items"] = items
    return record


def _uncounted(volume: Volume) -> str:
    """Why Docker's Local Volumes line leaves ``volume`` out."""
    if volume.driver != "local":
        return f"volume driver {volume.driver}, not local"
    if volume.has_opts:
        return "created with options (mounted when a container starts)"
    return "no _data directory in the evidence"


def buildkit_records(root: DockerRoot) -> int | None:
    """Number of BuildKit cache records, ``None`` when they cannot be counted."""
    source = root.source
    if not source.exists("buildkit"):
        return 0
    try:
        size = source.stat(BUILDKIT_DB).size
        file = source.open(BUILDKIT_DB)
    except SourceError:
        return None
    # Imported here, as in storagekit.engines.docker.volumes: construct costs start-up time.
    from storagekit.formats.bolt import BoltDB

    with file:  # the pages walked only, never the whole file
        try:
            return len(BoltDB.from_file(file, size, BUILDKIT_DB).root.keys())
        except FormatError:
            return None


def build_cache_usage(root: DockerRoot, verbose: bool = False) -> Record:
    """The Build Cache line: 0 when provably empty, else unknown (``null``) with a note."""
    records = buildkit_records(root)
    if records == 0:
        record: Record = _summary(0, 0, 0, 0)
    else:
        record = {"count": None, "active": None, "size": None, "reclaimable": None}
        record["note"] = (
            "BuildKit's cache is not read by storagekit"
            + (f" ({records} cache records in {BUILDKIT_DB})" if records else "")
            + "; its bytes on disk are in measured.build_cache"
        )
    if verbose:
        record["items"] = []
    return record


def docker_df(root: DockerRoot, verbose: bool = False) -> Record:
    """What ``docker system df [-v]`` prints, as a JSON-ready dict.

    Keys ``images``, ``containers``, ``volumes``, ``build_cache``, each with ``count``,
    ``active``, ``size`` and ``reclaimable`` (bytes) and, when ``verbose``, ``items``.
    """
    return {
        "images": images_usage(root, verbose),
        "containers": containers_usage(root, verbose),
        "volumes": volumes_usage(root, verbose),
        "build_cache": build_cache_usage(root, verbose),
    }


#: Graph driver directory names (``docker-root-format.md`` §1, §6), readers or not.
DRIVER_DIRS = frozenset(
    {
        "overlay2",
        "fuse-overlayfs",
        "aufs",
        "overlay",
        "vfs",
        "btrfs",
        "zfs",
        "devicemapper",
        "windowsfilter",
    }
)
#: Docker's metadata directories and their areas.
_TOP_AREAS = {
    "containers": "containers",
    "volumes": "volumes",
    "image": "image_metadata",
    "buildkit": "build_cache",
}


def disk_areas(root: DockerRoot) -> Areas:
    """How a Docker root divides for ``df``'s measured bytes (``docker-root-format.md`` §1).

    ``layers``: the graph drivers' directories; ``containers``: ``containers/`` (configs,
    logs, generated ``/etc`` files); ``volumes``: ``volumes/``; ``image_metadata``: ``image/``
    (layer store, image configs, ``repositories.json``); ``build_cache``: ``buildkit/``;
    ``other``: everything else (``containerd/``, ``network/``, ``plugins/``, ``swarm/``,
    ``tmp/``, ``engine-id`` ...) and the root directory's own blocks.
    """
    top = {name: "layers" for name in DRIVER_DIRS | frozenset(root.drivers)}
    top.update(_TOP_AREAS)
    return Areas(("layers", "containers", "volumes", "image_metadata", "build_cache", OTHER), top)


def size_marks(root: DockerRoot) -> list[str]:
    """The directories ``df`` sizes besides its measurement, for one walk to size them all.

    The writable layers of change-only drivers (``size_rw``, unless already known) and the
    listed volumes' ``_data``.
    """
    rw = [
        plain_rw_dir(root, c)
        for c in root.containers.values()
        if not container_size_rw.known(root, c)
    ]
    return [p for p in rw if p is not None] + [_data(v) for v in listed_volumes(root)]


def measured(root: DockerRoot, marks: Iterable[str] = ()) -> Record:
    """``df``'s ``measured``: bytes on disk per area of the Docker root, as ``du`` counts them.

    The ``marks``' own figures are kept on the way (:func:`measure`).
    """
    return measure(root.source, disk_areas(root), root.findings, marks)


#: Above this many layout marks, ``df`` reads the metadata before its walk (:func:`layout_marks`):
#: the parent descends to every mark before the workers fork, and on a root of many small layers
#: (1,000 containers, 4,000 layer directories, 13,000 files) that costs more CPU than the
#: overlap saves (1.6-1.8 s of CPU against 1.4-1.5 s).
EARLY_MARKS = 2000


def measured_started(root: DockerRoot, marks: list[str]) -> Callable[[], Record]:
    """:func:`measured`, its workers walking from now on; the call it returns gives the result.

    Forked before any container, layer record or volume is read, so that ``df`` reads them
    while the tree is walked. The ``marks`` are what the layout alone says ``df`` may size
    (:func:`layout_marks`); a directory it sizes that is not one of them is walked again.
    """
    return measure_started(root.source, disk_areas(root), root.findings, marks)


def layout_marks(root: DockerRoot) -> list[str]:
    """Every directory ``df`` may size, from directory listings alone (no metadata read).

    Each layer directory of the drivers present: its own files' directory (a writable
    layer's ``size_rw``) and the directory named by its ID on the way there (an orphan's
    ``overlay2/<id>``, ``aufs/diff/<id>``); every volume's directory (an unused volume) and
    its ``_data``.
    """
    marks: list[str] = []
    for driver in root.drivers.values():
        for layer_id in driver.layer_ids():
            try:
                path = driver.layer_path(layer_id)
            except UnsafePathError:
                continue
            marks.append(path)
            named = f"/{layer_id}/"
            at = f"{path}/".find(named)
            if at >= 0 and at + len(named) <= len(path):
                marks.append(path[: at + len(named) - 1])
    try:
        names = root.source.subdirs("volumes")[0]
    except SourceError:
        names = []
    for name in filter(is_safe_component, names):
        marks += [f"volumes/{name}", f"volumes/{name}/_data"]
    return marks
