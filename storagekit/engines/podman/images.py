"""containers-storage images: ``<driver>-images/images.json``, big data and the image config.

``images.json`` is a JSON array of ``storage.Image`` records (containers/storage
``images.go``, struct ``Image``)::

    {"id", "digest", "digests", "names", "names-history", "layer", "mapped-layers",
     "metadata", "big-data-names", "big-data-sizes", "big-data-digests", "created", "flags"}

``layer`` is the top layer's ID; the rest of the stack follows ``parent`` in ``layers.json``.
The image ID is the hex of the config digest. Intermediate ``podman build --layers`` images have
no ``names``, only ``names-history`` (``docker.io/library/<hex>-tmp:latest``).

Big data items live in ``<driver>-images/<id>/``; a key made only of ``[.0-9a-z]`` is its own
file name (``manifest``), any other key is ``"=" + base64.StdEncoding(key)``
(``images.go``, ``makeBigDataBaseName``). Keys seen: ``sha256:<id>`` (the config JSON),
``manifest-sha256:<digest>`` and ``manifest`` (the manifest), ``signature-<digest>``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, NamedTuple

from storagekit import timefmt
from storagekit.engines.podman.common import (
    as_dict,
    as_list,
    json_records,
    load_json,
    opt_int,
    opt_str,
    safe_id,
    str_pairs,
    str_tuple,
)
from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Findings
from storagekit.source import Source

_PLAIN_KEY = re.compile(r"[.0-9a-z]*")
#: Largest config read (real configs are a few KiB).
MAX_CONFIG = 16 << 20


def big_data_file_name(key: str) -> str:
    """The file name containers-storage gives the big data item ``key``."""
    if _PLAIN_KEY.fullmatch(key):
        return key
    return "=" + base64.b64encode(key.encode("utf-8", "surrogateescape")).decode("ascii")


class BigData(NamedTuple):
    """One big data item of an image.

    Attributes:
        key: the item's name (``big-data-names``).
        size: ``big-data-sizes[key]``.
        digest: ``big-data-digests[key]``.
        path: its file inside the root, ``None`` when the key cannot be a file name.
        present: that file exists.
    """

    key: str
    size: int | None
    digest: str | None
    path: str | None
    present: bool


class Image(NamedTuple):
    """One ``images.json`` record.

    Attributes:
        id: the image ID (64 hex).
        driver: the graph driver whose store holds it.
        digest: ``digest`` (the manifest digest).
        digests: ``digests``.
        names: ``names`` (``localhost/sk-app:1``); empty for intermediate images.
        names_history: ``names-history``.
        top_layer: ``layer``, ``None`` for an image without layers (or an unsafe value).
        mapped_top_layers: ``mapped-layers`` (``MappedTopLayers``: copies of the top layer chowned
            for a container with other ID mappings, on a driver that cannot shift them).
        created: ``created`` as RFC 3339 UTC.
        metadata: ``metadata`` as written (a JSON string).
        big_data: the big data items, in ``big-data-names`` order.
        flags: ``flags`` as sorted (key, value) pairs.
        meta_path: ``images.json`` inside the root.
    """

    id: str
    driver: str
    digest: str | None
    digests: tuple[str, ...]
    names: tuple[str, ...]
    names_history: tuple[str, ...]
    top_layer: str | None
    mapped_top_layers: tuple[str, ...]
    created: str | None
    metadata: str | None
    big_data: tuple[BigData, ...]
    flags: tuple[tuple[str, str], ...]
    meta_path: str

    @property
    def intermediate(self) -> bool:
        """No names: an intermediate build image (or one whose names were taken away)."""
        return not self.names

    def big_data_item(self, key: str) -> BigData | None:
        """The big data item called ``key``, if recorded."""
        return next((b for b in self.big_data if b.key == key), None)


class HistoryEntry(NamedTuple):
    """One ``history`` entry of an image config (OCI image-spec ``config.md``)."""

    created: str | None
    created_by: str | None
    author: str | None
    comment: str | None
    empty_layer: bool


class ImageConfig(NamedTuple):
    """The image config (big data ``sha256:<id>``), the parts an analyst asks about.

    Attributes:
        digest_matches: SHA-256 of the config bytes equals the image ID.
        created: ``created``.
        architecture: ``architecture``.
        os: ``os``.
        diff_ids: ``rootfs.diff_ids``, base first.
        history: ``history``, oldest first.
        cmd: ``config.Cmd``.
        entrypoint: ``config.Entrypoint``.
        env: ``config.Env``.
        labels: ``config.Labels`` as sorted pairs.
        working_dir: ``config.WorkingDir``.
        user: ``config.User``.
        path: the big data file inside the root.
    """

    digest_matches: bool
    created: str | None
    architecture: str | None
    os: str | None
    diff_ids: tuple[str, ...]
    history: tuple[HistoryEntry, ...]
    cmd: tuple[str, ...]
    entrypoint: tuple[str, ...]
    env: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    working_dir: str | None
    user: str | None
    path: str


def _big_data(image_dir: str, rec: dict[str, Any], present: set[str]) -> tuple[BigData, ...]:
    sizes, digests = as_dict(rec.get("big-data-sizes")), as_dict(rec.get("big-data-digests"))
    out = []
    for key in str_tuple(rec.get("big-data-names")):
        name = big_data_file_name(key)
        ok = is_safe_component(name)
        out.append(
            BigData(
                key=key,
                size=opt_int(sizes.get(key)),
                digest=opt_str(digests.get(key)),
                path=f"{image_dir}/{name}" if ok else None,
                present=ok and name in present,
            )
        )
    return tuple(out)


def read_images(source: Source, driver: str, findings: Findings) -> list[Image]:
    """Every record of ``<driver>-images/images.json``, in file order.

    A big data key that would not be a plain file name (``..``) is a finding; so is a recorded
    item whose file is missing.
    """
    path = f"{driver}-images/images.json"
    out: list[Image] = []
    seen: set[str] = set()
    for i, rec in enumerate(json_records(load_json(source, path, findings), findings, path)):
        image_id = safe_id(rec.get("id"), findings, path, f"image record {i} id")
        if image_id is None or image_id in seen:
            if image_id is not None:
                findings.error("duplicate-id", path, f"image {image_id} is recorded twice")
            continue
        seen.add(image_id)
        image_dir = f"{driver}-images/{image_id}"
        try:
            present = set(source.listdir(image_dir))
        except SourceError:
            present = set()
        top = (
            safe_id(rec["layer"], findings, path, f"image {image_id} layer")
            if rec.get("layer")
            else None
        )
        big = _big_data(image_dir, rec, present)
        for item in big:
            if item.path is None:
                findings.error(
                    "unsafe-id", path, f"image {image_id} big data key {item.key!r} is no name"
                )
            elif not item.present:
                findings.warning("missing-big-data", item.path, f"big data {item.key!r} missing")
        out.append(
            Image(
                id=image_id,
                driver=driver,
                digest=opt_str(rec.get("digest")),
                digests=str_tuple(rec.get("digests")),
                names=str_tuple(rec.get("names")),
                names_history=str_tuple(rec.get("names-history")),
                top_layer=top,
                mapped_top_layers=str_tuple(rec.get("mapped-layers")),
                created=timefmt.normalize(rec.get("created")),
                metadata=opt_str(rec.get("metadata")),
                big_data=big,
                flags=str_pairs(rec.get("flags")),
                meta_path=path,
            )
        )
    return out


def _history(value: object) -> tuple[HistoryEntry, ...]:
    """The config's ``history``: each object as an entry, anything else skipped.

    Made by the thousand (a hundred images of some thirty steps): positional tuples, and the
    helpers' type tests written out (a config is ``json``'s: only exact ``str`` and ``bool``,
    so ``type(v) is str and v`` is ``opt_str``'s test).
    """
    new, normalize = tuple.__new__, timefmt.normalize
    out = []
    for h in as_list(value):
        if isinstance(h, dict):
            get = h.get
            by, author, comment = get("created_by"), get("author"), get("comment")
            entry = (
                normalize(get("created")),
                by if type(by) is str and by else None,
                author if type(author) is str and author else None,
                comment if type(comment) is str and comment else None,
                get("empty_layer") is True,
            )
            out.append(new(HistoryEntry, entry))
    return tuple(out)


def _strs(value: object) -> tuple[str, ...]:
    return str_tuple(value)


def read_image_config(source: Source, image: Image, findings: Findings) -> ImageConfig | None:
    """Parse the image's config (big data ``sha256:<id>``); ``None`` + finding when unusable."""
    item = image.big_data_item(f"sha256:{image.id}")
    if item is None or item.path is None or not item.present:
        findings.error("missing-image-config", image.meta_path, f"image {image.id}: no config")
        return None
    try:
        raw = source.read_bytes(item.path, MAX_CONFIG)
        doc = json.loads(raw)
    except (SourceError, ValueError, RecursionError) as exc:  # also 5,000-digit numbers
        findings.error("bad-image-config", item.path, f"expected an image config: {exc}")
        return None
    if not isinstance(doc, dict):
        findings.error("bad-image-config", item.path, "expected a JSON object")
        return None
    import hashlib  # here: 3-4 ms of start-up that containers, which reads no config, spares

    matches = hashlib.sha256(raw).hexdigest() == image.id
    if not matches:
        findings.error("config-digest-mismatch", item.path, f"SHA-256 is not {image.id}")
    cfg, rootfs = as_dict(doc.get("config")), as_dict(doc.get("rootfs"))
    return ImageConfig(
        digest_matches=matches,
        created=timefmt.normalize(doc.get("created")),
        architecture=opt_str(doc.get("architecture")),
        os=opt_str(doc.get("os")),
        diff_ids=_strs(rootfs.get("diff_ids")),
        history=_history(doc.get("history")),
        cmd=_strs(cfg.get("Cmd")),
        entrypoint=_strs(cfg.get("Entrypoint")),
        env=_strs(cfg.get("Env")),
        labels=str_pairs(cfg.get("Labels")),
        working_dir=opt_str(cfg.get("WorkingDir")),
        user=opt_str(cfg.get("User")),
        path=item.path,
    )
