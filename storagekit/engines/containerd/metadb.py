"""Read containerd's metadata database, ``io.containerd.metadata.v1.bolt/meta.db``.

The bucket tree (containerd ``metadata/buckets.go``; containerd-podman-format.md §1)::

    v1/ version = varint(3)
      <namespace>/ labels/
        images/<name>/ {createdat, updatedat, labels/, annotations/,
                        target/{digest, mediatype, size}}
        containers/<id>/ {createdat, updatedat, image, labels/, runtime/{name, options},
                          snapshotKey, snapshotter, spec (Any: OCI spec JSON), extensions/}
        content/blob/<digest>/ {createdat, updatedat, size (varint), labels/}
        snapshots/<snapshotter>/<key>/ {createdat, updatedat, name, parent, children/, labels/}
        leases/<id>/ {createdat, labels/, content/<digest>, snapshots/<snapshotter>/<key>,
                      ingests/<ref>}

Strings are raw bytes (UTF-8 expected; invalid bytes are kept with ``backslashreplace`` and
reported). A damaged record becomes a finding and is left out; its neighbours are still read.

References: containerd ``metadata/images.go`` (``readImage``), ``metadata/containers.go``
(``readContainer``), ``metadata/content.go`` (``readInfo``), ``metadata/snapshot.go``,
``metadata/leases.go``, ``metadata/boltutil/helpers.go``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

from storagekit.engines.containerd.model import (
    Container,
    Descriptor,
    Labels,
    Lease,
    Mount,
    Namespace,
    Pod,
)
from storagekit.errors import FormatError
from storagekit.formats.bolt import BoltBucket, BoltDB
from storagekit.formats.containerd import any_json, go_time, varint
from storagekit.model import Findings

META_DB = "io.containerd.metadata.v1.bolt/meta.db"
T = TypeVar("T")


class ImageRecord(NamedTuple):
    """``images/<name>`` as stored (resolution through the content store is images.py's job)."""

    namespace: str
    name: str
    target: Descriptor | None
    created: str | None
    updated: str | None
    labels: Labels
    annotations: Labels
    path: str


class ContentRecord(NamedTuple):
    """``content/blob/<digest>`` as stored."""

    namespace: str
    digest: str
    size: int | None
    created_at: bytes | None
    updated_at: bytes | None
    labels: Labels
    path: str


class SnapshotRecord(NamedTuple):
    """``snapshots/<snapshotter>/<key>``: the namespaced side of a snapshot."""

    namespace: str
    snapshotter: str
    key: str
    name: str | None
    parent: str | None
    created_at: bytes | None
    updated_at: bytes | None
    labels: Labels
    children: tuple[str, ...]
    path: str


def text(raw: bytes) -> str:
    r"""Decode a stored string (invalid UTF-8 kept visible as ``\xNN``)."""
    return raw.decode("utf-8", "backslashreplace")


class _Reader:
    """Reads one meta.db; ``where`` names records in findings (``meta.db#v1/ns/images/x``)."""

    def __init__(self, db: BoltDB, findings: Findings, path: str) -> None:
        self.db, self.findings, self.path = db, findings, path

    def where(self, *names: str) -> str:
        return f"{self.path}#v1/" + "/".join(names)

    def each(
        self, bucket: BoltBucket | None, what: str, at: tuple[str, ...],
        read: Callable[[str, BoltBucket, tuple[str, ...]], T],
    ) -> list[T]:
        """Read every sub-bucket of ``bucket``; a damaged one becomes a finding."""
        out: list[T] = []
        if bucket is None:
            return out
        try:
            items = list(bucket.items())
        except FormatError as exc:
            self.findings.error("damaged-metadata", self.where(*at), f"{what}: {exc.message}")
            return out
        for key, value in items:
            name = text(key)
            if not isinstance(value, BoltBucket):
                continue
            try:
                out.append(read(name, value, (*at, name)))
            except FormatError as exc:
                self.findings.error(
                    "damaged-metadata", self.where(*at, name), f"{what}: {exc.message}"
                )
        return out

    def time(self, b: BoltBucket, key: bytes, at: tuple[str, ...]) -> str | None:
        raw = b.get(key)
        if raw is None:
            return None
        try:
            t = go_time(raw)
        except FormatError as exc:  # the record's path is spelled out only for a finding
            self.findings.error("bad-timestamp", self.where(*at, key.decode()), exc.message)
            return None
        return t.rfc3339 if t else None

    def labels(self, b: BoltBucket, name: bytes = b"labels") -> Labels:
        sub = b.bucket(name)
        if sub is None:
            return ()
        return tuple(sorted((text(k), text(v)) for k, v in sub.items() if isinstance(v, bytes)))

    def size(self, b: BoltBucket, at: tuple[str, ...]) -> int | None:
        raw = b.get(b"size")
        if raw is None:
            return None
        try:
            return varint(raw, self.where(*at, "size"))
        except FormatError as exc:
            self.findings.error("bad-varint", exc.path, exc.message)
            return None

    def keys(self, b: BoltBucket | None) -> tuple[str, ...]:
        return tuple(text(k) for k in b.keys()) if b is not None else ()

    # -- records -------------------------------------------------------------------------------
    def image(self, name: str, b: BoltBucket, at: tuple[str, ...]) -> ImageRecord:
        t = b.bucket(b"target")
        target = None
        if t is not None:
            target = Descriptor(
                text(t.get(b"mediatype") or b""), text(t.get(b"digest") or b""),
                self.size(t, (*at, "target")),
            )
        return ImageRecord(
            at[0], name, target, self.time(b, b"createdat", at), self.time(b, b"updatedat", at),
            self.labels(b), self.labels(b, b"annotations"), self.where(*at),
        )

    def blob(self, digest: str, b: BoltBucket, at: tuple[str, ...]) -> ContentRecord:
        return ContentRecord(
            at[0], digest, self.size(b, at), b.get(b"createdat"), b.get(b"updatedat"),
            self.labels(b), self.where(*at),
        )

    def container(self, cid: str, b: BoltBucket, at: tuple[str, ...]) -> Container:
        runtime = b.bucket(b"runtime")
        labels = self.labels(b)
        lab = dict(labels)
        spec_type: str | None = None
        spec: dict[str, Any] = {}
        raw = b.get(b"spec")
        if raw is not None:
            try:
                spec_type, spec = any_json(raw)
            except FormatError as exc:
                self.findings.error("bad-spec", self.where(*at, "spec"), exc.message)
        found = spec.get("process")
        process: dict[str, Any] = found if isinstance(found, dict) else {}
        pod = None
        if any(k.startswith("io.kubernetes.pod.") for k in lab):
            pod = Pod(lab.get("io.kubernetes.pod.namespace"), lab.get("io.kubernetes.pod.name"),
                      lab.get("io.kubernetes.pod.uid"))
        raw_key, raw_sn = b.get(b"snapshotKey"), b.get(b"snapshotter")
        raw_image = b.get(b"image")
        return Container(
            namespace=at[0], id=cid,
            image=text(raw_image) if raw_image is not None else None,
            snapshotter=text(raw_sn) if raw_sn is not None else None,
            snapshot_key=text(raw_key) if raw_key is not None else None,
            runtime=text(runtime.get(b"name") or b"") if runtime is not None else None,
            created=self.time(b, b"createdat", at), updated_at=b.get(b"updatedat"),
            labels=labels, spec_type=spec_type,
            args=_strings(process.get("args")), env=_strings(process.get("env")),
            cwd=process.get("cwd") if isinstance(process.get("cwd"), str) else None,
            mounts=_mounts(spec.get("mounts")), pod=pod,
            cri_kind=lab.get("io.cri-containerd.kind"),
            container_name=lab.get("io.kubernetes.container.name"),
            extensions=self.keys(b.bucket(b"extensions")), path=self.where(*at),
        )

    def lease(self, lid: str, b: BoltBucket, at: tuple[str, ...]) -> Lease:
        labels = self.labels(b)
        snaps: list[tuple[str, str]] = []
        sb = b.bucket(b"snapshots")
        if sb is not None:
            for sn, keys in sb.items():
                if isinstance(keys, BoltBucket):
                    snaps.extend((text(sn), text(k)) for k in keys.keys())
        return Lease(
            at[0], lid, b.get(b"createdat"), labels,
            dict(labels).get("containerd.io/gc.expire"), self.keys(b.bucket(b"content")),
            tuple(snaps), self.keys(b.bucket(b"ingests")), self.where(*at),
        )

    def snapshot(self, key: str, b: BoltBucket, at: tuple[str, ...]) -> SnapshotRecord:
        name, parent = b.get(b"name"), b.get(b"parent")
        return SnapshotRecord(
            at[0], at[2], key, text(name) if name is not None else None,
            text(parent) if parent is not None else None, b.get(b"createdat"),
            b.get(b"updatedat"), self.labels(b), self.keys(b.bucket(b"children")),
            self.where(*at),
        )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _mounts(value: Any) -> tuple[Mount, ...]:
    out = []
    for m in value if isinstance(value, list) else ():
        if isinstance(m, dict) and isinstance(m.get("destination"), str):
            t, s = m.get("type"), m.get("source")
            out.append(Mount(m["destination"], t if isinstance(t, str) else None,
                             s if isinstance(s, str) else None, _strings(m.get("options"))))
    return tuple(out)


class MetaDB:
    """The records of meta.db, each kind read from its buckets on first use.

    A command reads only the buckets it needs: ``images`` never parses a container's spec,
    ``containers`` never walks ``content/blob``. bbolt stores each namespace's buckets apart
    (their own pages, or inline in the namespace's leaf), so a kind not asked for is neither
    decoded nor, with the file read page by page, read at all. Damage found on the way becomes
    a finding when that kind is read (findings are de-duplicated and sorted, so the order of
    reading does not show).
    """

    def __init__(self, db: BoltDB, findings: Findings, path: str = META_DB) -> None:
        """Open the ``v1`` bucket; the rest is read on use.

        Raises:
            FormatError: the top bucket ``v1`` itself cannot be read.
        """
        self._r = _Reader(db, findings, path)
        v1 = db.bucket(b"v1")
        if v1 is None:
            raise FormatError(path, "no v1 bucket: not a containerd metadata database")
        self.version: int | None = None
        if (raw := v1.get(b"version")) is not None:
            try:
                self.version = varint(raw, self._r.where("version"))
            except FormatError as exc:
                findings.error("bad-varint", exc.path, exc.message)
        self._spaces: dict[str, BoltBucket] = {}
        for key, nsb in v1.items():
            if isinstance(nsb, BoltBucket):
                self._spaces[text(key)] = nsb

    def _each_namespace(self, read: Callable[[str, BoltBucket], list[T]]) -> tuple[T, ...]:
        out: list[T] = []
        for ns, nsb in self._spaces.items():
            try:
                out += read(ns, nsb)
            except FormatError as exc:
                self._r.findings.error("damaged-metadata", self._r.where(ns),
                                       f"namespace: {exc.message}")
        return tuple(out)

    @cached_property
    def namespaces(self) -> tuple[Namespace, ...]:
        """``v1/<namespace>``: name, labels and sequence."""
        r = self._r
        return self._each_namespace(lambda ns, b: [Namespace(ns, r.labels(b), b.sequence)])

    @cached_property
    def images(self) -> tuple[ImageRecord, ...]:
        """``images/<name>`` of every namespace."""
        r = self._r
        return self._each_namespace(
            lambda ns, b: r.each(b.bucket(b"images"), "image", (ns, "images"), r.image))

    @cached_property
    def content(self) -> tuple[ContentRecord, ...]:
        """``content/blob/<digest>`` of every namespace."""
        r = self._r

        def read(ns: str, b: BoltBucket) -> list[ContentRecord]:
            blobs = b.bucket(b"content")
            return r.each(blobs.bucket(b"blob") if blobs else None, "content record",
                          (ns, "content", "blob"), r.blob)

        return self._each_namespace(read)

    def content_record(self, namespace: str, digest: str) -> ContentRecord | None:
        """One content record, read from its own bucket alone (``None``: absent or damaged).

        Damage there is reported when ``content`` is read in full.
        """
        if "content" in self.__dict__:
            return self._content_index.get((namespace, digest))
        nsb = self._spaces.get(namespace)
        at = (namespace, "content", "blob", digest)
        try:
            blobs = nsb.bucket(b"content") if nsb is not None else None
            blob = blobs.bucket(b"blob") if blobs is not None else None
            rec = blob.bucket(digest.encode()) if blob is not None else None
            return self._r.blob(digest, rec, at) if rec is not None else None
        except FormatError:
            return None

    @cached_property
    def _content_index(self) -> dict[tuple[str, str], ContentRecord]:
        return {(r.namespace, r.digest): r for r in self.content}

    @cached_property
    def container_images(self) -> tuple[tuple[str, str | None], ...]:
        """``(namespace, image)`` of every container: its ``image`` value alone, no spec."""
        r = self._r

        def image(cid: str, b: BoltBucket, at: tuple[str, ...]) -> tuple[str, str | None]:
            raw = b.get(b"image")
            return at[0], text(raw) if raw is not None else None

        return self._each_namespace(
            lambda ns, b: r.each(b.bucket(b"containers"), "container", (ns, "containers"), image))

    def container_count(self) -> int:
        """How many containers there are, from their keys alone (``containers`` reports damage)."""
        count = 0
        for nsb in self._spaces.values():
            try:
                count += len(b.keys()) if (b := nsb.bucket(b"containers")) is not None else 0
            except FormatError:
                continue
        return count

    @cached_property
    def containers(self) -> tuple[Container, ...]:
        """``containers/<id>`` of every namespace, with each spec decoded."""
        r = self._r
        return self._each_namespace(
            lambda ns, b: r.each(b.bucket(b"containers"), "container", (ns, "containers"),
                                 r.container))

    @cached_property
    def leases(self) -> tuple[Lease, ...]:
        """``leases/<id>`` of every namespace."""
        r = self._r
        return self._each_namespace(
            lambda ns, b: r.each(b.bucket(b"leases"), "lease", (ns, "leases"), r.lease))

    @cached_property
    def snapshots(self) -> tuple[SnapshotRecord, ...]:
        """``snapshots/<snapshotter>/<key>`` of every namespace."""
        r = self._r

        def read(ns: str, b: BoltBucket) -> list[SnapshotRecord]:
            out: list[SnapshotRecord] = []
            sb = b.bucket(b"snapshots")
            for sn, keys in sb.items() if sb is not None else ():
                if isinstance(keys, BoltBucket):
                    out += r.each(keys, "snapshot", (ns, "snapshots", text(sn)), r.snapshot)
            return out

        return self._each_namespace(read)


def read_metadb(db: BoltDB, findings: Findings, path: str = META_DB) -> MetaDB:
    """Every record of an open meta.db, each kind read on first use; damage becomes findings.

    Raises:
        FormatError: the top bucket ``v1`` itself cannot be read.
    """
    return MetaDB(db, findings, path)
