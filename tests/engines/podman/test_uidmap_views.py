"""A rootful container of its own ID mapping (``--uidmap``): its files as it saw them.

On overlay, containers-storage writes the container's own layer with host IDs and keeps the
image's layers as they were, shifting them when it mounts them (seen on a root podman 4.3.1
made with ``--uidmap 0:200000:5000``: the image's files 0 on disk, the container's 200000,
``containers.json`` holding the map, the container layer's record none). On vfs the
container's layer is a copy of a chowned copy of the image's top layer (``mapped-layers``):
every file host IDs. The view shows the container's IDs either way.
"""

from __future__ import annotations

import json

from storagekit.engines.podman.engine import PodmanEngine
from tests.engines.podman import minroot
from tests.engines.podman.minroot import CID, L0, LC

MAP = [{"container_id": 0, "host_id": 200000, "size": 5000}]


def _engine(layer_map: bool) -> PodmanEngine:
    layers = minroot.layers_json()
    for rec in layers:
        rec.pop("uidmap", None)
        rec.pop("gidmap", None)
    if layer_map:  # the container layer's record keeps the map too
        layers[2]["uidmap"] = layers[2]["gidmap"] = MAP
    containers = minroot.containers_json()
    containers[0]["uidmap"] = containers[0]["gidmap"] = MAP
    src = minroot.build(
        layers=json.dumps(layers).encode(), containers=json.dumps(containers).encode()
    )
    src.add_file(f"overlay/{L0}/diff/bin/tool", b"x", uid=0, gid=0)  # the image's: as it was
    src.add_file(f"overlay/{LC}/diff/made", b"y", uid=200000, gid=200005)  # written: host IDs
    src.add_dir(f"overlay/{LC}/diff/run", uid=200000, gid=200000)
    return PodmanEngine(src, "<minroot>", "")


def test_the_image_layers_as_they_are_the_containers_layer_mapped() -> None:
    for layer_map in (False, True):
        engine = _engine(layer_map)
        view = engine.view(engine.containers[CID])
        owners = {p: (view.stat(p).uid, view.stat(p).gid) for p in ("bin/tool", "made", "run")}
        assert owners == {"bin/tool": (0, 0), "made": (0, 5), "run": (0, 0)}


def test_an_image_view_maps_nothing() -> None:
    engine = _engine(False)
    view = engine.view(engine.images[0])
    assert (view.stat("bin/tool").uid, view.stat("bin/tool").gid) == (0, 0)
