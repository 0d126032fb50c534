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
from typing import NamedTuple

from storagekit import timefmt
from storagekit.engines.podman.common import (
    IDMapping,
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
    out: list[StorageContainer] = []
    seen: set[str] = set()
    for i, rec in enumerate(json_records(load_json(source, path, findings), findings, path)):
        cid = safe_id(rec.get("id"), findings, path, f"container record {i} id")
        if cid is None or cid in seen:
            if cid is not None:
                findings.error("duplicate-id", path, f"container {cid} is recorded twice")
            continue
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
        out.append(
            StorageContainer(
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
        )
    return out
