"""Read a whole containerd root (``/var/lib/containerd``) through a :class:`Source`.

``read_root`` opens ``io.containerd.metadata.v1.bolt/meta.db`` and the overlayfs and native
snapshotters' ``metadata.db``, joins each namespaced snapshot record with the snapshotter's own,
resolves images through the content store, checks every content record against its blob file,
and returns one :class:`ContainerdRoot`. Damage anywhere after meta.db's first page becomes a
finding. ``layer_dirs`` gives a container's directories top first, as the snapshotter would
mount them.

A torn BoltDB (copied while the daemon wrote it) has one invalid meta page; bbolt, and
``formats/bolt.py``, then use the other one. Which one was used is recomputed here from the two
meta pages (without touching the parser) and reported as a ``torn-database`` finding.

References: containerd ``metadata/snapshot.go`` (``Stat``: kind/size from the snapshotter,
name/parent/labels/times from meta.db), ``snapshots/overlay/overlay.go`` (``mounts``: upperdir
of the active snapshot, lowerdirs of its parents nearest first), etcd-io/bbolt ``db.go``
(``meta``).
"""

from __future__ import annotations

from typing import Literal

from storagekit.engines.containerd.images import BLOBS, BlobReader, blob_path, resolve
from storagekit.engines.containerd.metadb import (
    META_DB,
    ContentRecord,
    SnapshotRecord,
    read_metadb,
)
from storagekit.engines.containerd.model import (
    BoltMeta,
    Container,
    ContainerdRoot,
    ContentBlob,
    Labels,
    Snapshot,
)
from storagekit.engines.containerd.snapshotters import (
    FULL_COPY,
    PREFIX,
    READ,
    BackendSnapshot,
    namespace_of,
    present_snapshotters,
    read_snapshotter_db,
    snapshot_dir,
)
from storagekit.errors import FormatError, SourceError, StoragekitError
from storagekit.formats.bolt import MAGIC, PAGE_HEADER_SIZE, VERSION, BoltDB, fnv1a64
from storagekit.model import Findings
from storagekit.source import Source

MAX_DB = 1 << 30


class NotAContainerdRootError(StoragekitError):
    """The evidence holds no containerd metadata database."""


def is_containerd_root(source: Source) -> bool:
    """True if ``meta.db`` is where containerd keeps it."""
    return source.is_file(META_DB)


def _open_db(source: Source, path: str, findings: Findings) -> tuple[BoltDB, BoltMeta]:
    """Open a BoltDB file and tell which meta page it was read from (FormatError if none)."""
    try:
        data = source.read_bytes(path, MAX_DB)
    except SourceError as exc:
        raise FormatError(path, f"cannot read: {exc}") from None
    db = BoltDB.from_bytes(data, path)
    order: Literal["little", "big"] = "little" if db.byte_order == "little" else "big"
    valid: dict[int, int] = {}
    for page in (0, 1):
        raw = data[page * db.page_size + PAGE_HEADER_SIZE:][:64]
        if len(raw) < 64:
            continue
        if (int.from_bytes(raw[0:4], order) == MAGIC
                and int.from_bytes(raw[4:8], order) == VERSION
                and int.from_bytes(raw[56:64], order) == fnv1a64(raw[:56])):
            valid[page] = int.from_bytes(raw[48:56], order)
    used = max((p for p in valid if valid[p] == db.txid), default=None)
    other = None if used is None else (1 - used) in valid
    if used is not None and other is False:
        findings.warning("torn-database", path,
                         f"meta page {1 - used} is invalid (a torn copy?); meta page {used} "
                         f"(txid {db.txid}) was used")
    return db, BoltMeta(path, db.txid, used, other)


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


