"""Read containerd snapshotters: which are present, their ``metadata.db``, their directories.

Each snapshotter plugin keeps its state below ``io.containerd.snapshotter.v1.<name>/``. The
overlayfs and native snapshotters share one storage layout (containerd
``snapshots/storage/bolt.go``; containerd-podman-format.md §1)::

    metadata.db  v1/
      snapshots/<name>/ {id, kind, parent, createdat, updatedat, inodes, size, labels/}
      parents/<uvarint parent id> 0x00 <uvarint child id> = child name
    snapshots/<id>/fs     overlayfs: a layer's files, or an active snapshot's upperdir (+ work/)
    snapshots/<id>        native: a complete copy of the tree

The database is *not* namespaced: ``<name>`` is ``<namespace>/<number>/<key>``. ``id`` is an
unsigned varint (``encodeID``: ``PutUvarint``); ``kind`` is one byte (0 unknown, 1 view,
2 active, 3 committed); ``inodes`` and ``size`` are **signed** varints (``putUsage``:
``PutVarint`` of ``snapshots.Usage``'s int64 fields; verified on the sample root, where 51
inodes are stored as ``0x66``), recorded when a snapshot is committed. The directory of a
snapshot is named by its decimal ``id``, so an ID is a number before it is ever a path.

Other snapshotters (btrfs, zfs, devmapper, aufs, fuse-overlayfs, stargz, ...) keep other
formats: they are detected by directory and named as unread.

References: containerd ``snapshots/storage/bolt.go`` (``CreateSnapshot``, ``readSnapshot``,
``parentKey``), ``snapshots/overlay/overlay.go`` (``upperPath``, ``mounts``),
``snapshots/native/native.go`` (``getSnapshotDir``).
"""

from __future__ import annotations

from typing import NamedTuple

from storagekit.engines.containerd.metadb import SnapshotRecord, text
from storagekit.engines.containerd.model import Snapshot, SnapshotKind
from storagekit.errors import FormatError, SourceError
from storagekit.formats.bolt import BoltBucket, BoltDB
from storagekit.formats.containerd import uvarint, varint
from storagekit.model import Findings
from storagekit.source import Source

PREFIX = "io.containerd.snapshotter.v1."
#: Snapshotters whose database this package reads, and where a snapshot's files are
#: below ``snapshots/<id>``.
READ = {"overlayfs": "/fs", "native": ""}
#: Snapshotters that keep every layer as a complete tree: only the top one is mounted.
FULL_COPY = frozenset({"native", "btrfs", "zfs"})
KINDS: dict[int, SnapshotKind] = {0: "unknown", 1: "view", 2: "active", 3: "committed"}


class BackendSnapshot(NamedTuple):
    """One ``v1/snapshots/<name>`` record of a snapshotter's ``metadata.db``.

    Its ``createdat``, ``updatedat`` and ``labels`` repeat meta.db's record of the snapshot
    (what ``ctr snapshots info`` shows) and are not read.
    """

    snapshotter: str
    name: str
    id: int | None
    kind: SnapshotKind
    parent: str | None
    inodes: int | None
    size: int | None
    path: str


def present_snapshotters(source: Source) -> list[str]:
    """The names of the ``io.containerd.snapshotter.v1.<name>`` directories, sorted."""
    try:
        return sorted(
            e.name[len(PREFIX):] for e in source.scandir("")
            if e.is_dir and e.name.startswith(PREFIX) and len(e.name) > len(PREFIX)
        )
    except SourceError:
        return []


def snapshot_dir(snapshotter: str, snapshot_id: int) -> str | None:
    """Where a snapshot's files are, relative to the root; ``None`` for an unread snapshotter."""
    sub = READ.get(snapshotter)
    if sub is None or snapshot_id < 0:
        return None
    return f"{PREFIX}{snapshotter}/snapshots/{snapshot_id}{sub}"


