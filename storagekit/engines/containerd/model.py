"""What a containerd root holds, in containerd's own vocabulary.

Named tuples built by the readers of this package (thousands of them for a large root: a
tuple is made, and sent back from a forked worker, several times faster than a frozen
dataclass, and its class costs a tenth as much to create on import). Labels and annotations are
sorted ``(key, value)`` tuples (``dict(obj.labels)`` gives a mapping). Timestamps are RFC 3339
UTC strings as Go's ``RFC3339Nano`` prints them (what ``ctr ... info`` shows); ``None`` means
absent or Go's zero time. The times no command prints for every record (a blob's, a
snapshot's, a lease's creation, any ``updatedat``) are kept as stored and decoded when asked:
decoding two Go times for each of thousands of records up front cost more than the rest of
reading them. Every object names the namespace it belongs to and, in ``path``, the
artefact it was read from, relative to the containerd root (``io.containerd.metadata.v1.bolt/
meta.db`` followed by the bucket path after ``#``).

References: containerd ``metadata/buckets.go`` (the bucket tree), ``metadata/images.go``,
``metadata/containers.go``, ``metadata/content.go``, ``metadata/leases.go``,
``metadata/snapshot.go``, ``snapshots/storage/bolt.go``, ``snapshots/snapshotter.go`` (``Kind``).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from storagekit.formats.containerd import go_time_text

Labels = tuple[tuple[str, str], ...]
#: ``snapshots.Kind``: 0 unknown, 1 view, 2 active, 3 committed.
SnapshotKind = Literal["unknown", "view", "active", "committed"]


class Namespace(NamedTuple):
    """A bucket below ``v1/`` of meta.db (``sequence``: that bucket's NextSequence counter)."""

    name: str
    labels: Labels
    sequence: int


class Descriptor(NamedTuple):
    """An OCI content descriptor (``target/`` of an image record, or inside a manifest)."""

    media_type: str
    digest: str
    size: int | None


class ContentBlob(NamedTuple):
    """``content/blob/<digest>`` of one namespace, and the blob file shared by all of them.

    Attributes:
        size: the recorded size (signed varint), ``None`` if unreadable.
        blob_path: ``io.containerd.content.v1.content/blobs/sha256/<hex>``, ``None`` for a
            digest that is not a valid sha256 digest (never turned into a path).
        present: the blob file exists as a regular file.
        disk_size: its size on disk (equal to ``size`` when intact).
    """

    namespace: str
    digest: str
    size: int | None
    created_at: bytes | None
    updated_at: bytes | None
    labels: Labels
    blob_path: str | None
    present: bool
    disk_size: int | None
    path: str

    @property
    def created(self) -> str | None:
        """``createdat`` as RFC 3339, decoded when asked (``None``: absent, zero or damaged)."""
        return go_time_text(self.created_at)

    @property
    def updated(self) -> str | None:
        """``updatedat`` as RFC 3339, decoded when asked (``None``: absent, zero or damaged)."""
        return go_time_text(self.updated_at)


class Image(NamedTuple):
    """``images/<name>`` resolved through the content store to a platform manifest and config.

    Attributes:
        target: the record's top descriptor (a manifest, or an index with ``--index-name``).
        manifest: the platform manifest used: linux/amd64 first, else the only one.
        platform: ``os/architecture[/variant]`` of that manifest when an index names it.
        config: the config descriptor from the manifest; ``id`` is its digest.
        layer_digests: the manifest's layer blobs, base first.
        diff_ids: ``rootfs.diff_ids`` of the config, base first.
        chain_ids: ``chainID(0) = diffID(0)``, ``chainID(n) = sha256(chainID(n-1) + " " +
            diffID(n))``: the keys of the committed snapshots an unpack makes.
        unpacked: ``(snapshotter, top chain ID)`` from the config blob's
            ``containerd.io/gc.ref.snapshot.<snapshotter>`` labels.
    """

    namespace: str
    name: str
    target: Descriptor | None
    created: str | None
    updated: str | None
    labels: Labels
    annotations: Labels
    manifest: Descriptor | None
    platform: str | None
    config: Descriptor | None
    layer_digests: tuple[str, ...]
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]
    unpacked: tuple[tuple[str, str], ...]
    path: str

    @property
    def id(self) -> str | None:
        """The image ID: the config digest."""
        return self.config.digest if self.config else None


