"""The timeline of a Docker root: every file of every layer, and the engine's own events.

Files: each image layer's directory (``layerdb`` chain ID, named ``layer:<chain-hex-12>``),
each container's init layer (``init:<name>``) and read-write layer (``container:<name>``) is
walked on its own, not merged, so a file that an upper layer replaces or deletes keeps its
own times. A whiteout (the driver says which entries are) is the deletion of the path it hides,
timed by the whiteout itself and marked ``deleted``; opaque markers and the driver's
bookkeeping are left out. Only the modification time is in the evidence as Docker keeps it
(a tar archive holds no other), so access, change and birth times are unknown (0 in a
bodyfile, absent in JSON).

Events, with the engine's own timestamps: image created (config ``created``), layer created
(the history entry that made it), container created / started / finished (``config.v2.json``
``Created``, ``State.StartedAt``, ``State.FinishedAt``, as ``docker inspect`` prints them),
volume created (the ``local`` driver reports the change time of ``volumes/<name>/_data`` as
``CreatedAt``; the evidence keeps modification times only, and the later of ``volumes/<name>``'s
and ``_data``'s is the closest to it: ``_data`` of an anonymous volume keeps the image
directory's time it was copied from).

References: moby v20.10 ``daemon/images/image_history.go``, ``volume/local/local.go``
(``CreatedAt``), ``daemon/graphdriver/overlay2/overlay.go`` (whiteouts).
"""

from __future__ import annotations

from collections.abc import Iterator

from storagekit.analysis.timeline import container_events, event, layer_files
from storagekit.driver import StorageDriver
from storagekit.engines.docker.artefacts import as_dict, as_str
from storagekit.engines.docker.inspect import image_config
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import SourceError
from storagekit.ids import chain_id, hex_of
from storagekit.jsontext import Record
from storagekit.timefmt import from_ns


def _layers(root: DockerRoot) -> Iterator[tuple[str, str, str, StorageDriver]]:
    """(holder, layer ID, kind, driver) of every image, init and read-write layer."""
    for layer in root.layers:
        driver = root.driver(layer.driver)
        if driver is not None and layer.cache_id:
            yield f"layer:{hex_of(layer.chain_id)[:12]}", layer.cache_id, "image-layer", driver
    for c in sorted(root.containers.values(), key=lambda c: c.name):
        rw = root.rw_layer(c)
        driver = root.driver(rw.driver) if rw else None
        if rw is None or driver is None:
            continue
        name = c.name.lstrip("/") or c.id[:12]
        if rw.init_id:
            yield f"init:{name}", rw.init_id, "init-layer", driver
        if rw.mount_id:
            yield f"container:{name}", rw.mount_id, "container-layer", driver


def file_records(root: DockerRoot) -> Iterator[Record]:
    """One record per file of every layer directory (whiteouts as deleted paths)."""
    for holder, layer_id, kind, driver in _layers(root):
        yield from layer_files(root.source, driver, holder, layer_id, kind)


def event_records(root: DockerRoot) -> list[Record]:
    """The engine's events: images, layers, containers and volumes, unsorted."""
    events: list[Record | None] = []
    layers_seen: set[str] = set()  # a layer shared by several images was created once
    for image in root.images:
        config = image_config(root, image)
        name = ", ".join(image.tags) or image.id
        events.append(event(as_str(config.get("created")), "Image Created", name, image=image.id))
        history = config.get("history")
        chain: str | None = None
        used = 0
        for raw in history if isinstance(history, list) else []:
            h = as_dict(raw)
            if h.get("empty_layer") or used >= len(image.diff_ids):
                continue
            chain = chain_id(chain, image.diff_ids[used])
            used += 1
            if chain in layers_seen:
                continue
            layers_seen.add(chain)
            events.append(
                event(
                    as_str(h.get("created")),
                    "Layer Created",
                    as_str(h.get("created_by")) or chain,
                    image=image.id,
                    chain_id=chain,
                )
            )
    events += container_events(root.containers.values())
    for volume in root.volumes.values():
        base = volume.path or f"volumes/{volume.name}"
        times = []
        for path in (base, f"{base}/_data"):
            try:
                times.append(root.source.stat(path).mtime_ns)
            except SourceError:
                continue
        if not times:
            continue
        ns = max(times)
        events.append(event(from_ns(ns), "Volume Created", volume.name, volume=volume.name))
    return [e for e in events if e is not None]