def read_root(source: Source) -> ContainerdRoot:
    """Read the containerd root at the top of ``source``.

    Raises:
        NotAContainerdRootError: there is no ``io.containerd.metadata.v1.bolt/meta.db``.
        FormatError: meta.db cannot be opened at all (no valid meta page, no ``v1`` bucket).
    """
    if not is_containerd_root(source):
        raise NotAContainerdRootError(f"{source.description}: no {META_DB}")
    findings = Findings()
    db, meta_info = _open_db(source, META_DB, findings)
    meta = read_metadb(db, findings)
    databases = [meta_info]
    present = present_snapshotters(source)
    backends: dict[str, dict[str, BackendSnapshot]] = {}
    for sn in present:
        if sn not in READ:
            if source.listdir(PREFIX + sn):
                findings.info("unread-snapshotter", PREFIX + sn,
                              f"snapshotter {sn!r} holds data this reader does not read")
            continue
        path = f"{PREFIX}{sn}/metadata.db"
        if not source.is_file(path):
            continue
        try:
            sdb, info = _open_db(source, path, findings)
            databases.append(info)
            backends[sn] = read_snapshotter_db(sdb, sn, findings, path)
        except FormatError as exc:
            findings.error("damaged-metadata", path, exc.message)
    snapshots = _join(source, meta.snapshots, backends, findings)
    blobs = tuple(_blob(r, source, findings) for r in meta.content)
    labels: dict[str, dict[str, Labels]] = {}
    for r in meta.content:
        labels.setdefault(r.namespace, {})[r.digest] = r.labels
    reader = BlobReader(source, findings)
    images = tuple(resolve(r, reader, labels.get(r.namespace, {}), findings) for r in meta.images)
    return ContainerdRoot(
        namespaces=tuple(sorted(meta.namespaces, key=lambda n: n.name)),
        images=tuple(sorted(images, key=lambda i: (i.namespace, i.name))),
        blobs=tuple(sorted(blobs, key=lambda b: (b.namespace, b.digest))),
        containers=tuple(sorted(meta.containers, key=lambda c: (c.namespace, c.id))),
        leases=tuple(sorted(meta.leases, key=lambda le: (le.namespace, le.id))),
        snapshots=tuple(sorted(snapshots, key=lambda s: (s.namespace, s.snapshotter, s.key))),
        snapshotters=tuple(sorted(backends)),
        unread_snapshotters=tuple(sn for sn in present if sn not in READ),
        databases=tuple(databases),
        orphan_snapshot_dirs=_orphan_dirs(source, backends),
        unrecorded_blobs=_unrecorded_blobs(source, {b.blob_path for b in blobs}),
        findings=tuple(findings.sorted()),
    )


def _join(
    source: Source,
    records: tuple[SnapshotRecord, ...],
    backends: dict[str, dict[str, BackendSnapshot]],
    findings: Findings,
) -> list[Snapshot]:
    out: list[Snapshot] = []
    seen: set[tuple[str, str]] = set()
    for rec in records:
        back = backends.get(rec.snapshotter, {}).get(rec.name or "")
        if back is None and rec.snapshotter in READ:
            findings.error("missing-snapshot", rec.path,
                           f"{rec.snapshotter} has no snapshot named {rec.name!r}")
        if back is not None:
            seen.add((rec.snapshotter, back.name))
            split = namespace_of(back.parent) if back.parent else None
            if (split[1] if split else None) != rec.parent:
                findings.warning("snapshot-parent-mismatch", rec.path,
                                 f"meta.db parent {rec.parent!r}, snapshotter parent "
                                 f"{back.parent!r}")
        sid = back.id if back else None
        where = snapshot_dir(rec.snapshotter, sid) if sid is not None else None
        out.append(Snapshot(
            namespace=rec.namespace, snapshotter=rec.snapshotter, key=rec.key, name=rec.name,
            parent=rec.parent, kind=back.kind if back else "unknown", id=sid,
            created_at=rec.created_at, updated_at=rec.updated_at, labels=rec.labels,
            size=back.size if back else None, inodes=back.inodes if back else None,
            dir=where, present=bool(where and source.is_dir(where)), path=rec.path,
        ))
        if where is not None and not out[-1].present:
            findings.error("missing-snapshot-dir", where, f"snapshot {rec.key!r} has no files")
    for sn, by_name in backends.items():
        for name, back in by_name.items():
            if (sn, name) not in seen:
                findings.warning("snapshot-not-in-metadata", back.path,
                                 "no namespace of meta.db names this snapshot")
    return out


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
