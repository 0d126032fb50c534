"""podman's records for the inventory commands: the contract's keys plus podman's own.

Every record carries ``"engine": "podman"``. Containers: ``status`` as ``podman ps`` prints
it, ``exit_code`` from libpod's state, ``layer_id`` (the containers-storage layer), ``pod``,
``layer_dirs`` as podman mounts them (``overlay/<id>/diff``, top first). Images: ``layer_ids``
(base first), ``top_layer``, ``intermediate`` (untagged with children: a build step) and the
sizes of ``podman images`` / ``podman system df -v``. Layers: ``id``, ``parent``, ``diff_id``,
``compressed_diff_id``, ``size``, ``names``, ``path``, ``present``, ``images``, ``containers``.
Keys of the contract podman has no such thing for (``mount_id``, ``chain_id`` ...) are null.
"""

from __future__ import annotations

from json.encoder import encode_basestring  # what the compact encoder writes a str with

from storagekit.cache import per_root
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.layerdirs import layer_path
from storagekit.engines.podman.libpod_json import NONCE
from storagekit.engines.podman.parts import (
    CONTAINER_STORES,
    IMAGE_STORES,
    LAYER_STORES,
    read_parts,
)
from storagekit.engines.podman.root import container_layer_dirs
from storagekit.errors import SourceError
from storagekit.jsontext import Record, escape_surrogates, to_json
from storagekit.model import Container, Image, MountPoint

ENGINE = "podman"


@per_root(key=lambda inv, container: container.id)
def size_rw(inv: Inventory, container: Container) -> int | None:
    """``podman ps -s`` size: the container layer's diff size (``DiffSize``).

    overlay with a native diff: the apparent size of the upper directory's non-directories;
    a naive diff (vfs): the sizes of what ``ChangesDirs`` lists as added or changed.
    """
    from storagekit.engines.podman.views import container_view, raw_changes
    from storagekit.union.changes import Tree, changes_size, directory_size

    st = inv.store_containers.get(container.id)
    if st is None or st.layer is None:
        return None
    try:
        if st.driver == "overlay":
            path = layer_path("overlay", st.layer)
            if path is None or not inv.source.is_dir(path):
                return None
            return directory_size(inv.source, path)
        return changes_size(Tree(container_view(inv, container), ""), raw_changes(inv, container))
    except SourceError:
        return None


def _mount_record(inv: Inventory, m: MountPoint) -> Record:
    """One ``mounts`` object: a named volume's mount point from libpod, and if its data is here."""
    vol = inv.libpod_volumes.get(m.name) if m.type == "volume" else None
    return {
        "type": m.type,
        "name": m.name,
        "source": (vol.mount_point if vol else None) or m.source,
        "destination": m.destination,
        "read_only": m.read_only,
        "present": m.type == "volume" and inv.source.is_dir(f"volumes/{m.name}/_data"),
    }


def container_record(
    inv: Inventory,
    container: Container,
    *,
    sizes: bool,
    graph_root: str | None = None,
    dirs: object = None,
) -> Record:
    """One ``containers`` object (``graph_root`` after ``engine`` when given).

    ``dirs``: what ``layer_dirs`` holds, when the caller fills it in itself (the JSON path's
    placeholder); by default the directories of the container's stack.
    """
    cid = container.id
    st = inv.store_containers.get(cid)
    lp = inv.libpod.get(cid)
    if dirs is None:
        dirs = inv.layer_dirs(st.driver, inv.container_chains.get(cid, ())) if st else []
    record: Record = {
        "engine": ENGINE,
        "graph_root": graph_root,
        "id": cid,
        "name": container.name,
        "image": container.image,
        "image_id": container.image_id,
        "status": container.status,
        "exit_code": container.exit_code if lp else None,
        "created": container.created,
        "started": container.started,
        "finished": container.finished,
        "driver": container.driver,
        "layer_id": st.layer if st else None,
        "pod": lp.pod if lp else None,
        "mount_id": None,
        "init_id": None,
        "layer_dirs": dirs,
        "mounts": [_mount_record(inv, m) for m in container.mounts] if container.mounts else [],
        "command": list(container.command),
        "in_libpod": lp is not None,
        "in_storage": st is not None,
        "size_rw": size_rw(inv, container) if sizes else None,
    }
    if graph_root is None:
        del record["graph_root"]  # the others keep their order
    return record


def _by_creation(r: Record) -> tuple[str, str]:
    return r["created"] or "", r["id"]


