"""Resolve containerd image records through the content store.

An ``images/<name>`` record names only its top descriptor (``target``). The rest is content:
``io.containerd.content.v1.content/blobs/<algorithm>/<hex>`` holds every manifest, index and
config as JSON, byte for byte as imported or pulled. The walk is the one ``ctr`` and the CRI
plugin make: target → (index → platform manifest; linux/amd64 first, else the only entry,
following nested indexes) → manifest → config; ``rootfs.diff_ids`` from the config; chain IDs
computed (``identity.ChainID``). ``unpacked`` comes from the config record's
``containerd.io/gc.ref.snapshot.<snapshotter>`` labels, which unpacking sets to the top chain ID.

A digest is turned into a path only when it is ``sha256:`` + 64 hex (or ``sha512:`` + 128).
Missing or damaged blobs become findings and ``None``/empty fields.

References: containerd ``images/image.go`` (``Manifest``, ``Config``, ``RootFS``),
``images/mediatypes.go``, ``platforms/``, ``content/local/store.go`` (``blobPath``),
opencontainers/image-spec ``identity/chainid.go``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from storagekit.engines.containerd.metadb import ImageRecord
from storagekit.engines.containerd.model import Descriptor, Image, Labels
from storagekit.errors import SourceError
from storagekit.model import Findings
from storagekit.source import Source

BLOBS = "io.containerd.content.v1.content/blobs"
INDEXES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})
MANIFESTS = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
})
PREFERRED = ("linux", "amd64")
MAX_JSON = 16 << 20
MAX_NESTING = 8
SNAPSHOT_LABEL = "containerd.io/gc.ref.snapshot."
_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")


def blob_path(digest: str) -> str | None:
    """``.../blobs/<algorithm>/<hex>`` for a well-formed digest, else ``None``."""
    m = _DIGEST.fullmatch(digest)
    if m is None:
        return None
    alg, hexa = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return f"{BLOBS}/{alg}/{hexa}"


def chain_ids(diff_ids: tuple[str, ...]) -> tuple[str, ...]:
    """``chainID(0) = diffID(0)``; ``chainID(n) = sha256(chainID(n-1) + " " + diffID(n))``."""
    out: list[str] = []
    for diff in diff_ids:
        if out:
            text = f"{out[-1]} {diff}".encode()
            out.append("sha256:" + hashlib.sha256(text).hexdigest())
        else:
            out.append(diff)
    return tuple(out)


class BlobReader:
    """Reads JSON blobs through the Source once each; problems become findings."""

    def __init__(self, source: Source, findings: Findings) -> None:
        self.source, self.findings = source, findings
        self._cache: dict[str, dict[str, Any] | None] = {}

    def json(self, digest: str, what: str, owner: str) -> dict[str, Any] | None:
        """The JSON object in blob ``digest`` (``what`` of ``owner``, for messages)."""
        if digest in self._cache:
            return self._cache[digest]
        result = None
        path = blob_path(digest)
        if path is None:
            self.findings.error("bad-digest", owner, f"{what} digest {digest!r} is not valid")
        else:
            try:
                data = self.source.read_bytes(path, MAX_JSON + 1)
            except SourceError:
                self.findings.error("missing-blob", path, f"{what} of {owner} is not in the store")
            else:
                result = self._parse(data, path, what)
        self._cache[digest] = result
        return result

    def _parse(self, data: bytes, path: str, what: str) -> dict[str, Any] | None:
        if len(data) > MAX_JSON:
            self.findings.error("bad-blob", path, f"{what} is larger than {MAX_JSON} bytes")
            return None
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:  # also a number of 5,000 digits
            self.findings.error("bad-blob", path, f"{what} is not JSON: {exc}")
            return None
        if not isinstance(obj, dict):
            self.findings.error("bad-blob", path, f"{what} is not a JSON object")
            return None
        return obj


def _descriptor(obj: Any) -> Descriptor | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
        return None
    size = obj.get("size")
    media = obj.get("mediaType")
    return Descriptor(media if isinstance(media, str) else "", obj["digest"],
                      size if isinstance(size, int) and not isinstance(size, bool) else None)


def _platform(obj: Any) -> tuple[str, str, str] | None:
    p = obj.get("platform") if isinstance(obj, dict) else None
    if not isinstance(p, dict):
        return None
    return str(p.get("os", "")), str(p.get("architecture", "")), str(p.get("variant", "") or "")


def _pick(index: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The index entry to follow: linux/amd64 first, else the only one."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    for m in entries:
        p = _platform(m)
        if p is not None and p[:2] == PREFERRED:
            return m, "/".join(x for x in p if x)
    if len(entries) == 1:
        p = _platform(entries[0])
        return entries[0], "/".join(x for x in p if x) if p else None
    return None, None


def resolve(rec: ImageRecord, blobs: BlobReader, labels: Callable[[str], Labels],
            findings: Findings) -> Image:
    """Build an :class:`Image` from its record; ``labels`` gives a digest's content labels."""
    desc, platform, manifest = rec.target, None, None
    owner = f"{rec.namespace}/{rec.name}"
    for _ in range(MAX_NESTING):
        if desc is None or desc.media_type not in INDEXES:
            break
        index = blobs.json(desc.digest, "index", owner)
        if index is None:
            desc = None
            break
        entry, found = _pick(index)
        if entry is None:
            findings.warning("no-platform-manifest", rec.path,
                             f"index {desc.digest} has no linux/amd64 entry and not exactly one")
        desc, platform = _descriptor(entry), found or platform
    config = None
    layers: tuple[str, ...] = ()
    diff_ids: tuple[str, ...] = ()
    if desc is not None and desc.media_type in INDEXES:
        findings.warning("deep-index", rec.path, f"indexes nest deeper than {MAX_NESTING}")
    elif desc is not None:
        if desc.media_type not in MANIFESTS:
            findings.warning("unknown-media-type", rec.path,
                             f"{desc.digest} has media type {desc.media_type!r}")
        manifest = desc
        body = blobs.json(desc.digest, "manifest", owner)
        if body is not None:
            config = _descriptor(body.get("config"))
            layers = tuple(d.digest for d in map(_descriptor, body.get("layers") or []) if d)
    if config is not None:
        cfg = blobs.json(config.digest, "config", owner)
        rootfs = cfg.get("rootfs") if cfg else None
        if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
            diff_ids = tuple(d for d in rootfs["diff_ids"] if isinstance(d, str))
    unpacked: tuple[tuple[str, str], ...] = ()
    if config is not None:
        unpacked = tuple(sorted((k[len(SNAPSHOT_LABEL):], v) for k, v in
                                labels(config.digest) if k.startswith(SNAPSHOT_LABEL)))
    return Image(
        namespace=rec.namespace, name=rec.name, target=rec.target, created=rec.created,
        updated=rec.updated, labels=rec.labels, annotations=rec.annotations, manifest=manifest,
        platform=platform, config=config, layer_digests=layers, diff_ids=diff_ids,
        chain_ids=chain_ids(diff_ids), unpacked=unpacked, path=rec.path,
    )
