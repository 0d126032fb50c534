"""One containerd root as the engine sees it: the records read once, indexed, narrowed.

:class:`State` holds the :class:`~storagekit.engines.containerd.model.ContainerdRoot` read by
:func:`~storagekit.engines.containerd.root.read_root`, restricted to the namespaces asked for,
with the indexes every command needs: snapshots by key and their chains, images by name,
which snapshots and blobs something holds, and the core model objects (``Container``,
``Image``) that references resolve to, each mapped back to containerd's own record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cached_property

from storagekit.engines.containerd.chains import SnapshotIndex, mounted_levels
from storagekit.engines.containerd.cri import cri_container_ids
from storagekit.engines.containerd.images import SNAPSHOT_LABEL
from storagekit.engines.containerd.model import (
    Container,
    ContentBlob,
    Image,
    Lease,
    Snapshot,
)
from storagekit.engines.containerd.root import ContainerdRoot
from storagekit.model import Container as CoreContainer
from storagekit.model import Findings, MountPoint
from storagekit.model import Image as CoreImage
from storagekit.refs import familiar
from storagekit.source import Source

CONTENT_REF = "containerd.io/gc.ref.content."
SnapshotKey = tuple[str, str, str]  # namespace, snapshotter, key


class State:
    """The records of one containerd root, narrowed to ``namespaces`` (all when empty)."""

    def __init__(
        self, source: Source, root: ContainerdRoot, findings: Findings,
        namespaces: Iterable[str] = (),
    ) -> None:
        self.source, self.root, self.findings = source, root, findings
        wanted = set(namespaces)
        self.namespaces = tuple(n.name for n in root.namespaces if not wanted or n.name in wanted)
        self._keep = set(self.namespaces)

    # the records of the namespaces kept, each kind read from the root on first use ----------

    @cached_property
    def images(self) -> tuple[Image, ...]:
        """The images of the kept namespaces."""
        return tuple(i for i in self.root.images if i.namespace in self._keep)

    @cached_property
    def containers(self) -> tuple[Container, ...]:
        """The containers of the kept namespaces (decoded on first use)."""
        return tuple(c for c in self.root.containers if c.namespace in self._keep)

    @cached_property
    def snapshots(self) -> tuple[Snapshot, ...]:
        """The snapshots of the kept namespaces."""
        return tuple(s for s in self.root.snapshots if s.namespace in self._keep)

    @cached_property
    def blobs(self) -> tuple[ContentBlob, ...]:
        """The content records of the kept namespaces, each checked against its blob."""
        return tuple(b for b in self.root.blobs if b.namespace in self._keep)

    @cached_property
    def leases(self) -> tuple[Lease, ...]:
        """The leases of the kept namespaces."""
        return tuple(le for le in self.root.leases if le.namespace in self._keep)

    @cached_property
    def index(self) -> SnapshotIndex:
        """Every namespace's snapshots by key (a chain never leaves its namespace)."""
        return SnapshotIndex(self.root.snapshots)

    # lookups -----------------------------------------------------------------------------

    @cached_property
    def image_by_name(self) -> dict[tuple[str, str], Image]:
        """``(namespace, name)`` -> image."""
        return {(i.namespace, i.name): i for i in self.images}

    def image_of(self, container: Container) -> Image | None:
        """The image record a container names, in its namespace."""
        if container.image is None:
            return None
        return self.image_by_name.get((container.namespace, container.image))

    def chain(self, container: Container) -> tuple[list[Snapshot], str | None]:
        """The container's snapshot chain, top first, and what broke it."""
        if container.snapshotter is None or container.snapshot_key is None:
            return [], "the container names no snapshot"
        return self.index.chain(container.namespace, container.snapshotter, container.snapshot_key)

    def image_chain(self, image: Image, snapshotter: str | None = None) -> list[Snapshot]:
        """The committed snapshots of an unpacked image, top first (empty if not unpacked)."""
        for sn, top in image.unpacked:
            if snapshotter in (None, sn):
                chain, _ = self.index.chain(image.namespace, sn, top)
                if chain:
                    return chain
        if image.chain_ids:
            for sn in ("overlayfs", "native"):
                if snapshotter in (None, sn):
                    chain, _ = self.index.chain(image.namespace, sn, image.chain_ids[-1])
                    if chain:
                        return chain
        return []

    @cached_property
    def snapshotters_of(self) -> dict[tuple[str, str], list[str]]:
        """``(namespace, key)`` -> the snapshotters that hold a snapshot of that key, sorted."""
        out: dict[tuple[str, str], set[str]] = {}
        for s in self.snapshots:
            out.setdefault((s.namespace, s.key), set()).add(s.snapshotter)
        return {k: sorted(v) for k, v in out.items()}

    @cached_property
    def users(self) -> Counter[tuple[str, str]]:
        """``(namespace, image name)`` -> how many containers name that image."""
        return Counter((ns, image or "") for ns, image in self.root.container_images
                       if ns in self._keep)

    def unpacked_in(self, image: Image) -> list[str]:
        """The snapshotters in which the image's top chain ID is a snapshot."""
        if not image.chain_ids:
            return []
        return list(self.snapshotters_of.get((image.namespace, image.chain_ids[-1]), []))

    def layer_dirs(self, container: Container, chain: list[Snapshot] | None = None) -> list[str]:
        """The container's directories, top first, as its snapshotter mounts them."""
        if chain is None:
            chain, _ = self.chain(container)
        return [s.dir for s in mounted_levels(chain) if s.dir is not None]

    @cached_property
    def cri_ids(self) -> frozenset[str]:
        """The containers whose CRI state directory the evidence holds."""
        return cri_container_ids(self.source)

    # what holds what -----------------------------------------------------------------------

    @cached_property
    def live_snapshots(self) -> set[SnapshotKey]:
        """Snapshots an image, a container or a lease holds, with all their parents."""
        roots: list[SnapshotKey] = []
        for image in self.images:
            labels = self.content_labels.get((image.namespace, image.config.digest), ()) \
                if image.config else ()
            roots += [(image.namespace, k[len(SNAPSHOT_LABEL):], v) for k, v in labels
                      if k.startswith(SNAPSHOT_LABEL)]
        roots += [(c.namespace, c.snapshotter, c.snapshot_key) for c in self.containers
                  if c.snapshotter and c.snapshot_key]
        roots += [(le.namespace, sn, key) for le in self.leases for sn, key in le.snapshots]
        live: set[SnapshotKey] = set()
        for ns, sn, key in roots:
            chain, _ = self.index.chain(ns, sn, key)
            live.update((s.namespace, s.snapshotter, s.key) for s in chain)
        return live

    @cached_property
    def content_labels(self) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
        """``(namespace, digest)`` -> the content record's labels."""
        return {(b.namespace, b.digest): b.labels for b in self.root.blobs}

    @cached_property
    def live_blobs(self) -> set[tuple[str, str]]:
        """``(namespace, digest)`` of content an image or a lease holds, followed by gc labels."""
        todo: list[tuple[str, str]] = [(i.namespace, i.target.digest) for i in self.images
                                       if i.target]
        todo += [(le.namespace, d) for le in self.leases for d in le.content]
        live: set[tuple[str, str]] = set()
        while todo:
            key = todo.pop()
            if key in live:
                continue
            live.add(key)
            todo += [(key[0], v) for k, v in self.content_labels.get(key, ())
                     if k.startswith(CONTENT_REF)]
        return live

    def blob(self, namespace: str, digest: str) -> ContentBlob | None:
        """The content record of a digest in a namespace."""
        return self.blob_index.get((namespace, digest))

    @cached_property
    def blob_index(self) -> dict[tuple[str, str], ContentBlob]:
        """``(namespace, digest)`` -> content record."""
        return {(b.namespace, b.digest): b for b in self.blobs}

    def image_size(self, image: Image) -> int | None:
        """``ctr images ls`` SIZE: target, platform manifest, config and layers, in bytes."""
        digests = [d.digest for d in (image.target, image.manifest, image.config) if d]
        digests += list(image.layer_digests)
        sizes = [self.root.content_size(image.namespace, d) for d in dict.fromkeys(digests)]
        return None if None in sizes else sum(s or 0 for s in sizes)

    # the core model --------------------------------------------------------------------------

    @cached_property
    def core_containers(self) -> dict[str, tuple[CoreContainer, Container]]:
        """``namespace/id`` -> (the core model's container, containerd's record)."""
        out: dict[str, tuple[CoreContainer, Container]] = {}
        for c in self.containers:
            image = self.image_of(c)
            mounts = tuple(
                MountPoint(m.type or "", "", m.source or "", m.destination, "ro" in m.options)
                for m in c.mounts
            )
            core = CoreContainer(
                id=c.id, name=c.id, image=c.image or "",
                image_id=(image.id or "") if image else "", status="unknown", exit_code=0,
                running=False, pid=0, created=c.created, started=None, finished=None,
                driver=c.snapshotter or "", mounts=mounts, labels=c.labels, command=c.args,
                config_path=c.path,
            )
            out[f"{c.namespace}/{c.id}"] = (core, c)
        return out

    @cached_property
    def core_images(self) -> list[tuple[CoreImage, Image]]:
        """(the core model's image, containerd's record) for every image with a config."""
        out = []
        for i in self.images:
            if i.id is None:
                continue
            core = CoreImage(
                id=i.id, driver=(self.unpacked_in(i) or [""])[0], created=i.created,
                parent=None, diff_ids=i.diff_ids, tags=(familiar(i.name),),
                digests=(), config_path=i.path,
            )
            out.append((core, i))
        return out

    def record_of(self, obj: CoreContainer | CoreImage) -> Container | Image:
        """Containerd's own record behind a core model object."""
        if isinstance(obj, CoreContainer):
            for core, rec in self.core_containers.values():
                if core is obj or core.config_path == obj.config_path:
                    return rec
        else:
            for icore, irec in self.core_images:
                if icore is obj or icore.config_path == obj.config_path:
                    return irec
        raise KeyError(obj.id)
