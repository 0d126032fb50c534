"""``save``: an image archive that ``docker load`` accepts, with byte-exact layer tars.

The ``docker save`` layout (moby ``image/tarexport/save.go``) as Docker >= 25 writes it:
content-addressed blobs under ``blobs/sha256/`` (the config byte for byte, and each layer's
uncompressed tar rebuilt from tar-split, so its SHA-256 is the diff ID), ``manifest.json`` (a
list of ``{"Config": "blobs/sha256/<hex>", "RepoTags": [...], "Layers": [...]}``),
``repositories`` (``{"repo": {"tag": "<hex>"}}``), and the OCI ``oci-layout`` and
``index.json`` with an OCI image manifest per image. Older engines read ``manifest.json`` and
load the same blobs.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Sequence
from typing import IO, Any

from storagekit.engines.docker.root import DockerRoot
from storagekit.engines.docker.verify import layer_tar
from storagekit.formats.imagearchive import add_bytes, add_stream
from storagekit.ids import chain_ids, hex_of
from storagekit.model import Image


def save(root: DockerRoot, images: Sequence[Image], out: IO[bytes]) -> list[dict[str, Any]]:
    """Write ``images`` as one ``docker save`` archive; returns the manifest written.

    The layout is the one Docker >= 25 writes and every engine loads: content-addressed blobs
    (config and uncompressed layer tars under ``blobs/sha256/``), ``manifest.json`` pointing at
    them, ``repositories``, and the OCI ``oci-layout`` and ``index.json``.
    """
    manifest: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: dict[str, int] = {}  # blob name -> size
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        for image in images:
            store = root.stores[image.driver]
            config = root.source.read_bytes(image.config_path)
            config_name = _blob(tar, written, hex_of(image.id), config)
            layers = []
            for chain, diff in zip(chain_ids(image.diff_ids), image.diff_ids, strict=True):
                name = f"blobs/sha256/{hex_of(diff)}"
                if name not in written:
                    digest, size = add_stream(tar, name, layer_tar(root, store.layers[chain]))
                    if digest != diff:
                        raise ValueError(f"layer {chain}: rebuilt tar hashes to {digest}")
                    written[name] = size
                layers.append(name)
            manifest.append(
                {"Config": config_name, "RepoTags": list(image.tags) or None, "Layers": layers}
            )
            index.extend(_index_entries(tar, written, image, config, layers))
            for tag in image.tags:
                repo, _, tagname = tag.rpartition(":")
                repositories.setdefault(repo, {})[tagname] = hex_of(image.id)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        if repositories:
            add_bytes(tar, "repositories", json.dumps(repositories).encode())
        index_doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}
        add_bytes(tar, "index.json", json.dumps(index_doc).encode())
    return manifest


OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def _blob(tar: tarfile.TarFile, written: dict[str, int], hexid: str, data: bytes) -> str:
    name = f"blobs/sha256/{hexid}"
    if name not in written:
        add_bytes(tar, name, data)
        written[name] = len(data)
    return name


def _index_entries(
    tar: tarfile.TarFile,
    written: dict[str, int],
    image: Image,
    config: bytes,
    layers: list[str],
) -> list[dict[str, Any]]:
    """An OCI image manifest blob for the image, and its index entries (one per tag)."""

    def descriptor(media: str, name: str, size: int) -> dict[str, Any]:
        return {"mediaType": media, "digest": "sha256:" + name.rpartition("/")[2], "size": size}

    oci = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": image.id, "size": len(config)},
        "layers": [descriptor(OCI_LAYER, name, written[name]) for name in layers],
    }
    data = json.dumps(oci).encode()
    digest = hashlib.sha256(data).hexdigest()
    _blob(tar, written, digest, data)
    base = {"mediaType": OCI_MANIFEST, "digest": f"sha256:{digest}", "size": len(data)}
    if not image.tags:
        return [base]
    return [
        {**base, "annotations": {"io.containerd.image.name": _full_name(tag),
                                 "org.opencontainers.image.ref.name": tag.rpartition(":")[2]}}
        for tag in image.tags
    ]  # fmt: skip


def _full_name(tag: str) -> str:
    """Docker's familiar reference as a full one (``busybox:1`` -> ``docker.io/library/...``)."""
    repo = tag.rpartition(":")[0]
    first = repo.split("/", 1)[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        return tag
    return f"docker.io/{tag}" if "/" in repo else f"docker.io/library/{tag}"
