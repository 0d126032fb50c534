"""Storage that nothing references any more, and references to storage that is gone.

A Docker root is a web of references (``docker-root-format.md`` §2-§6): an image's diff IDs give
chain IDs (``image/<driver>/layerdb/sha256/<chain>``), whose ``cache-id`` names a driver
directory; a container (``containers/<id>``) has a read-write layer record
(``layerdb/mounts/<id>``) whose ``mount-id`` and ``init-id`` name two driver directories and
whose ``parent`` names the chain it is stacked on. Docker keeps these in step by reference
counting in memory; crashes, interrupted deletes, copies taken while the daemon ran and manual
``rm -rf`` leave them out of step. Each finding is one object on disk:

``orphan-driver-dir``
    a driver directory (``overlay2/<id>``, ``overlay/<id>``, ``aufs/{diff,layers,mnt}/<id>``,
    ``vfs/dir/<id>``)
    that no live layer (``cache-id``) and no container's record (``mount-id``/``init-id``)
    names. A container's read-write and ``-init`` directories are two findings. Directories
    named only by a leaked layer, an orphaned read-write record or a ``*-removing`` layer
    record are orphans too; the reason says which.
``leaked-layer``
    a layer store entry in the chain of no image and below no container (*moby
    daemon/internal/layer/layer_store.go* releases a layer when its last reference goes).
``missing-layer-dir``
    a live layer, or a container's read-write or init layer, whose driver directory is absent:
    ``ids`` names every image and container that depends on it, the answer Docker's
    "layer does not exist" never gives. Holds no data (``bytes`` 0).
``dangling-image``
    untagged, without digest references and without child images, and used by no container:
    what ``docker image prune`` removes (*daemon/images/image_prune.go*: heads only, deletion
    refused for images in use). ``bytes``: its config and metadata and the layers no other
    image or container uses.
``unused-volume``
    a local volume with data on disk (no ``opts.json`` options: such a volume is a mount made
    at run time whose data lives elsewhere) that no container's ``MountPoints`` names — the
    volumes ``docker system df`` counts with ``RefCount`` 0.
``orphan-container-metadata``
    ``layerdb/mounts/<id>`` without ``containers/<id>``, or ``containers/<id>`` without its
    read-write layer record (only checked when the root has a graph-driver image store).
``removing-dir``
    ``layerdb/sha256/<chain>-<random>-removing`` (*layer_store.go* ``deleteLayer`` renames a
    layer record before removing its driver directory and then the record) and aufs'
    ``{diff,mnt}/<id>-removing`` (*v23.0.0:daemon/graphdriver/aufs/aufs.go* ``Remove``): left
    by a delete that did not finish. dockerd itself finishes them only at a clean shutdown
    (``layerStore.Cleanup``, ``getOrphan``).
``stale-tmp``
    ``layerdb/tmp/write-set-*`` (a metadata transaction that never committed, *filestore.go*),
    ``.tmp-*`` files of the atomic writer (*moby/sys/atomicwriter*) among metadata, and the
    daemon's scratch ``tmp/`` contents and ``tmp-old/``, which dockerd deletes on every start
    (*daemon/daemon.go* ``prepareTempDir``).
``broken-link``
    an overlay2 ``l/<LINKID>`` symlink whose layer directory is gone.
``missing-link``
    a live overlay2 layer whose ``l/<LINKID>`` link is gone: the layers stacked on it name it
    through that link in their ``lower`` file, so they no longer mount. Holds no data.

Every finding has ``kind``, ``path`` (inside the root; a driver directory in the driver's own
form, ``overlay2/<id>/diff``, as ``chain`` prints it), ``paths`` (the existing paths the
object consists of, none inside another, e.g. ``overlay2/<id>`` and its ``l/`` link: what a
reclaim removes), ``bytes`` (allocated on disk by ``paths``, each inode once; apparent bytes
where the evidence records no allocation, a tar archive), ``reason`` and ``ids``. Only data
that is really there is counted, and damage is reported, never raised.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from storagekit.analysis.orphans import orphan_record
from storagekit.driver import StorageDriver
from storagekit.engines.docker.containers import container_ids
from storagekit.engines.docker.df import volume_links
from storagekit.engines.docker.references import StoreRefs, removing_layers, store_refs
from storagekit.engines.docker.root import DockerRoot
from storagekit.engines.docker.usage import children_of
from storagekit.errors import SourceError, UnsafePathError
from storagekit.ids import chain_ids, is_hex64
from storagekit.jsontext import Record
from storagekit.model import Finding, Image, Layer
from storagekit.source import Source

#: How deep ``.tmp-*`` files are looked for below each metadata directory.
_TMP_DEPTH = {"": 1, "containers": 2, "volumes": 2, "image": 64}


class OrphanScan:
    """Computes the findings of one root (see the module docstring)."""

    def __init__(self, root: DockerRoot) -> None:
        self.root = root
        self.source: Source = root.source
        self.containers_present = set(container_ids(self.source, root.findings))
        self.refs = [
            store_refs(root, store, self.containers_present)
            for _, store in sorted(root.stores.items())
        ]
        self.found: list[Finding] = []

    def add(self, kind: str, path: str, reason: str, *ids: str, **extra: Any) -> None:
        """Record a finding."""
        self.found.append(Finding(kind, "info", path, reason, tuple(ids), **extra))

    # driver directories ----------------------------------------------------------------

    def object_paths(self, driver: StorageDriver, layer_id: str) -> list[str]:
        """Every path the driver object ``layer_id`` consists of, that exists."""
        return [p for p in driver.layer_parts(layer_id) if self.source.exists(p)]

    def driver_dir(self, kind: str, name: str, layer_id: str, reason: str, *ids: str) -> None:
        """Record a finding for a whole driver object."""
        driver = self.root.drivers[name]
        try:
            path = driver.layer_path(layer_id)
        except UnsafePathError:
            return
        parts = [p for p in self.object_paths(driver, layer_id) if p != path]
        self.add(kind, path, reason, *ids, parts=tuple(parts))

    def dead_references(self, name: str) -> dict[str, tuple[str, list[str]]]:
        """Driver directory ID -> (reason, IDs) for the dead references naming it."""
        named: dict[str, tuple[str, list[str]]] = {}
        for _, chain, cache in self.removing_layers(name):
            if cache:
                named[cache] = (f"its layer {chain} was being removed (…-removing record)", [chain])
        for refs in self.refs:
            if refs.store.driver != name:
                continue
            for cid, rw in sorted(refs.dead_mounts.items(), reverse=True):
                gone = f"of container {cid}, whose containers/{cid} is gone"
                if rw.init_id:
                    named[rw.init_id] = (f"init layer {gone}", [cid])
                if rw.mount_id:
                    named[rw.mount_id] = (f"read-write layer {gone}", [cid])
            for chain, layer in sorted(refs.leaked.items(), reverse=True):
                if layer.cache_id:
                    named[layer.cache_id] = (
                        f"its only reference is the leaked layer {chain}",
                        [chain],
                    )
        return named

    def driver_dirs(self) -> None:
        """``orphan-driver-dir`` and driver-level ``removing-dir`` findings."""
        if not self.refs:
            return  # no image store read (pre-1.10 graph/, containerd): references unknown
        live: dict[str, set[str]] = {}
        for refs in self.refs:
            live.setdefault(refs.store.driver, set()).update(refs.live_dirs)
        for name, driver in sorted(self.root.drivers.items()):
            dead = self.dead_references(name)
            nothing: tuple[str, list[str]] = ("no layer, container or image references it", [])
            for layer_id in driver.layer_ids():
                if layer_id.endswith("-removing"):
                    self.driver_dir(
                        "removing-dir",
                        name,
                        layer_id,
                        "left by an interrupted delete of a driver directory",
                        layer_id.removesuffix("-removing"),
                    )
                elif layer_id not in live.get(name, set()):
                    reason, ids = dead.get(layer_id, nothing)
                    self.driver_dir("orphan-driver-dir", name, layer_id, reason, layer_id, *ids)

    def layout(self) -> None:
        """What each driver finds wrong with its own layout (overlay2's short links)."""
        for name, driver in sorted(self.root.drivers.items()):
            live = set().union(*(r.live_dirs for r in self.refs if r.store.driver == name))
            self.found.extend(driver.layout_findings(live))

    # layer store -------------------------------------------------------------------------

    def removing_layers(self, name: str) -> list[tuple[str, str, str | None]]:
        """(record path, chain ID, cache-id) of the store's ``layerdb/sha256/*-removing``."""
        return removing_layers(self.root, name)

    def layer_store(self, refs: StoreRefs) -> None:
        """Findings of one ``image/<driver>/layerdb``."""
        for path, chain, cache in self.removing_layers(refs.store.driver):
            self.add(
                "removing-dir",
                path,
                "layer record left by an interrupted layer delete",
                chain,
                *([cache] if cache else []),
            )
        for chain, layer in sorted(refs.leaked.items()):
            missing = ""
            if refs.driver and layer.cache_id and not refs.driver.has_layer(layer.cache_id):
                missing = "; its driver directory is missing too"
            self.add(
                "leaked-layer",
                layer.meta_path,
                f"no image and no container uses this layer{missing}",
                chain,
                *([layer.cache_id] if layer.cache_id else []),
            )
        self.missing_layer_dirs(refs)
        self.mount_records(refs)

    def missing_layer_dirs(self, refs: StoreRefs) -> None:
        """Live layers whose driver directory is absent, with every image and container."""
        driver = refs.driver
        if driver is None:
            return
        for chain, layer in sorted(refs.store.layers.items()):
            if chain in refs.leaked or not layer.cache_id or driver.has_layer(layer.cache_id):
                continue
            try:
                path = driver.layer_path(layer.cache_id)
            except UnsafePathError:
                continue
            images = sorted(refs.image_users.get(chain, ()))
            users = sorted(refs.container_users.get(chain, ()))
            self.add(
                "missing-layer-dir",
                path,
                f"layer {chain} has no driver directory: {len(images)} image(s) and "
                f"{len(users)} container(s) depend on it",
                chain,
                layer.cache_id,
                *images,
                *users,
                holds_data=False,
            )

    def mount_records(self, refs: StoreRefs) -> None:
        """Read-write layer records: orphaned ones, and missing rw/init directories."""
        name = refs.store.driver
        for cid, rw in sorted(refs.dead_mounts.items()):
            self.add(
                "orphan-container-metadata",
                rw.meta_path,
                f"read-write layer record of a container whose containers/{cid} is gone",
                cid,
                *[i for i in (rw.mount_id, rw.init_id) if i],
            )
        driver = refs.driver
        if driver is None:
            return
        for cid, rw in sorted(refs.live_mounts.items()):
            for role, layer_id in (("read-write", rw.mount_id), ("init", rw.init_id)):
                if not layer_id or driver.has_layer(layer_id):
                    continue
                try:
                    path = driver.layer_path(layer_id)
                except UnsafePathError:
                    continue
                self.add(
                    "missing-layer-dir",
                    path,
                    f"the {role} layer of container {cid} has no {name} directory",
                    cid,
                    layer_id,
                    holds_data=False,
                )

    def containers_without_records(self) -> None:
        """``containers/<id>`` without a read-write layer record in any image store."""
        if not self.refs:
            return  # no graph-driver store (containerd store, or unreadable): cannot tell
        recorded = set().union(*(set(r.store.rw_layers) for r in self.refs))
        for cid in sorted(self.containers_present - recorded):
            self.add(
                "orphan-container-metadata",
                f"containers/{cid}",
                "container without a read-write layer record (layerdb/mounts): Docker "
                "cannot mount or start it",
                cid,
            )

    # images and volumes ----------------------------------------------------------------

    def dangling_images(self) -> None:
        """What ``docker image prune`` would remove, image by image, and the bytes it frees."""
        kids = children_of(self.root)
        users = Counter(c.image_id for c in self.root.containers.values())
        for refs in self.refs:
            name = refs.store.driver
            for image_id, image in sorted(refs.store.images.items()):
                if image.tags or image.digests or kids.get((name, image_id)) or users[image_id]:
                    continue
                pruned = self.prune_chain(refs, image, kids, users)
                gone = set(pruned)
                parts: list[str] = []
                for pid in pruned:
                    parts.append(f"image/{name}/imagedb/metadata/sha256/{pid.split(':', 1)[1]}")
                    if pid != image_id:
                        parts.append(refs.store.images[pid].config_path)
                layers = self.unique_layers(refs, image, gone)
                for layer in layers:
                    parts.append(layer.meta_path)
                    if refs.driver is not None and layer.cache_id:
                        parts += self.object_paths(refs.driver, layer.cache_id)
                extra = f" and {len(pruned) - 1} untagged parent(s)" if len(pruned) > 1 else ""
                self.add(
                    "dangling-image",
                    image.config_path,
                    f"untagged image without children or containers{extra}: what docker "
                    "image prune removes",
                    *pruned,
                    *(layer.chain_id for layer in layers),
                    parts=tuple(parts),
                )

    @staticmethod
    def prune_chain(
        refs: StoreRefs,
        image: Image,
        kids: dict[tuple[str, str], list[str]],
        users: Counter[str],
    ) -> list[str]:
        """The image and the untagged parents its deletion takes along.

        ``imageDeleteHelper`` with ``prune``: a parent goes when it has no reference, no
        container and no other child.
        """
        pruned = [image.id]
        current = image
        while current.parent:
            parent = refs.store.images.get(current.parent)
            if parent is None or parent.tags or parent.digests or users[parent.id]:
                break
            if set(kids.get((image.driver, parent.id), [])) - set(pruned):
                break
            pruned.append(parent.id)
            current = parent
        return pruned

    @staticmethod
    def unique_layers(refs: StoreRefs, image: Image, gone: set[str]) -> list[Layer]:
        """Layers of the image's chain that only the images in ``gone`` use."""
        layers = []
        for chain in chain_ids(image.diff_ids):
            layer = refs.store.layers.get(chain)
            if layer is None or chain in refs.container_users:
                continue
            if refs.image_users.get(chain, set()) <= gone:
                layers.append(layer)
        return layers

    def unused_volumes(self) -> None:
        """Local volumes with data that no container names."""
        links = volume_links(self.root)
        for volume in self.root.volumes.values():
            if volume.driver != "local" or volume.has_opts or not volume.has_data:
                continue
            if links[volume.name]:
                continue
            what = "anonymous" if is_hex64(volume.name) else "named"
            self.add(
                "unused-volume",
                volume.path,
                f"{what} volume that no container uses",
                volume.name,
            )

    # temporary files ---------------------------------------------------------------------

    def stale_tmp(self) -> None:
        """Uncommitted layer transactions, atomic-writer temp files, daemon scratch."""
        for refs in self.refs:
            base = f"image/{refs.store.driver}/layerdb/tmp"
            for entry in self._names(base):
                self.add(
                    "stale-tmp",
                    f"{base}/{entry}",
                    "layer metadata transaction that never committed",
                )
        for top, depth in sorted(_TMP_DEPTH.items()):
            self._tmp_files(top, depth)
        for entry in self._names("tmp"):
            self.add("stale-tmp", f"tmp/{entry}", "daemon scratch, emptied by dockerd on start")
        if self.source.exists("tmp-old"):
            self.add("stale-tmp", "tmp-old", "daemon scratch whose removal did not finish")

    def _names(self, path: str) -> list[str]:
        try:
            return self.source.listdir(path)
        except SourceError:
            return []

    def _tmp_files(self, top: str, depth: int) -> None:
        """``.tmp-*`` names below ``top`` (metadata only: never inside layers or ``_data``)."""
        pending = [(top, 0)]
        while pending:
            path, level = pending.pop()
            try:
                dirs, others = self.source.subdirs(path)
            except SourceError:
                continue
            for entry in sorted(dirs + others):
                child = f"{path}/{entry}" if path else entry
                if entry.startswith(".tmp-"):
                    self.add("stale-tmp", child, "temporary file of an interrupted atomic write")
                elif entry in dirs and level + 1 < depth and entry != "_data":
                    pending.append((child, level + 1))

    # result ------------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        """Every finding, sorted by kind and path."""
        self.driver_dirs()
        self.layout()
        for refs in self.refs:
            self.layer_store(refs)
        self.containers_without_records()
        self.dangling_images()
        self.unused_volumes()
        self.stale_tmp()
        return sorted(self.found, key=lambda f: (f.code, f.path or ""))


def orphan_findings(root: DockerRoot) -> list[Finding]:
    """Every orphan finding of the root, sorted by kind then path, not yet measured."""
    return OrphanScan(root).run()


def find_orphans(root: DockerRoot) -> list[Record]:
    """Every orphan finding of the root, sorted by kind then path (see the module docstring)."""
    return [orphan_record(root.source, f) for f in orphan_findings(root)]
