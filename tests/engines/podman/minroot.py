"""A small, valid containers-storage overlay root built in memory, for damage tests.

Three layers (base ``L0``, image top ``L1``, container layer ``LC``), one image, one
container; tests damage a copy of it next to their assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from storagekit.entry import FileType
from storagekit.sources.memsource import MemorySource

L0, L1, LC = "a" * 64, "b" * 64, "c" * 64
CID = "d" * 64
SHORT = {L0: "A" * 26, L1: "B" * 26, LC: "C" * 26}
CONFIG = json.dumps(
    {
        "created": "2026-01-02T03:04:05.123456789Z",
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]},
        "history": [{"created_by": "base"}, {"created_by": "RUN x", "comment": "c"}],
        "config": {"Cmd": ["sh"], "Labels": {"k": "v"}},
    }
).encode()
IMAGE = hashlib.sha256(CONFIG).hexdigest()


def layers_json() -> list[dict[str, Any]]:
    return [
        {
            "id": L0,
            "created": "2026-01-02T03:04:05Z",
            "diff-digest": "sha256:" + "1" * 64,
            "diff-size": 10,
            "uidset": [0],
            "gidset": [0],
        },
        {"id": L1, "parent": L0, "diff-digest": "sha256:" + "2" * 64, "diff-size": 5},
        {
            "id": LC,
            "parent": L1,
            "names": ["x-layer"],
            "uidmap": [{"container_id": 0, "host_id": 100000, "size": 65536}],
            "gidmap": [{"container_id": 0, "host_id": 100000, "size": 65536}],
        },
    ]


def images_json() -> list[dict[str, Any]]:
    return [
        {
            "id": IMAGE,
            "names": ["localhost/x:1"],
            "layer": L1,
            "big-data-names": [f"sha256:{IMAGE}"],
            "big-data-sizes": {f"sha256:{IMAGE}": len(CONFIG)},
            "created": "2026-01-02T03:04:05Z",
        }
    ]


def containers_json() -> list[dict[str, Any]]:
    meta = {"image-name": "localhost/x:1", "image-id": IMAGE, "name": "x"}
    return [{"id": CID, "names": ["x"], "image": IMAGE, "layer": LC, "metadata": json.dumps(meta)}]


def build(
    *,
    layers: bytes | None = None,
    images: bytes | None = None,
    containers: bytes | None = None,
) -> MemorySource:
    src = MemorySource("<minroot>")
    src.add_file("overlay-layers/layers.json", layers or json.dumps(layers_json()).encode())
    src.add_file("overlay-images/images.json", images or json.dumps(images_json()).encode())
    name = "=" + base64.b64encode(f"sha256:{IMAGE}".encode()).decode()
    src.add_file(f"overlay-images/{IMAGE}/{name}", CONFIG)
    src.add_file(
        "overlay-containers/containers.json",
        containers or json.dumps(containers_json()).encode(),
    )
    for lid, lower in ((L0, None), (L1, [L0]), (LC, [L1, L0])):
        src.add_dir(f"overlay/{lid}/diff")
        src.add_file(f"overlay/{lid}/link", SHORT[lid].encode())
        src.add_symlink(f"overlay/l/{SHORT[lid]}", f"../{lid}/diff")
        if lower is None:
            src.add_dir(f"overlay/{lid}/empty")
        else:
            src.add_file(f"overlay/{lid}/lower", ":".join(f"l/{SHORT[x]}" for x in lower).encode())
    src.add_file(f"overlay/{L0}/diff/etc/passwd", b"root:x:0:0::/:/bin/sh\n")
    src.add_device(f"overlay/{LC}/diff/etc/passwd", FileType.CHARDEV, 0, 0)
    src.add_dir("volumes/v/_data")
    return src