def container_records(
    inv: Inventory, *, sizes: bool, graph_root: str | None = None
) -> list[Record]:
    """Every ``containers`` object, by creation time then ID (``graph_root``: as one has)."""
    read_parts(inv, "decoded", CONTAINER_STORES)
    records = [
        container_record(inv, c, sizes=sizes, graph_root=graph_root)
        for c in inv.containers.values()
    ]
    records.sort(key=_by_creation)
    return records


def container_records_json(inv: Inventory, *, sizes: bool, graph_root: str) -> str:
    """The JSON array of :func:`container_records` with ``graph_root``: the same bytes.

    ``layer_dirs`` is three quarters of the JSON (each record's image's whole stack: some 25
    paths), and all but its first path (the container's own layer) are the same for every
    container of that image. The records are encoded (:data:`BATCH` at a time) with a placeholder
    there (the per-process nonce of :mod:`.libpod_json`), and each placeholder is replaced by its
    record's paths, the text below the first made once per stack; each batch's placeholders must
    be exactly as many as its records, in order (the text of one string value, which no other
    can produce), else the list is encoded whole with its paths. Surrogates are escaped character by
    character, so the parts' escaping is the whole's.
    """
    read_parts(inv, "decoded", CONTAINER_STORES)
    below: dict[int, tuple[list[str | None], str]] = {}
    rows: list[tuple[Record, str, tuple[str, ...]]] = []
    for c in inv.containers.values():
        st = inv.store_containers.get(c.id)
        stack = (st.driver, inv.container_chains.get(c.id, ())) if st else ("", ())
        record = container_record(inv, c, sizes=sizes, graph_root=graph_root, dirs=NONCE)
        rows.append((record, *stack))
    rows.sort(key=_row_order)
    token = f'"{NONCE}"'
    out = ["["]
    for at in range(0, len(rows), BATCH):
        batch = rows[at : at + BATCH]
        parts = to_json([r for r, _, _ in batch])[1:-1].split(token)
        if len(parts) != len(batch) + 1:  # the paths put back, the whole list encoded
            for r, driver, chain in rows:
                r["layer_dirs"] = inv.layer_dirs(driver, chain)
            return to_json([r for r, _, _ in rows])
        out += ("," if at else "", parts[0])
        for (_, driver, chain), part in zip(batch, parts[1:], strict=True):
            if not chain:
                out += ("[]", part)
                continue
            top, lower = inv.stack_dirs(driver, chain)
            known = below.get(id(lower))  # one list per stack; kept here: its id stays its own
            if known is None:
                known = below[id(lower)] = (lower, "".join("," + _json_str(d) for d in lower))
            out += ("[", _json_str(top), known[1], "]", part)
    out.append("]")
    return "".join(out)


#: Records encoded per call (:func:`container_records_json`): the encoder's pieces of one
#: batch are freed before the next is encoded, so each reuses the memory of the one before
#: (the whole list at once took some 4 MB of fresh pages, ~1,000 page faults of 2-3 us here).
BATCH = 100


def _row_order(row: tuple[Record, str, tuple[str, ...]]) -> tuple[str, str]:
    return _by_creation(row[0])


def _json_str(text: str | None) -> str:
    """``text`` as :func:`~storagekit.jsontext.to_json` writes it (``null`` for ``None``)."""
    return "null" if text is None else escape_surrogates(encode_basestring(text))


def image_sizes(inv: Inventory, image_id: str) -> tuple[int, int, int]:
    """(size, shared size, unique size) as ``podman system df -v`` computes them.

    An image with children shares everything; one without children shares its parent's size.
    """
    size = inv.image_size(image_id)
    if inv.children.get(image_id):
        return size, size, 0
    parent = inv.parents.get(image_id)
    if parent is not None:
        shared = inv.image_size(parent)
        return size, shared, size - shared
    return size, 0, size


def image_record(inv: Inventory, image: Image) -> Record:
    """One ``images`` object."""
    st = inv.store_images[image.id]
    chain = inv.image_chains.get(image.id, ())
    size, shared, unique = image_sizes(inv, image.id)
    kids = inv.children.get(image.id, [])
    return {
        "engine": ENGINE,
        "id": image.id,
        "driver": image.driver,
        "tags": list(image.tags),
        "digests": list(image.digests),
        "digest": st.digest,
        "names_history": list(st.names_history),
        "created": image.created,
        "parent": image.parent,
        "diff_ids": list(image.diff_ids),
        "chain_ids": None,
        "cache_ids": None,
        "layer_ids": list(reversed(chain)),
        "top_layer": st.top_layer,
        "size": size,
        "shared_size": shared,
        "unique_size": unique,
        "containers": len(inv.users.get(image.id, [])),
        "intermediate": not st.names and bool(kids),
        "dangling": not st.names and not kids,
    }


