"""``save`` on a containerd root: an OCI image layout archive, blobs copied byte for byte.

The archive is what ``ctr images export`` writes and ``ctr images import``, ``docker load`` and
``podman load`` take back: ``oci-layout``, ``index.json`` (one entry per image, named with
``io.containerd.image.name`` and ``org.opencontainers.image.ref.name``), ``blobs/<alg>/<hex>``
for the image's target and everything it reaches that the content store holds, and a Docker
``manifest.json``. An index whose other platforms' blobs the store never held is kept as it is
(``ctr images import`` walks only its own platform, so the image keeps its digest); the
platform manifest used must be complete.

References: opencontainers/image-spec ``image-layout.md``; containerd ``images/archive/
exporter.go`` (the annotations), moby ``image/tarexport`` (``manifest.json``).
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any, BinaryIO

from storagekit.engines.containerd.images import INDEXES, MANIFESTS, blob_path
from storagekit.engines.containerd.model import Descriptor, Image
from storagekit.engines.containerd.state import State
from storagekit.errors import SourceError, StoragekitError
from storagekit.jsontext import Record
from storagekit.refs import familiar

MAX_JSON = 16 << 20


def _json(state: State, digest: str) -> dict[str, Any] | None:
    path = blob_path(digest)
    try:
        data = state.source.read_bytes(path, MAX_JSON) if path else None
        obj = json.loads(data) if data else None
    except (SourceError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _reach(state: State, desc: Descriptor, out: dict[str, Descriptor]) -> bool:
    """Add ``desc`` and everything below it; False when a blob below is not in the store."""
    path = blob_path(desc.digest)
    if path is None or not state.source.is_file(path):
        return False
    out[desc.digest] = desc
    if desc.media_type not in INDEXES | MANIFESTS:
        return True
    body = _json(state, desc.digest) or {}
    children = list(body.get("manifests") or []) + list(body.get("layers") or [])
    if isinstance(body.get("config"), dict):
        children.append(body["config"])
    complete = True
    for child in children:
        if isinstance(child, dict) and isinstance(child.get("digest"), str):
            sub = Descriptor(str(child.get("mediaType", "")), child["digest"], child.get("size"))
            complete = _reach(state, sub, out) and complete
    return complete


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def save(state: State, images: list[Image], out: BinaryIO) -> list[Record]:
    """Write ``images`` as one OCI layout archive to ``out``; returns ``manifest.json``'s entries.

    Raises:
        StoragekitError: an image's blobs are not in the store.
    """
    blobs: dict[str, Descriptor] = {}
    entries: list[dict[str, Any]] = []
    docker: list[Record] = []
    for image in images:
        top = image.target
        if top is None or image.manifest is None or image.config is None:
            raise StoragekitError(f"{image.name}: its manifest or config is not in the store")
        found: dict[str, Descriptor] = {}
        if not _reach(state, top, found):
            # An index whose other platforms were never pulled: keep the index (the same
            # digest on import; ctr walks only its own platform), provided the platform
            # manifest used is complete.
            if not _reach(state, image.manifest, {}):
                raise StoragekitError(f"{image.name}: blobs of its manifest are missing")
        blobs.update(found)
        annotations = {"io.containerd.image.name": image.name,
                       "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[-1]}
        entries.append({"mediaType": top.media_type, "digest": top.digest, "size": top.size,
                        "annotations": annotations})
        docker.append({
            "Config": f"blobs/sha256/{image.config.digest.split(':', 1)[1]}",
            "RepoTags": [familiar(image.name)] if not image.name.startswith("moby-dangling@")
            else [],
            "Layers": [f"blobs/sha256/{d.split(':', 1)[1]}" for d in image.layer_digests],
        })
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest in sorted(blobs):
            alg, hexa = digest.split(":", 1)
            path = blob_path(digest)
            assert path is not None
            entry = state.source.stat(path)
            info = tarfile.TarInfo(f"blobs/{alg}/{hexa}")
            info.size, info.mode, info.mtime = entry.size, 0o444, 0
            with state.source.open(path) as f:
                tar.addfile(info, f)
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": entries}
        _add(tar, "index.json", json.dumps(index, separators=(",", ":")).encode())
        _add(tar, "manifest.json", json.dumps(docker, separators=(",", ":")).encode())
    return docker
