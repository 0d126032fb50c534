"""containers-storage containers: ``<driver>-containers/containers.json``.

A JSON array of ``storage.Container`` records (containers/storage ``containers.go``, struct
``Container``)::

    {"id", "names", "image", "layer", "metadata", "big-data-names", "big-data-sizes",
     "big-data-digests", "created", "uidmap", "gidmap", "flags", "volatile"}

``layer`` is the container's writable layer in ``layers.json``; ``metadata`` is a JSON string
that podman fills with ``{"image-name", "image-id", "name", "created-at"}`` (podman
``libpod/storage.go``, ``RuntimeContainerMetadata``). Containers made by buildah (``buildah
from``) are here too but not in libpod's state. ``<id>/userdata/`` holds ``config.json``
(the OCI spec), ``ctr.log`` (``k8s-file`` log), ``artifacts/``, ``secrets/``, ``shm/``.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from storagekit import timefmt
from storagekit.engines.podman.common import (
    IDMapping,
    hex_id,
    json_records,
    load_json,
    opt_str,
    parse_idmap,
    safe_id,
    str_pairs,
    str_tuple,
)
from storagekit.model import Findings
from storagekit.source import Source


class StorageContainer(NamedTuple):
    """One ``containers.json`` record.

    A named tuple, not a frozen dataclass: made by the thousand, several times faster.

    Attributes:
        id: the container ID.
        driver: the graph driver whose store holds it.
        names: ``names``.
        image: ``image`` (image ID), ``None`` when empty (``--rootfs`` containers).
        layer: ``layer``: the writable layer's ID (``None`` if unsafe or missing).
        created: ``created`` as RFC 3339 UTC.
        metadata: ``metadata`` as written.
        image_name: ``metadata`` ``image-name`` (podman's).
        metadata_name: ``metadata`` ``name``.
        uidmap: ``uidmap`` (empty = identity).
        gidmap: ``gidmap``.
        flags: ``flags`` as sorted pairs (``MountLabel``, ``ProcessLabel``).
        userdata_path: ``<driver>-containers/<id>/userdata`` inside the root.
        meta_path: ``containers.json`` inside the root.
    """

    id: str
    driver: str
    names: tuple[str, ...]
    image: str | None
    layer: str | None
    created: str | None
    metadata: str | None
    image_name: str | None
    metadata_name: str | None
    uidmap: tuple[IDMapping, ...]
    gidmap: tuple[IDMapping, ...]
    flags: tuple[tuple[str, str], ...]
    userdata_path: str
    meta_path: str


def read_containers(source: Source, driver: str, findings: Findings) -> list[StorageContainer]:
    """Every record of ``<driver>-containers/containers.json``, in file order."""
    path = f"{driver}-containers/containers.json"
    records = json_records(load_json(source, path, findings), findings, path)
    return containers_of(records, driver, path, findings)


def containers_of(
    records: list[dict[str, Any]], driver: str, path: str, findings: Findings
) -> list[StorageContainer]:
    """The containers of ``containers.json``'s records.

    A record whose ``id``, ``layer`` and ``image`` (if any) are plain IDs (64 hex digits,
    :func:`.common.hex_id`), whose ``id`` is new and whose ``metadata``, if a non-empty string,
    is one JSON document and nothing else, is made here, each field as :func:`_container`
    makes it, without its calls: an absent field is what the helper answers for ``None``, a
    present one goes through the same helper, ``opt_str`` is its type test (``json`` makes
    only exact types). ``raw_decode`` is the scan ``json.loads`` makes: a document that starts
    at the first character and ends at the last is ``json.loads``' answer (it would skip
    leading whitespace, where ``raw_decode`` fails, and fail on trailing text, where
    ``raw_decode`` stops short). Such a record can make no finding. Any other record is made
    by :func:`_container`, in its turn, so findings keep their order.
    """
    out: list[StorageContainer] = []
    seen: set[str] = set()
    new = tuple.__new__
    decode = _DECODER.raw_decode
    for i, rec in enumerate(records):
        get = rec.get
        cid, layer, image, metadata = get("id"), get("layer"), get("image"), get("metadata")
        if hex_id(cid) and cid not in seen and hex_id(layer) and (image is None or hex_id(image)):
            doc: object = None
            if type(metadata) is not str or not metadata:
                metadata = None
            else:
                try:
                    doc, end = decode(metadata)
                except (ValueError, RecursionError):
                    end = -1
            if metadata is None or end == len(metadata):
                seen.add(cid)
                fields = _fields(rec, cid, driver, image, layer, metadata, doc, path)
                out.append(new(StorageContainer, fields))
                continue
        ctr = _container(i, rec, driver, path, seen, findings)
        if ctr is not None:
            out.append(ctr)
    return out


_DECODER = json.JSONDecoder()


def _fields(
    rec: dict[str, Any],
    cid: str,
    driver: str,
    image: str | None,
    layer: str,
    metadata: str | None,
    doc: object,
    path: str,
) -> tuple[object, ...]:
    """A plain record's fields, in :class:`StorageContainer`'s order (see :func:`containers_of`)."""
    get = rec.get
    image_name = metadata_name = None
    if type(doc) is dict:
        image_name, metadata_name = doc.get("image-name"), doc.get("name")
        image_name = image_name if type(image_name) is str and image_name else None
        metadata_name = metadata_name if type(metadata_name) is str and metadata_name else None
    names, uidmap, gidmap, flags = get("names"), get("uidmap"), get("gidmap"), get("flags")
    return (
        cid,
        driver,
        () if names is None else str_tuple(names),
        image,
        layer,
        timefmt.normalize(get("created")),
        metadata,
        image_name,
        metadata_name,
        () if uidmap is None else parse_idmap(uidmap),
        () if gidmap is None else parse_idmap(gidmap),
        () if flags is None else str_pairs(flags),
        f"{driver}-containers/{cid}/userdata",
        path,
    )


def _container(
    i: int, rec: dict[str, Any], driver: str, path: str, seen: set[str], findings: Findings
) -> StorageContainer | None:
    """Record ``i`` as a container, any JSON in any field; ``None`` (and a finding) to skip it."""
    cid = safe_id(rec.get("id"), findings, path, f"container record {i} id")
    if cid is None or cid in seen:
        if cid is not None:
            findings.error("duplicate-id", path, f"container {cid} is recorded twice")
        return None
    seen.add(cid)
    layer = safe_id(rec.get("layer"), findings, path, f"container {cid} layer")
    image = None
    if rec.get("image"):
        image = safe_id(rec["image"], findings, path, f"container {cid} image")
    metadata = opt_str(rec.get("metadata"))
    meta: object = None
    if metadata:
        try:
            meta = json.loads(metadata)
        except (ValueError, RecursionError):  # not JSON, a 5,000-digit number, too deep
            findings.warning("bad-metadata", path, f"container {cid} metadata is not JSON")
    meta_d = meta if isinstance(meta, dict) else {}
    return StorageContainer(
        id=cid,
        driver=driver,
        names=str_tuple(rec.get("names")),
        image=image,
        layer=layer,
        created=timefmt.normalize(rec.get("created")),
        metadata=metadata,
        image_name=opt_str(meta_d.get("image-name")),
        metadata_name=opt_str(meta_d.get("name")),
        uidmap=parse_idmap(rec.get("uidmap")),
        gidmap=parse_idmap(rec.get("gidmap")),
        flags=str_pairs(rec.get("flags")),
        userdata_path=f"{driver}-containers/{cid}/userdata",
        meta_path=path,
    )