def _number(
    b: BoltBucket, key: bytes, where: str, findings: Findings, signed: bool = False
) -> int | None:
    raw = b.get(key)
    if raw is None:
        return None
    try:
        return (varint if signed else uvarint)(raw, f"{where}/{key.decode()}")
    except FormatError as exc:
        findings.error("bad-varint", exc.path, f"{exc.message} (value {raw[:16].hex()})")
        return None


def read_snapshotter_db(
    db: BoltDB, snapshotter: str, findings: Findings, path: str
) -> dict[str, BackendSnapshot]:
    """Every snapshot record of an open snapshotter ``metadata.db``, by name.

    Raises:
        FormatError: the ``v1/snapshots`` bucket itself cannot be read.
    """
    top = db.bucket(b"v1", b"snapshots")
    if top is None:
        if db.bucket(b"v1") is None:
            raise FormatError(path, "no v1 bucket: not a containerd snapshotter database")
        return {}
    out: dict[str, BackendSnapshot] = {}
    for key, b in top.items():
        if not isinstance(b, BoltBucket):
            continue
        name = text(key)
        where = f"{path}#v1/snapshots/{name}"
        try:
            kind = b.get(b"kind")
            if kind is not None and len(kind) != 1:
                findings.error("bad-kind", f"{where}/kind", f"kind is {len(kind)} bytes, not 1")
            parent = b.get(b"parent")
            out[name] = BackendSnapshot(
                snapshotter=snapshotter, name=name, id=_number(b, b"id", where, findings),
                kind=KINDS.get(kind[0] if kind is not None and len(kind) == 1 else 0, "unknown"),
                parent=text(parent) if parent is not None else None,
                inodes=_number(b, b"inodes", where, findings, signed=True),
                size=_number(b, b"size", where, findings, signed=True),
                path=where,
            )
        except FormatError as exc:
            findings.error("damaged-metadata", where, f"snapshot: {exc.message}")
    return out


def namespace_of(name: str) -> tuple[str, str] | None:
    """Split a backend name ``<namespace>/<number>/<key>`` into (namespace, key)."""
    parts = name.split("/", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], parts[2]


class _Presence:
    """Whether snapshot directories exist, from one listing of each ``snapshots/`` directory.

    ``snapshots/<id>`` must be a directory (not a link) of that listing; overlayfs's ``fs``
    below it is then looked up alone (below a directory a host source has seen, one ``lstat``,
    where a lookup from nothing opens every directory on the way). A listing that cannot be
    read leaves the question to each path.
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self._listed: dict[str, frozenset[str] | None] = {}

    def __call__(self, snapshotter: str, sid: int | None, where: str | None) -> bool:
        if sid is None or where is None:
            return False
        top = f"{PREFIX}{snapshotter}/snapshots"
        if top not in self._listed:
            try:
                self._listed[top] = frozenset(self._source.subdirs(top)[0])
            except SourceError:
                self._listed[top] = None
        names = self._listed[top]
        if names is None:
            return self._source.is_dir(where)
        return str(sid) in names and (not READ.get(snapshotter) or self._source.is_dir(where))


def join_snapshots(
    source: Source,
    records: tuple[SnapshotRecord, ...],
    backends: dict[str, dict[str, BackendSnapshot]],
    findings: Findings,
) -> list[Snapshot]:
    """Each namespaced snapshot record joined with its snapshotter's record.

    As ``ctr snapshots info`` joins them; disagreements and missing directories are findings.
    """
    out: list[Snapshot] = []
    present = _Presence(source)
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
            dir=where, present=present(rec.snapshotter, sid, where), path=rec.path,
        ))
        if where is not None and not out[-1].present:
            findings.error("missing-snapshot-dir", where, f"snapshot {rec.key!r} has no files")
    for sn, by_name in backends.items():
        for name, back in by_name.items():
            if (sn, name) not in seen:
                findings.warning("snapshot-not-in-metadata", back.path,
                                 "no namespace of meta.db names this snapshot")
    return out