class Mount(NamedTuple):
    """One ``mounts[]`` entry of the container's OCI spec."""

    destination: str
    type: str | None
    source: str | None
    options: tuple[str, ...]


class Pod(NamedTuple):
    """The CRI pod a container belongs to (``io.kubernetes.pod.*`` labels)."""

    namespace: str | None
    name: str | None
    uid: str | None


class Container(NamedTuple):
    """``containers/<id>`` with the parts of its OCI spec an analyst asks for first.

    Attributes:
        runtime: ``runtime/name`` (``io.containerd.runc.v2``).
        spec_type: the ``type_url`` of the spec's protobuf ``Any``.
        args: ``process.args`` of the spec (command first); ``env``, ``cwd`` likewise.
        pod: from CRI labels, ``None`` when the container has none.
        cri_kind: ``io.cri-containerd.kind`` (``container`` or ``sandbox``).
        container_name: ``io.kubernetes.container.name``.
        extensions: the names below ``extensions/`` (CRI metadata lives there).
    """

    namespace: str
    id: str
    image: str | None
    snapshotter: str | None
    snapshot_key: str | None
    runtime: str | None
    created: str | None
    updated_at: bytes | None
    labels: Labels
    spec_type: str | None
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str | None
    mounts: tuple[Mount, ...]
    pod: Pod | None
    cri_kind: str | None
    container_name: str | None
    extensions: tuple[str, ...]
    path: str

    @property
    def updated(self) -> str | None:
        """``updatedat`` as RFC 3339, decoded when asked (``None``: absent, zero or damaged)."""
        return go_time_text(self.updated_at)


class Lease(NamedTuple):
    """``leases/<id>``: what it keeps from garbage collection, and until when.

    Attributes:
        expires: the ``containerd.io/gc.expire`` label (RFC 3339), ``None`` if it never does.
        snapshots: ``(snapshotter, key)`` pairs.
    """

    namespace: str
    id: str
    created_at: bytes | None
    labels: Labels
    expires: str | None
    content: tuple[str, ...]
    snapshots: tuple[tuple[str, str], ...]
    ingests: tuple[str, ...]
    path: str

    @property
    def created(self) -> str | None:
        """``createdat`` as RFC 3339, decoded when asked (``None``: absent, zero or damaged)."""
        return go_time_text(self.created_at)


class Snapshot(NamedTuple):
    """A snapshot as ``ctr snapshots info`` sees it.

    meta.db's record (key, parent, labels, times) joined with the snapshotter database's
    (kind, id, size, inodes).

    Attributes:
        key: the namespaced key (a chain ID for image layers, the container ID for ctr's
            containers); ``parent`` is the parent's key.
        name: the snapshotter's name ``<namespace>/<sequence>/<key>``.
        id: the snapshotter's number, which names the directory.
        size, inodes: recorded at commit (committed snapshots only).
        dir: where the snapshot's files are, relative to the root (``.../snapshots/<id>/fs``
            for overlayfs, ``.../snapshots/<id>`` for native); ``present`` says it exists.
    """

    namespace: str
    snapshotter: str
    key: str
    name: str | None
    parent: str | None
    kind: SnapshotKind
    id: int | None
    created_at: bytes | None
    updated_at: bytes | None
    labels: Labels
    size: int | None
    inodes: int | None
    dir: str | None
    present: bool
    path: str

    @property
    def created(self) -> str | None:
        """``createdat`` as RFC 3339, decoded when asked (``None``: absent, zero or damaged)."""
        return go_time_text(self.created_at)

    @property
    def updated(self) -> str | None:
        """``updatedat`` as RFC 3339, decoded when asked (``None``: absent, zero or damaged)."""
        return go_time_text(self.updated_at)


class BoltMeta(NamedTuple):
    """Which meta page of a BoltDB file was used, and whether the other one was valid."""

    path: str
    txid: int
    page: int | None
    other_valid: bool | None
