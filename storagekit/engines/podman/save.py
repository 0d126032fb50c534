"""``save`` for podman: a docker-archive that ``podman load`` (and ``docker load``) accepts.

The archive (containers/image ``docker/internal/tarfile``, the format of ``podman save
--format docker-archive``): ``manifest.json`` (``[{"Config", "RepoTags", "Layers"}]``),
``repositories``, the config byte for byte from the image's big data (``sha256:<id>``), and each
layer's uncompressed tar rebuilt from its tar-split (:func:`.verify.layer_tar`), so the tar's
SHA-256 is the diff ID and the loaded image keeps its ID and layers. Blobs are named
``blobs/sha256/<hex>``, as current engines write them.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Sequence
from typing import IO, Any

from storagekit.engines.podman.images import read_image_config
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.verify import layer_tar
from storagekit.errors import StoragekitError
from storagekit.formats.imagearchive import add_bytes, add_stream
from storagekit.ids import hex_of
from storagekit.model import Image


def save(inv: Inventory, images: Sequence[Image], out: IO[bytes]) -> list[dict[str, Any]]:
    """Write ``images`` as one docker-archive; returns its ``manifest.json``.

    Raises:
        StoragekitError: a config or a layer cannot be reproduced exactly.
    """
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for image in images:
            st = inv.store_images[image.id]
            cfg = read_image_config(inv.source, st, inv.findings)
            if cfg is None or not cfg.digest_matches:
                raise StoragekitError(f"image {image.id}: its config is missing or altered")
            config = inv.source.read_bytes(cfg.path)
            config_name = f"blobs/sha256/{hex_of(image.id)}"
            if config_name not in written:
                add_bytes(tar, config_name, config)
                written.add(config_name)
            layers = []
            for lid in reversed(inv.image_chains.get(image.id, ())):
                layer = inv.layer(image.driver, lid)
                if layer is None or layer.diff_digest is None:
                    raise StoragekitError(f"image {image.id}: layer {lid} has no diff digest")
                name = f"blobs/sha256/{hex_of(layer.diff_digest)}"
                if name not in written:
                    digest, _ = add_stream(tar, name, layer_tar(inv, layer))
                    if digest != layer.diff_digest:
                        raise StoragekitError(f"layer {lid}: rebuilt tar hashes to {digest}")
                    written.add(name)
                layers.append(name)
            if [n.rpartition("/")[2] for n in layers] != [hex_of(d) for d in cfg.diff_ids]:
                raise StoragekitError(f"image {image.id}: its layers do not match its config")
            manifest.append(
                {"Config": config_name, "RepoTags": list(image.tags) or None, "Layers": layers}
            )
            for tag in image.tags:
                repo, _, tagname = tag.rpartition(":")
                repositories.setdefault(repo, {})[tagname] = image.id
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        if repositories:
            add_bytes(tar, "repositories", json.dumps(repositories).encode())
    return manifest
