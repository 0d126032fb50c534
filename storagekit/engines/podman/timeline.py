"""The timeline of a podman graph root: every file of every layer, and podman's own events.

Files: every layer of ``<driver>-layers/layers.json`` is walked on its own, in its driver's
directory (``overlay/<id>/diff``: the layer's own changes, whiteouts as 0/0 character devices;
``vfs/dir/<id>``: a full copy of the tree, so every file of the image appears once per vfs
layer, as podman keeps it). A layer that is a container's (containers.json ``layer``) is
``container:<name>``, any other ``layer:<layer-id-12>`` (image layers, and the chowned copies
``mapped-layers`` name). Owners are the ones on disk: a rootless root holds them shifted by
the user's subordinate IDs. See :mod:`storagekit.analysis.timeline` for whiteouts and times.

Events, with the times containers-storage and libpod recorded: image created (``images.json``
``created``, the image's ``Created`` in ``podman images`` and ``podman image inspect``), layer
created (``layers.json`` ``created``; the message is the history step that made it, as
``podman history`` pairs them, else the layer ID), container created / started / finished
(libpod's ``Created``, ``State.StartedAt``, ``State.FinishedAt``, as ``podman inspect`` prints
them) and volume created (libpod's ``CreatedTime``, ``podman volume inspect``'s ``CreatedAt``).

References: containers/storage ``layers.go``, ``images.go`` (``Created``), containers/common
``libimage/history.go``, podman ``libpod/container_inspect.go``, ``libpod/volume_inspect.go``.
"""

from __future__ import annotations

from collections.abc import Iterator

from storagekit.analysis.timeline import container_events, event, layer_files
from storagekit.engines.podman.history import walk
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.views import driver_for
from storagekit.jsontext import Record


def _container_layers(inv: Inventory) -> dict[tuple[str, str], str]:
    """(driver, layer ID) -> the name of the container whose layer it is."""
    out: dict[tuple[str, str], str] = {}
    for cid, st in inv.store_containers.items():
        if st.layer:
            c = inv.containers.get(cid)
            out[(st.driver, st.layer)] = (c.name if c else "") or cid[:12]
    return out


def file_records(inv: Inventory) -> Iterator[Record]:
    """One record per file of every layer directory: image layers, then containers' by name."""
    owned = _container_layers(inv)
    drivers = {name: driver_for(name, inv.source, inv.findings) for name in inv.root.drivers}
    layers = [x for x in inv.root.layers if (x.driver, x.id) not in owned]
    mine = sorted(
        (x for x in inv.root.layers if (x.driver, x.id) in owned),
        key=lambda x: (owned[(x.driver, x.id)], x.id),
    )
    for layer in layers + mine:
        driver = drivers.get(layer.driver)
        if driver is None:
            continue
        name = owned.get((layer.driver, layer.id))
        holder = f"container:{name}" if name else f"layer:{layer.id[:12]}"
        kind = "container-layer" if name else "image-layer"
        yield from layer_files(inv.source, driver, holder, layer.id, kind)


def event_records(inv: Inventory) -> list[Record]:
    """Podman's events: images, layers, containers and volumes, unsorted."""
    events: list[Record | None] = []
    steps: dict[tuple[str, str], str] = {}  # a layer shared by several images: its first step
    for img in inv.root.images:
        name = ", ".join(img.names) or img.id
        events.append(event(img.created, "Image Created", name, image=img.id))
        for h, layer in walk(inv, img.id):
            if layer is not None and not h.empty_layer and h.created_by:
                steps.setdefault((layer.driver, layer.id), h.created_by)
    owned = _container_layers(inv)
    for layer in inv.root.layers:
        if (layer.driver, layer.id) in owned:
            continue
        message = steps.get((layer.driver, layer.id)) or layer.id
        events.append(event(layer.created, "Layer Created", message, layer=layer.id))
    events += container_events(inv.containers.values())
    for v in inv.libpod_volumes.values():
        events.append(event(v.created, "Volume Created", v.name, volume=v.name))
    return [e for e in events if e is not None]
