"""``history``: an image's build history as ``podman history`` reports it, newest first.

libimage's ``Image.History`` (containers/common ``libimage/history.go``, podman 4.3.1 uses
v0.50) walks the config's ``history`` from the newest entry down, with a cursor on a layer that
starts at the image's top layer (``images.json`` ``layer``):

* every entry's ID is ``<missing>`` unless the cursor's layer is the top layer of some image:
  then it is the first such image in ``images.json`` order (``layerTree``: ``store.Images()``),
  each image ID given once (so the image's own top entry may name another image that shares
  its top layer and comes first in ``images.json``);
* an entry that is not ``empty_layer`` has the cursor layer's ``diff-size``
  (``UncompressedSize``) as its size, then moves the cursor to that layer's parent (it stays on
  a base layer); an empty entry has size 0 and leaves the cursor where it is;
* ``tags`` are the cursor layer's ``names`` (image layers have none);
* an image without a top layer has ``<missing>`` and size 0 everywhere.

Nothing is looked up by digest: the IDs come from the layer tree only, which is why podman's
``history`` differs from Docker's (whose parent links come from ``imagedb/metadata``).
"""

from __future__ import annotations

from collections.abc import Iterator

from storagekit.engines.podman.images import HistoryEntry
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.layers import Layer
from storagekit.jsontext import Record

MISSING = "<missing>"


def _first_images(inv: Inventory, driver: str) -> dict[str, str]:
    """Top layer ID -> the first image (``images.json`` order) whose top layer it is."""
    out: dict[str, str] = {}
    for img in inv.root.images:
        if img.driver == driver and img.top_layer:
            out.setdefault(img.top_layer, img.id)
    return out


def walk(inv: Inventory, image_id: str) -> Iterator[tuple[HistoryEntry, Layer | None]]:
    """The config's history entries newest first, each with the layer the cursor is on."""
    img = inv.store_images[image_id]
    cfg = inv.configs.get(image_id)
    layer = inv.layer(img.driver, img.top_layer) if img.top_layer else None
    for h in reversed(cfg.history if cfg else ()):
        yield h, layer
        if layer is not None and layer.parent is not None and not h.empty_layer:
            below = inv.layer(img.driver, layer.parent)
            if below is None:  # podman fails here; the entries below get no layer
                inv.findings.error(
                    "missing-layer", layer.meta_path, f"layer {layer.parent} is not recorded"
                )
            layer = below


def history_records(inv: Inventory, image_id: str) -> list[Record]:
    """``history`` objects of the image, newest first (``cli-contract.md`` keys and ``tags``)."""
    owners = _first_images(inv, inv.store_images[image_id].driver)
    used: set[str] = set()
    out: list[Record] = []
    for h, layer in walk(inv, image_id):
        entry: Record = {
            "id": MISSING,
            "created": h.created,
            "created_by": h.created_by or "",
            "size": 0,
            "comment": h.comment or "",
            "empty_layer": h.empty_layer,
            "tags": [],
        }
        if layer is not None:
            entry["tags"] = list(layer.names)
            if not h.empty_layer:
                entry["size"] = layer.diff_size or 0
            owner = owners.get(layer.id)
            if owner is not None and owner not in used:
                entry["id"] = owner
                used.add(owner)
        out.append(entry)
    return out