def image_records(inv: Inventory) -> list[Record]:
    """Every ``images`` object, by ID."""
    read_parts(inv, "briefs", IMAGE_STORES)
    return [image_record(inv, i) for i in inv.images]


def layer_records(inv: Inventory) -> list[Record]:
    """Every layer of ``layers.json``, then layer directories no record knows."""
    read_parts(inv, "briefs", LAYER_STORES)
    on_image: dict[str, set[str]] = {}
    for iid, chain in inv.image_chains.items():
        for lid in chain:
            on_image.setdefault(lid, set()).add(iid)
    stacked: dict[str, set[str]] = {}
    for cid, chain in inv.container_chains.items():
        for lid in chain:
            stacked.setdefault(lid, set()).add(cid)
    records = []
    for x in inv.root.layers:
        path = layer_path(x.driver, x.id)
        records.append(
            {
                "engine": ENGINE,
                "id": x.id,
                "chain_id": inv.chain_id(x.driver, x.id),
                "cache_id": x.id,
                "driver": x.driver,
                "parent": x.parent,
                "diff_id": x.diff_digest,
                "compressed_diff_id": x.compressed_digest,
                "size": x.diff_size,
                "compressed_size": x.compressed_size,
                "names": list(x.names),
                "created": x.created,
                "path": path,
                "present": bool(path and inv.source.is_dir(path)),
                "images": sorted(on_image.get(x.id, ())),
                "containers": sorted(stacked.get(x.id, ())),
            }
        )
    from storagekit.engines.podman.layerdirs import driver_layer_ids

    for drv in inv.root.drivers:
        known = {x.id for x in inv.root.layers if x.driver == drv}
        for lid in sorted(set(driver_layer_ids(inv.source, drv)) - known):
            records.append(
                {
                    "engine": ENGINE,
                    "id": lid,
                    "chain_id": None,
                    "cache_id": lid,
                    "driver": drv,
                    "parent": None,
                    "diff_id": None,
                    "compressed_diff_id": None,
                    "size": None,
                    "compressed_size": None,
                    "names": [],
                    "created": None,
                    "path": layer_path(drv, lid),
                    "present": True,
                    "images": [],
                    "containers": [],
                }
            )
    return records


def volume_records(inv: Inventory) -> list[Record]:
    """Every volume (libpod's, and ``volumes/<name>`` directories), by name."""
    lp = {v.name: v for v in inv.root.libpod.volumes} if inv.root.libpod else {}
    out = []
    for v in inv.volumes.values():
        rec = lp.get(v.name)
        out.append(
            {
                "engine": ENGINE,
                "name": v.name,
                "driver": v.driver,
                "labels": dict(v.labels),
                "options": dict(v.options),
                "mountpoint": rec.mount_point if rec else None,
                "created": rec.created if rec else None,
                "anonymous": rec.anonymous if rec else None,
                "in_metadata": v.in_metadata,
                "has_data": v.has_data,
                "path": v.path,
                "containers": list(rec.containers) if rec else [],
            }
        )
    return out


def chain_record(inv: Inventory, obj: Container | Image) -> Record:
    """The ``chain`` object: the stack top first, with the overlay ``lower`` cross-check."""
    from storagekit.engines.podman.root import image_layer_dirs

    mark = len(inv.findings)
    if isinstance(obj, Container):
        if obj.id not in inv.store_containers:
            dirs: tuple = ()  # type: ignore[type-arg]
            inv.findings.error(
                "missing-layer", None, f"container {obj.id}: no containers.json record"
            )
        else:
            dirs = container_layer_dirs(inv.source, inv.root, obj.id, inv.findings)
        driver = obj.driver
    else:
        dirs = image_layer_dirs(inv.source, inv.root, obj.id, inv.findings)
        driver = obj.driver
    new = inv.findings.since(mark)
    layers = []
    for d in dirs:
        x = inv.layer(driver, d.layer_id)
        layers.append(
            {
                "role": "rw" if d.role == "container" else "image",
                "id": d.layer_id,
                "cache_id": d.layer_id,
                "chain_id": inv.chain_id(driver, d.layer_id),
                "diff_id": x.diff_digest if x else None,
                "path": d.path,
                "present": d.present,
            }
        )
    agree: bool | None = None
    if driver == "overlay" and dirs:
        agree = not any(f.code == "driver-parents-disagree" for f in new)
    return {
        "engine": ENGINE,
        "ref": obj.id,
        "kind": "container" if isinstance(obj, Container) else "image",
        "driver": driver,
        "layers": layers,
        "driver_parents_agree": agree,
        "complete": not any(f.code in ("missing-layer", "layer-loop") for f in new),
        "problems": [f.message for f in new if f.severity == "error"],
    }
