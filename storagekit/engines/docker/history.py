"""``history``: an image's build history as ``docker history`` reports it, newest first.

Moby's ``ImageHistory`` (*daemon/images/image_history.go*) walks the config's ``history``:
every entry not marked ``empty_layer`` takes the next diff ID, and its size is that layer's
``DiffSize`` (the layer store's ``size`` file). The list is reversed (newest first), then the
image IDs are filled in from the top: the image itself, then its local build parent
(``imagedb/metadata/.../parent``), and so on; entries below the last known parent are
``<missing>`` (an image pulled from a registry has no local parents at all). Each entry with an
ID carries that image's tags.

References: moby v20.10 ``daemon/images/image_history.go``, ``api/types/image/image_history.go``.
"""

from __future__ import annotations

from storagekit.engines.docker.artefacts import as_dict, as_str
from storagekit.engines.docker.inspect import image_config, repo_order
from storagekit.engines.docker.root import DockerRoot
from storagekit.ids import chain_id
from storagekit.jsontext import Record
from storagekit.model import Image
from storagekit.timefmt import normalize

MISSING = "<missing>"


def history_records(root: DockerRoot, image: Image) -> list[Record]:
    """``history`` objects of ``image``, newest first (``cli-contract.md`` keys and ``tags``)."""
    config = image_config(root, image)
    store = root.stores.get(image.driver)
    history = config.get("history")
    entries: list[Record] = []
    chain: str | None = None
    used = 0
    for raw in history if isinstance(history, list) else []:
        h = as_dict(raw)
        empty = bool(h.get("empty_layer"))
        size = 0
        if not empty:
            if used >= len(image.diff_ids):
                root.findings.error(
                    "bad-image-config",
                    image.config_path,
                    "more non-empty history entries than layers",
                )
                break
            chain = chain_id(chain, image.diff_ids[used])
            used += 1
            layer = store.layers.get(chain) if store else None
            size = layer.size if layer is not None and layer.size is not None else 0
        entries.append(
            {
                "id": MISSING,
                "created": normalize(h.get("created")),
                "created_by": as_str(h.get("created_by")),
                "size": size,
                "comment": as_str(h.get("comment")),
                "empty_layer": empty,
                "tags": [],
            }
        )
    entries.reverse()
    current: Image | None = image
    seen: set[str] = set()
    for entry in entries:
        if current is None or current.id in seen:
            break
        seen.add(current.id)
        entry["id"] = current.id
        entry["tags"] = repo_order(current.tags)
        parent = current.parent
        current = store.images.get(parent) if store and parent else None
    return entries
