"""``save``: an image archive that ``docker load`` accepts, with byte-exact layer tars.

The ``docker save`` layout (moby ``image/tarexport/save.go``): ``manifest.json`` (a list of
``{"Config": "<hex>.json", "RepoTags": [...], "Layers": ["<id>/layer.tar", ...]}``),
``repositories`` (``{"repo": {"tag": "<hex>"}}``), the config blob byte for byte, and one
directory per layer holding ``layer.tar`` (rebuilt from tar-split, so its SHA-256 is the diff
ID), ``json`` and ``VERSION`` (v1 compatibility). Layer directories are named by the diff ID's
hex, which ``docker load`` accepts as any name the manifest lists. (The OCI ``index.json`` and
``oci-layout`` that engines >= 25 add are not written yet; every engine loads without them.)
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from typing import IO, Any

from storagekit.analysis.verify import layer_tar
from storagekit.dockerroot import DockerRoot
from storagekit.ids import chain_ids, hex_of
from storagekit.model import Image

SPOOL = 64 << 20


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_stream(tar: tarfile.TarFile, name: str, chunks: Iterable[bytes]) -> str:
    """Add a member whose size is known only at the end (spooled); returns its SHA-256."""
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
        for chunk in chunks:
            digest.update(chunk)
            spool.write(chunk)
        info = tarfile.TarInfo(name)
        info.size = spool.tell()
        info.mode = 0o644
        spool.seek(0)
        tar.addfile(info, spool)
    return "sha256:" + digest.hexdigest()


def save(root: DockerRoot, images: Sequence[Image], out: IO[bytes]) -> list[dict[str, Any]]:
    """Write ``images`` as one ``docker save`` archive; returns the manifest written."""
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for image in images:
            store = root.stores[image.driver]
            config = root.source.read_bytes(image.config_path)
            config_name = f"{hex_of(image.id)}.json"
            if config_name not in written:
                _add_bytes(tar, config_name, config)
                written.add(config_name)
            layer_names = []
            parent = ""
            for chain, diff in zip(chain_ids(image.diff_ids), image.diff_ids, strict=True):
                layer = store.layers[chain]
                name = hex_of(diff)
                layer_names.append(f"{name}/layer.tar")
                if name in written:
                    parent = name
                    continue
                digest = _add_stream(tar, f"{name}/layer.tar", layer_tar(root, layer))
                if digest != diff:
                    raise ValueError(f"layer {chain}: rebuilt tar hashes to {digest}")
                _add_bytes(tar, f"{name}/VERSION", b"1.0")
                v1 = {"id": name, **({"parent": parent} if parent else {})}
                _add_bytes(tar, f"{name}/json", json.dumps(v1).encode())
                written.add(name)
                parent = name
            manifest.append(
                {"Config": config_name, "RepoTags": list(image.tags) or None, "Layers": layer_names}
            )
            for tag in image.tags:
                repo, _, tagname = tag.rpartition(":")
                repositories.setdefault(repo, {})[tagname] = hex_of(image.id)
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        if repositories:
            _add_bytes(tar, "repositories", json.dumps(repositories).encode())
    return manifest
