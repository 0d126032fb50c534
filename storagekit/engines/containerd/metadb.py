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
from dataclasses import dataclass
from typing import Any, TypeVar

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


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """``images/<name>`` as stored (resolution through the content store is images.py's job)."""

    namespace: str
    name: str
    target: Descriptor | None
    created: str | None
    updated: str | None
    labels: Labels
    annotations: Labels
    path: str


@dataclass(frozen=True, slots=True)
class ContentRecord:
    """``content/blob/<digest>`` as stored."""

    namespace: str
    digest: str
    size: int | None
    created_at: bytes | None
    updated_at: bytes | None
    labels: Labels
    path: str


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
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


@dataclass(frozen=True, slots=True)
class MetaDB:
    """Every record of meta.db, namespace by namespace."""

    version: int | None
    namespaces: tuple[Namespace, ...]
    images: tuple[ImageRecord, ...]
    content: tuple[ContentRecord, ...]
    containers: tuple[Container, ...]
    leases: tuple[Lease, ...]
    snapshots: tuple[SnapshotRecord, ...]


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
            t = go_time(raw, self.where(*at, key.decode()))
        except FormatError as exc:
            self.findings.error("bad-timestamp", exc.path, exc.message)
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
                spec_type, spec = any_json(raw, self.where(*at, "spec"))
            except FormatError as exc:
                self.findings.error("bad-spec", exc.path, exc.message)
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


def read_metadb(db: BoltDB, findings: Findings, path: str = META_DB) -> MetaDB:
    """Read every namespace of an open meta.db; damage becomes findings.

    Raises:
        FormatError: the top bucket ``v1`` itself cannot be read.
    """
    r = _Reader(db, findings, path)
    v1 = db.bucket(b"v1")
    if v1 is None:
        raise FormatError(path, "no v1 bucket: not a containerd metadata database")
    version = None
    if (raw := v1.get(b"version")) is not None:
        try:
            version = varint(raw, r.where("version"))
        except FormatError as exc:
            findings.error("bad-varint", exc.path, exc.message)
    namespaces, images, content, containers, leases, snaps = [], [], [], [], [], []
    for key, nsb in v1.items():
        if not isinstance(nsb, BoltBucket):
            continue
        ns = text(key)
        try:
            namespaces.append(Namespace(ns, r.labels(nsb), nsb.sequence))
            images += r.each(nsb.bucket(b"images"), "image", (ns, "images"), r.image)
            blobs = nsb.bucket(b"content")
            content += r.each(blobs.bucket(b"blob") if blobs else None, "content record",
                              (ns, "content", "blob"), r.blob)
            containers += r.each(nsb.bucket(b"containers"), "container", (ns, "containers"),
                                 r.container)
            leases += r.each(nsb.bucket(b"leases"), "lease", (ns, "leases"), r.lease)
            sb = nsb.bucket(b"snapshots")
            for sn, keys in sb.items() if sb is not None else ():
                if isinstance(keys, BoltBucket):
                    snaps += r.each(keys, "snapshot", (ns, "snapshots", text(sn)), r.snapshot)
        except FormatError as exc:
            findings.error("damaged-metadata", r.where(ns), f"namespace: {exc.message}")
    return MetaDB(version, tuple(namespaces), tuple(images), tuple(content), tuple(containers),
                  tuple(leases), tuple(snaps))
