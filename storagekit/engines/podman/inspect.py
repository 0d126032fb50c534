"""``inspect`` of a podman image: ``podman image inspect``'s record, from the graph root alone.

podman 4.3.1 prints libimage's ``ImageData`` (containers/common ``libimage/inspect.go``,
``Image.Inspect``), every field of which the graph root holds:

* ``images.json``: ``Id``, ``Digest``, ``RepoTags`` (``names``, in their order),
  ``RepoDigests`` (each name's repository with each digest, de-duplicated and sorted:
  ``Image.RepoDigests``), ``NamesHistory``;
* the image config (big data ``sha256:<id>``), decoded as libimage decodes it, into the OCI
  ``v1.Image`` struct (containers/image ``OCIConfig``, for Docker schema 2 configs too: the
  Docker-only fields are dropped): ``Created``, ``Author``, ``Architecture``, ``Os``,
  ``Config`` (OCI ``ImageConfig``, every field ``omitempty``), ``User``, ``History``,
  ``RootFS``; ``Labels`` are the config's labels (``null`` when it has none);
* the manifest (big data ``manifest``): ``ManifestType`` (its media type, as
  ``manifest.GuessMIMEType`` reads it) and, for an OCI manifest, ``Annotations`` (``{}``
  otherwise) and ``Comment`` (the first history entry's); a Docker schema 2 image's
  ``Comment`` and ``Version`` are the config's ``comment`` and ``docker_version`` and its
  ``Healthcheck`` the config's (``container_config`` first);
* ``layers.json``: ``Size`` = ``VirtualSize`` (storage ``ImageSize``: the layers below the top
  layer and each mapped copy of it, each once, plus the big data) and ``GraphDriver``: the
  driver's ``Metadata`` of the top layer (libpod ``driver.GetDriverData``) — overlay's
  ``UpperDir``/``WorkDir`` and ``LowerDir`` (the layers below, nearest first), under the host
  path of the graph root; ``MergedDir`` only while mounted, which an image is not (mount
  counts live in the run root, not here); vfs answers ``null``, as do other drivers;
* ``Parent``: libimage's parent image (:attr:`.inventory.Inventory.parents`), ``""`` if none.

Times are re-encoded as Go encodes a parsed ``time.Time`` (``RFC3339Nano``: its own offset,
trailing zeros of the fraction cut), so the record compares equal with podman's. A config or
manifest that cannot be read is already a finding of the inventory; the fields it would give
are then their zero values.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from storagekit.engines.podman.common import as_dict, as_list, opt_str
from storagekit.engines.podman.images import MAX_CONFIG
from storagekit.engines.podman.images import Image as StoreImage
from storagekit.engines.podman.inventory import repo_digests
from storagekit.errors import SourceError
from storagekit.jsontext import Record

if TYPE_CHECKING:
    from storagekit.engines.podman.inventory import Inventory

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"

#: OCI ``ImageConfig`` fields in struct order (image-spec v1.1.0-rc2), all ``omitempty``.
OCI_CONFIG_FIELDS = (
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
)

_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.I)


def go_time(value: object) -> str | None:
    """An RFC 3339 time as Go re-encodes it (``RFC3339Nano``); ``None`` if it is none."""
    m = _TIME.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        return None
    clock, frac, zone = m.groups()
    frac = (frac or "")[:9].rstrip("0")
    zone = "Z" if zone in ("Z", "z", "+00:00") else zone
    return f"{clock.replace('t', 'T')}{'.' + frac if frac else ''}{zone}"


def _empty(value: object) -> bool:
    return value in (None, "", False, 0, [], {})


def _list(value: object) -> list[Any] | None:
    return value if isinstance(value, list) else None


def oci_config(raw: object) -> dict[str, Any]:
    """The config's ``config`` as OCI ``ImageConfig`` encodes it (empty fields left out)."""
    given = as_dict(raw)
    return {k: given[k] for k in OCI_CONFIG_FIELDS if not _empty(given.get(k))}


def oci_history(raw: object) -> list[dict[str, Any]] | None:
    """The config's ``history`` as OCI ``History`` entries (``null`` when there is none)."""
    out = []
    for h in as_list(raw):
        entry = as_dict(h)
        item: dict[str, Any] = {}
        if (created := go_time(entry.get("created"))) is not None:
            item["created"] = created
        for key in ("created_by", "author", "comment"):
            if text := opt_str(entry.get(key)):
                item[key] = text
        if entry.get("empty_layer") is True:
            item["empty_layer"] = True
        out.append(item)
    return out or None


