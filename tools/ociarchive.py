"""Write small image archives that ``ctr images import`` takes: docker-archive and OCI layout.

Stdlib only and reproducible (fixed mtimes, gzip without a time stamp), so the digests of the
sample root's layers and configs are the same on every run. Used by
``tools/make_containerd_root.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

MTIME = 1700000000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(entries: list[tuple[str, str, int, bytes | str]]) -> bytes:
    """A layer tar from ``(name, kind, mode, data|link)``; kind is file, dir, symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, mode, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.mtime, ti.uid, ti.gid = mode, MTIME, 0, 0
            ti.uname = ti.gname = "root"
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, str(data)
                tf.addfile(ti)
            else:
                raw = data if isinstance(data, bytes) else data.encode()
                ti.size = len(raw)
                tf.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


@dataclass
class Image:
    """One image: its layers (uncompressed tar, gzip it or not) and config fields."""

    name: str
    layers: list[tuple[bytes, bool]]
    cmd: list[str]
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/bin:/bin"])
    labels: dict[str, str] = field(default_factory=dict)
    arch: str = "amd64"

    def config(self) -> bytes:
        cfg: dict[str, Any] = {
            "architecture": self.arch,
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {"Env": self.env, "Cmd": self.cmd, "WorkingDir": "/", "Labels": self.labels},
            "rootfs": {"type": "layers", "diff_ids": [sha(t) for t, _ in self.layers]},
            "history": [
                {"created": "2023-11-14T22:13:20Z", "created_by": f"storagekit sample layer {i}"}
                for i in range(len(self.layers))
            ],
        }
        return json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()

    def blobs(self) -> list[tuple[str, bytes]]:
        """The layer blobs as stored: (media type, bytes)."""
        return [(OCI_LAYER_GZ, gz(t)) if z else (OCI_LAYER, t) for t, z in self.layers]

    def manifest(self) -> bytes:
        cfg = self.config()
        man = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(cfg), "size": len(cfg)},
            "layers": [
                {"mediaType": mt, "digest": sha(b), "size": len(b)} for mt, b in self.blobs()
            ],
        }
        return json.dumps(man, sort_keys=True, separators=(",", ":")).encode()

    def describe(self) -> dict[str, Any]:
        """What the archive says about this image (the maker's ground truth)."""
        cfg, man = self.config(), self.manifest()
        return {
            "name": self.name,
            "manifest": sha(man),
            "manifest_size": len(man),
            "config": sha(cfg),
            "config_size": len(cfg),
            "diff_ids": [sha(t) for t, _ in self.layers],
            "layer_digests": [sha(b) for _, b in self.blobs()],
            "layer_sizes": [len(b) for _, b in self.blobs()],
        }


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(members[name]), MTIME, 0o644
            tf.addfile(ti, io.BytesIO(members[name]))
    return buf.getvalue()


def docker_archive(img: Image) -> bytes:
    """``docker save`` form: manifest.json, <config>.json, <n>/layer.tar (uncompressed)."""
    cfg = img.config()
    members: dict[str, bytes] = {}
    layers = []
    for i, (t, _) in enumerate(img.layers):
        members[f"{i}/layer.tar"] = t
        layers.append(f"{i}/layer.tar")
    members[sha(cfg)[7:] + ".json"] = cfg
    manifest = [{"Config": sha(cfg)[7:] + ".json", "RepoTags": [img.name], "Layers": layers}]
    members["manifest.json"] = json.dumps(manifest).encode()
    return _tar(members)


def oci_archive(images: list[Image], nested_index: str | None = None) -> bytes:
    """OCI layout: one manifest per image named by annotations, or (``nested_index`` = name)
    one nested index holding every image's manifest with its platform."""
    blobs: dict[str, bytes] = {}
    descs = []
    for img in images:
        cfg, man = img.config(), img.manifest()
        blobs[sha(cfg)] = cfg
        blobs[sha(man)] = man
        for _, b in img.blobs():
            blobs[sha(b)] = b
        descs.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha(man),
                "size": len(man),
                "platform": {"architecture": img.arch, "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": img.name,
                    "org.opencontainers.image.ref.name": img.name.rsplit(":", 1)[1],
                },
            }
        )
    if nested_index is not None:
        inner = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{k: v for k, v in d.items() if k != "annotations"} for d in descs],
        }
        raw = json.dumps(inner, sort_keys=True, separators=(",", ":")).encode()
        blobs[sha(raw)] = raw
        descs = [
            {
                "mediaType": OCI_INDEX,
                "digest": sha(raw),
                "size": len(raw),
                "annotations": {
                    "io.containerd.image.name": nested_index,
                    "org.opencontainers.image.ref.name": nested_index.rsplit(":", 1)[1],
                },
            }
        ]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}
    members = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    for digest, data in sorted(blobs.items()):
        members["blobs/sha256/" + digest[7:]] = data
    members["index.json"] = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    return _tar(members)
