"""Image parents, children and sizes as libimage and containers-storage give them, and the
image name ``podman ps`` shows — on shapes met on fresh podman 4.3.1 roots (``podman import``
of one tar twice, ``--uidmap`` on vfs, a container made from an image ID)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from storagekit.engines.podman.engine import PodmanEngine
from storagekit.engines.podman.libpod import make_container
from tests.engines.podman import minroot
from tests.engines.podman.minroot import CID, IMAGE, L0, L1

LM = "e" * 64  # a copy of L1 chowned for a container's --uidmap (storage's mapped layer)


def _config(cmd: str, history: list[str], diff_ids: int) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + f"{n + 1}" * 64
                                                      for n in range(diff_ids)]},
            "history": [{"created_by": h} for h in history],
            "config": {"Cmd": [cmd]},
        }
    ).encode()  # fmt: skip


def _image(config: bytes, layer: str, **extra: Any) -> dict[str, Any]:
    iid = hashlib.sha256(config).hexdigest()
    key = f"sha256:{iid}"
    return {"id": iid, "layer": layer, "big-data-names": [key],
            "big-data-sizes": {key: len(config)}, "config": config, **extra}  # fmt: skip


def _engine(images: list[dict[str, Any]], layers: list[dict[str, Any]] | None = None
            ) -> PodmanEngine:  # fmt: skip
    records = [{k: v for k, v in i.items() if k != "config"} for i in images]
    src = minroot.build(images=json.dumps(records).encode(),
                        layers=json.dumps(layers).encode() if layers else None)  # fmt: skip
    for i in images:
        key = "=" + base64.b64encode(f"sha256:{i['id']}".encode()).decode()
        if "config" in i:
            src.add_file(f"overlay-images/{i['id']}/{key}", i["config"])
    if layers:
        src.add_dir(f"overlay/{LM}/diff")
    engine = PodmanEngine.find(src, "<mem>")
    assert engine is not None
    return engine


def test_two_images_of_one_history_on_one_layer_are_both_parents() -> None:
    """One tar imported twice (``podman import``, other ``CMD``s): the same layer and history.

    libimage's ``children`` finds the image built on them under each of the two, its
    ``parent`` names the first only: both share all their size and neither is dangling
    (podman 4.3.1's ``system df -v``: SHARED SIZE = SIZE, UNIQUE SIZE 0B for both).
    """
    base = _config("sh", ["ADD file"], 1)
    pause = _config("sleep", ["ADD file"], 1)
    child = _config("sh", ["ADD file", "RUN x"], 2)
    images = [_image(base, L0, names=["localhost/base:1"]),
              _image(pause, L0, names=["localhost/pause:1"]),
              _image(child, L1, names=["localhost/child:1"])]  # fmt: skip
    got = {i["tags"][0]: i for i in _engine(images).image_records()}
    for name in ("localhost/base:1", "localhost/pause:1"):
        i = got[name]
        assert (i["shared_size"], i["unique_size"], i["dangling"]) == (i["size"], 0, False)
    assert got["localhost/child:1"]["parent"] == images[0]["id"]
    size = got["localhost/child:1"]["size"]
    assert got["localhost/child:1"]["unique_size"] == size - got["localhost/base:1"]["size"]


def test_mapped_top_layer_counts_in_the_image_size() -> None:
    """``mapped-layers`` (storage ``MappedTopLayers``): podman's image size walks them too.

    vfs cannot shift owners, so ``--uidmap`` made a chowned copy of the top layer (parent
    ``L0``, 3 bytes here): ``podman images`` counted it, each layer once (3,072 bytes more
    for a container's ``--uidmap 0:200000:5000`` on a fresh vfs root).
    """
    layers = [*minroot.layers_json(), {"id": LM, "parent": L0, "diff-digest": "sha256:" + "9" * 64,
                                       "diff-size": 3}]  # fmt: skip
    images: list[dict[str, Any]] = minroot.images_json()
    plain = _engine(images, layers).image_records()[0]["size"]
    images[0]["mapped-layers"] = [LM]
    [mapped] = _engine(images, layers).image_records()
    assert mapped["size"] == plain + 3  # L0 (10 bytes) counted once
    assert mapped["layer_ids"] == [L0, L1]


def test_image_given_by_id_is_shown_by_its_resolved_name() -> None:
    """``podman ps``/``inspect`` show ``rootfsImageName`` (``pkg/ps/ps.go``), which podman
    resolves to the image's first name also when the user gave an ID (``RawImageName``)."""
    engine = PodmanEngine.find(minroot.build(), "<mem>")
    assert engine is not None
    config = {"id": CID, "name": "x", "rootfsImageID": IMAGE, "rootfsImageName": "localhost/x:1",
              "RawImageName": IMAGE[:12]}  # fmt: skip
    lp = make_container(CID, config, {"state": 1}, None, "libpod/bolt_state.db")
    engine.inv.__dict__["libpod"] = {CID: lp}
    assert engine.inv.containers[CID].image == "localhost/x:1"