def manifest_type(doc: dict[str, Any]) -> str:
    """``manifest.GuessMIMEType``: the ``mediaType`` given, else what the document's shape says."""
    if media := opt_str(doc.get("mediaType")):
        return media
    if doc.get("schemaVersion") == 1:
        if "signatures" in doc:
            return "application/vnd.docker.distribution.manifest.v1+prettyjws"
        return "application/vnd.docker.distribution.manifest.v1+json"
    if "manifests" in doc:
        return "application/vnd.oci.image.index.v1+json"
    return OCI_MANIFEST if "config" in doc else ""


def _big_data_doc(inv: Inventory, image: StoreImage, key: str) -> dict[str, Any]:
    """A big data item of ``image`` as a JSON object; ``{}`` when absent or unreadable."""
    item = image.big_data_item(key)
    if item is None or item.path is None or not item.present:
        return {}
    try:
        return as_dict(json.loads(inv.source.read_bytes(item.path, MAX_CONFIG)))
    except (SourceError, ValueError, RecursionError):
        return {}


def graph_driver(
    driver: str, chain: tuple[str, ...], graph_root: str, *, mounted: bool = False
) -> Record:
    """``GraphDriver`` of a stack (top first): the driver's ``Metadata`` of its top layer.

    overlay's ``LowerDir`` (the layers below, nearest first), ``MergedDir`` while mounted,
    ``UpperDir`` and ``WorkDir``, under the host path of the graph root; ``null`` for other
    drivers and an empty stack.
    """
    if driver != "overlay" or not chain:
        return {"Name": driver, "Data": None}
    home = f"{graph_root.rstrip('/')}/overlay"
    data: dict[str, str] = {}
    if len(chain) > 1:
        data["LowerDir"] = ":".join(f"{home}/{lid}/diff" for lid in chain[1:])
    if mounted:
        data["MergedDir"] = f"{home}/{chain[0]}/merged"
    data["UpperDir"] = f"{home}/{chain[0]}/diff"
    data["WorkDir"] = f"{home}/{chain[0]}/work"
    return {"Name": driver, "Data": data}


def image_inspect(inv: Inventory, image_id: str, graph_root: str) -> Record:
    """``podman image inspect`` of one image of the inventory."""
    image = inv.store_images[image_id]
    inv.configs.get(image_id)  # an unusable config is the inventory's finding
    doc = _big_data_doc(inv, image, f"sha256:{image_id}")
    manifest = _big_data_doc(inv, image, "manifest")
    media = manifest_type(manifest) if manifest else ""
    config = as_dict(doc.get("config"))
    rootfs = as_dict(doc.get("rootfs"))
    history = oci_history(doc.get("history"))
    comment, version = "", ""
    annotations: dict[str, Any] = {}
    health: object = None
    if media == OCI_MANIFEST:
        annotations = as_dict(manifest.get("annotations"))
        comment = (history[0].get("comment", "") if history else "") or ""
    elif media == DOCKER_V2S2:
        comment = opt_str(doc.get("comment")) or ""
        version = opt_str(doc.get("docker_version")) or ""
        health = as_dict(doc.get("container_config")).get("Healthcheck") or config.get(
            "Healthcheck"
        )
    labels = as_dict(config.get("Labels")) or None
    size = inv.image_size(image_id)
    record: Record = {
        "Id": image_id,
        "Digest": image.digest or "",
        "RepoTags": list(image.names),
        "RepoDigests": sorted(repo_digests(image)),
        "Parent": inv.parents.get(image_id) or "",
        "Comment": comment,
        "Created": go_time(doc.get("created")),
        "Config": oci_config(config),
        "Version": version,
        "Author": opt_str(doc.get("author")) or "",
        "Architecture": opt_str(doc.get("architecture")) or "",
        "Os": opt_str(doc.get("os")) or "",
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": graph_driver(image.driver, inv.image_chains.get(image_id, ()), graph_root),
        "RootFS": {
            "Type": opt_str(rootfs.get("type")) or "",
            "Layers": _list(rootfs.get("diff_ids")),
        },
        "Labels": labels,
        "Annotations": annotations,
        "ManifestType": media,
        "User": opt_str(config.get("User")) or "",
        "History": history,
        "NamesHistory": list(image.names_history) or None,
    }
    if isinstance(health, dict) and health:
        record["Healthcheck"] = health
    return record
