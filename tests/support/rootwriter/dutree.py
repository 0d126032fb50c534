"""A big tree of small files laid out like an overlay2 root, as the disk-usage benchmark uses.

Layer store metadata, layer directories of nested folders with small and medium files (some
hard-linked, as legacy drivers leave them), container directories with logs, and a volume.
"""

from __future__ import annotations

import os
from pathlib import Path

FILES_PER_DIR = 50
DIRS_PER_LAYER = 40


def fill(diff: Path, files: int, link: Path | None = None) -> int:
    """Up to ``files`` files in nested folders below ``diff``; returns the count.

    Small files, every seventh 5 kB; with ``link``, each folder's first file is a hard link
    to it.
    """
    made = 0
    medium = b"m" * 5000
    for d in range(DIRS_PER_LAYER):
        folder = diff / f"usr{d % 4}" / f"d{d}"
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(FILES_PER_DIR):
            path = folder / f"f{f}"
            if f == 0 and link is not None:
                os.link(link, path)
            else:
                path.write_bytes(medium if f % 7 == 0 else b"s" * (f % 13))
            made += 1
            if made >= files:
                return made
    return made


def build(root: Path, files: int) -> int:
    """Write a synthetic overlay2 root with about ``files`` files; returns the count."""
    (root / "image" / "overlay2" / "layerdb" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "containers").mkdir(exist_ok=True)
    made = layer = 0
    first = root / "overlay2" / f"{0:064x}" / "diff/usr0/d0/f1"
    while made < files:
        layer_id = f"{layer:064x}"
        meta = root / "image" / "overlay2" / "layerdb" / "sha256" / f"{layer + 1:064x}"
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "cache-id").write_text(layer_id)
        (meta / "size").write_text("0")
        diff = root / "overlay2" / layer_id / "diff"
        made += fill(diff, files - made, first if layer > 0 else None)
        container = root / "containers" / f"{layer:064x}"
        container.mkdir(exist_ok=True)
        (container / "config.v2.json").write_text("{}")
        (container / f"{layer:064x}-json.log").write_bytes(b"log line\n" * 100)
        layer += 1
    volume = root / "volumes" / "data" / "_data"
    volume.mkdir(parents=True, exist_ok=True)
    (volume / "big").write_bytes(b"v" * 1_000_000)
    return made
