"""Read a containerd root (``/var/lib/containerd``) through a :class:`Source`, part by part.

``read_root`` opens ``io.containerd.metadata.v1.bolt/meta.db``; the :class:`ContainerdRoot` it
returns reads each part on first use: meta.db's records of one kind, the overlayfs and native
snapshotters' ``metadata.db`` (each namespaced snapshot record joined with the snapshotter's
own), images resolved through the content store, every content record checked against its blob
file. A command thus reads only what it prints. Damage anywhere after meta.db's first page
becomes a finding (``dbfile`` says which meta page was used). ``layer_dirs`` gives a
container's directories top first, as the snapshotter would mount them.

References: containerd ``metadata/snapshot.go`` (``Stat``: kind/size from the snapshotter,
name/parent/labels/times from meta.db), ``snapshots/overlay/overlay.go`` (``mounts``: upperdir
of the active snapshot, lowerdirs of its parents nearest first), etcd-io/bbolt ``db.go``
(``meta``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import BinaryIO

from storagekit.engines.containerd.dbfile import Database
from storagekit.engines.containerd.images import BLOBS, BlobReader, blob_path, resolve
from storagekit.engines.containerd.metadb import (
    META_DB,
    ContentRecord,
    MetaDB,
    read_metadb,
)
from storagekit.engines.containerd.model import (
    BoltMeta,
    Container,
    ContentBlob,
    Image,
    Labels,
    Lease,
    Namespace,
    Snapshot,
)
from storagekit.engines.containerd.snapshotters import (
    FULL_COPY,
    PREFIX,
    READ,
    BackendSnapshot,
    join_snapshots,
    present_snapshotters,
    read_snapshotter_db,
)
from storagekit.errors import FormatError, SourceError, StoragekitError
from storagekit.formats.bolt import BoltDB
from storagekit.model import Finding, Findings
from storagekit.source import Source

#: How many containers make :meth:`ContainerdRoot.read_parts` fork (fewer: their parts take
#: less time than a fork costs).
PARALLEL_CONTAINERS = 150


class NotAContainerdRootError(StoragekitError):
    """The evidence holds no containerd metadata database."""


def is_containerd_root(source: Source) -> bool:
    """True if ``meta.db`` is where containerd keeps it."""
    return source.is_file(META_DB)


def _blob(rec: ContentRecord, source: Source, findings: Findings) -> ContentBlob:
    path = blob_path(rec.digest)
    present, disk = False, None
    if path is None:
        findings.error("bad-digest", rec.path, f"content digest {rec.digest!r} is not valid")
    else:
        try:
            entry = source.stat(path)
        except SourceError:
            findings.error("missing-blob", path, f"content record {rec.path} has no blob")
        else:
            present, disk = entry.is_file, entry.size if entry.is_file else None
            if not present:
                findings.error("missing-blob", path, "blob is not a regular file")
            elif rec.size is not None and disk != rec.size:
                findings.error("blob-size-mismatch", path,
                               f"blob has {disk} bytes, its record says {rec.size}")
    return ContentBlob(rec.namespace, rec.digest, rec.size, rec.created_at, rec.updated_at,
                       rec.labels, path, present, disk, rec.path)


class ContainerdRoot:
    """One containerd root, each part read on first use; damage becomes a finding then.

    ``images`` reads meta.db's images and the config blobs' labels, not the containers'
    specs; ``containers`` reads containers and snapshots, not ``content/blob``. meta.db and
    each snapshotter's ``metadata.db`` are read a page at a time while the root is open.

    Attributes:
        orphan_snapshot_dirs: ``.../snapshots/<n>`` directories of a read snapshotter that its
            database does not name (garbage collection removes them asynchronously).
        unrecorded_blobs: blob files no namespace has a ``content/blob`` record for.
    """

    def __init__(self, source: Source | None, findings: Findings | None = None) -> None:
        """Open meta.db of ``source`` (``None``: an empty root, nothing could be read).

        Raises:
            FormatError: meta.db cannot be opened at all (no valid meta page, no ``v1``).
        """
        self._source = source
        self._findings = findings if findings is not None else Findings()
        self._files: list[BinaryIO] = []
        self._meta: MetaDB | None = None
        self._meta_info: list[BoltMeta] = []
        if source is not None:
            db = self._open(META_DB)
            self._meta = read_metadb(db, self._findings)

    def _open(self, path: str) -> BoltDB:
        assert self._source is not None
        opened = Database(self._source, path, self._findings)
        self._files.append(opened.file)
        self._meta_info.append(opened.meta)
        return opened.db

    def close(self) -> None:
        """Close the databases."""
        for f in self._files:
            f.close()
        self._files.clear()

    def read_parts(self, names: Sequence[str]) -> None:
        """Read these parts (attributes read on first use) at once, on every core allowed.

        ``containers`` and ``snapshots`` are separate trees of meta.db and a separate database,
        each some tens of milliseconds of decoding for a thousand records: a forked worker
        (:func:`~storagekit.parallel.pmap`, where the source is fork-safe) reads one while
        this process reads another, and sends its records back. Findings are kept as a
        sequential read records them. A root of fewer than :data:`PARALLEL_CONTAINERS`
        containers is read here alone (a bbolt file's size says little: it keeps freed pages).
        """
        todo = [name for name in names if name not in self.__dict__]
        if (self._source is None or self._meta is None or len(todo) < 2
                or self._meta.container_count() < PARALLEL_CONTAINERS):
            return
        from storagekit.parallel import WorkerError, pmap

        try:
            found = pmap(lambda name: getattr(self, name), todo, source=self._source,
                         findings=self._findings, min_chunk=1)
        except WorkerError:  # read here on first use instead: the same records, or the error
            return  # the command would have met, as one line rather than a worker's traceback
        for name, value in zip(todo, found, strict=True):
            self.__dict__.setdefault(name, value)

    @cached_property
    def namespaces(self) -> tuple[Namespace, ...]:
        """Every namespace, by name."""
        found = self._meta.namespaces if self._meta else ()
        return tuple(sorted(found, key=lambda n: n.name))

    @cached_property
    def containers(self) -> tuple[Container, ...]:
        """Every container, by namespace and ID."""
        found = self._meta.containers if self._meta else ()
        return tuple(sorted(found, key=lambda c: (c.namespace, c.id)))

    @cached_property
    def leases(self) -> tuple[Lease, ...]:
        """Every lease, by namespace and ID."""
        found = self._meta.leases if self._meta else ()
        return tuple(sorted(found, key=lambda le: (le.namespace, le.id)))

    @cached_property
    def blobs(self) -> tuple[ContentBlob, ...]:
        """Every content record, each checked against its blob file."""
        if self._meta is None or self._source is None:
            return ()
        found = (_blob(r, self._source, self._findings) for r in self._meta.content)
        return tuple(sorted(found, key=lambda b: (b.namespace, b.digest)))

    @cached_property
    def images(self) -> tuple[Image, ...]:
        """Every image, resolved through the content store (index, manifest, config)."""
        if self._meta is None or self._source is None:
            return ()
        reader = BlobReader(self._source, self._findings)
        found = (resolve(r, reader, self._labels(r.namespace), self._findings)
                 for r in self._meta.images)
        return tuple(sorted(found, key=lambda i: (i.namespace, i.name)))

    def _labels(self, namespace: str) -> Callable[[str], Labels]:
        """A content record's labels by digest, as ``resolve`` asks for a config's."""
        assert self._meta is not None
        meta = self._meta

        def labels(digest: str) -> Labels:
            found = meta.content_record(namespace, digest)
            return found.labels if found is not None else ()

        return labels

    def content_size(self, namespace: str, digest: str) -> int | None:
        """The size a content record gives (``None``: no record, or none recorded)."""
        found = self._meta.content_record(namespace, digest) if self._meta else None
        return found.size if found is not None else None

    @cached_property
    def container_images(self) -> tuple[tuple[str, str | None], ...]:
        """``(namespace, image)`` of every container, without decoding the containers."""
        return self._meta.container_images if self._meta else ()

    @cached_property
    def _backends(self) -> dict[str, dict[str, BackendSnapshot]]:
        backends: dict[str, dict[str, BackendSnapshot]] = {}
        if self._source is None:
            return backends
        for sn in self.present_snapshotters:
            if sn not in READ:
                if self._source.listdir(PREFIX + sn):
                    self._findings.info("unread-snapshotter", PREFIX + sn,
                                        f"snapshotter {sn!r} holds data this reader does not read")
                continue
            path = f"{PREFIX}{sn}/metadata.db"
            if not self._source.is_file(path):
                continue
            try:
                backends[sn] = read_snapshotter_db(self._open(path), sn, self._findings, path)
            except FormatError as exc:
                self._findings.error("damaged-metadata", path, exc.message)
        return backends

    @cached_property
    def present_snapshotters(self) -> tuple[str, ...]:
        """The snapshotters whose directories the root holds."""
        return tuple(present_snapshotters(self._source)) if self._source is not None else ()

    @cached_property
    def snapshots(self) -> tuple[Snapshot, ...]:
        """Every namespaced snapshot joined with its snapshotter's record."""
        if self._meta is None or self._source is None:
            return ()
        found = join_snapshots(self._source, self._meta.snapshots, self._backends,
                               self._findings)
        return tuple(sorted(found, key=lambda s: (s.namespace, s.snapshotter, s.key)))

    @property
    def snapshotters(self) -> tuple[str, ...]:
        """The snapshotters read."""
        return tuple(sorted(self._backends))

    @property
    def unread_snapshotters(self) -> tuple[str, ...]:
        """The snapshotters present but not read."""
        return tuple(sn for sn in self.present_snapshotters if sn not in READ)

    @property
    def databases(self) -> tuple[BoltMeta, ...]:
        """meta.db, then each snapshotter database read: which meta page was used."""
        self._backends  # noqa: B018 - opens the snapshotter databases
        return tuple(self._meta_info)

    @cached_property
    def orphan_snapshot_dirs(self) -> tuple[str, ...]:
        """Snapshot directories no snapshotter database names."""
        return _orphan_dirs(self._source, self._backends) if self._source else ()

    @cached_property
    def unrecorded_blobs(self) -> tuple[str, ...]:
        """Blob files no namespace records."""
        if self._source is None:
            return ()
        return _unrecorded_blobs(self._source, {b.blob_path for b in self.blobs})

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding, once every part has been read."""
        for part in (self.namespaces, self.containers, self.leases, self.blobs, self.images,
                     self.snapshots, self.databases, self.orphan_snapshot_dirs,
                     self.unrecorded_blobs):
            del part
        return tuple(self._findings.sorted())


def read_root(source: Source, findings: Findings | None = None) -> ContainerdRoot:
    """Open the containerd root at the top of ``source``; its parts are read on use.

    Raises:
        NotAContainerdRootError: there is no ``io.containerd.metadata.v1.bolt/meta.db``.
        FormatError: meta.db cannot be opened at all (no valid meta page, no ``v1`` bucket).
    """
    if not is_containerd_root(source):
        raise NotAContainerdRootError(f"{source.description}: no {META_DB}")
    return ContainerdRoot(source, findings)


def _orphan_dirs(
    source: Source, backends: dict[str, dict[str, BackendSnapshot]]
) -> tuple[str, ...]:
    out = []
    for sn, by_name in sorted(backends.items()):
        known = {str(b.id) for b in by_name.values() if b.id is not None}
        top = f"{PREFIX}{sn}/snapshots"
        try:
            names = source.listdir(top)
        except SourceError:
            continue
        out += [f"{top}/{name}" for name in names if name not in known]
    return tuple(out)


def _unrecorded_blobs(source: Source, recorded: set[str | None]) -> tuple[str, ...]:
    out = []
    for alg in ("sha256", "sha512"):
        top = f"{BLOBS}/{alg}"
        try:
            names = source.listdir(top)
        except SourceError:
            continue
        out += [f"{top}/{name}" for name in names if f"{top}/{name}" not in recorded]
    return tuple(out)


def snapshot_chain(root: ContainerdRoot, namespace: str, snapshotter: str,
                   key: str) -> tuple[Snapshot, ...]:
    """The snapshot ``key`` and its parents, top first (stops at a missing parent or a loop)."""
    index = {(s.namespace, s.snapshotter, s.key): s for s in root.snapshots}
    out: list[Snapshot] = []
    current: str | None = key
    while current is not None and len(out) <= len(index):
        snap = index.get((namespace, snapshotter, current))
        if snap is None or snap in out:
            break
        out.append(snap)
        current = snap.parent
    return tuple(out)


def layer_dirs(root: ContainerdRoot, container: Container) -> tuple[str, ...]:
    """The directories of a container's filesystem, top first, relative to the root.

    overlayfs: the active snapshot's ``fs`` (upperdir), then each parent's ``fs`` (lowerdirs,
    nearest first). Full-copy snapshotters (native) mount only the container's own directory.
    """
    if container.snapshotter is None or container.snapshot_key is None:
        return ()
    chain = snapshot_chain(root, container.namespace, container.snapshotter,
                           container.snapshot_key)
    if container.snapshotter in FULL_COPY:
        chain = chain[:1]
    return tuple(s.dir for s in chain if s.dir is not None)
