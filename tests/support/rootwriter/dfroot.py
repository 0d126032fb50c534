"""A fleet whose storage holds many files where ``df`` sizes them: its benchmark's root.

``df`` prints Docker's figures, several of which are sizes of directories — each container's
writable layer (``size_rw``), each local volume, each orphaned driver directory — and then
measures the whole root as ``du`` does. This root puts its files in every such place: a
:mod:`.fleet` root (real layer store, image configs, container configs and mount records)
whose writable layers, image layers, volumes and orphaned ``overlay2/`` directories are then
filled with :func:`.dutree.fill`'s folders of small files (some hard-linked to a file of the
first image layer, as in :mod:`.dutree`). Shares: half the files in writable layers, a fifth in
image layers, the rest in volumes and orphans alike.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.rootwriter.dutree import fill
from tests.support.rootwriter.fleet import FleetWriter

#: (place, weight): how the files are shared out.
SHARES = (("rw", 10), ("image", 4), ("volume", 3), ("orphan", 3))


def _layer_dirs(root: Path, record: str, glob: str) -> list[Path]:
    """``overlay2/<id>/diff`` of every layer store record file matching ``glob``."""
    store = root / "image" / "overlay2" / "layerdb"
    ids = sorted(p.read_text().strip() for p in store.glob(f"{glob}/{record}"))
    return [root / "overlay2" / i / "diff" for i in ids]


def build(root: Path, files: int, containers: int = 200, seed: int = 15) -> int:
    """Write the root with about ``files`` files in its filled places; returns the count."""
    FleetWriter(
        root, images=20, layers=100, base_layers=5, containers=containers, seed=seed
    ).generate()
    places = {
        "rw": _layer_dirs(root, "mount-id", "mounts/*"),
        "image": _layer_dirs(root, "cache-id", "sha256/*"),
        "volume": [root / "volumes" / f"vol{i:03d}" / "_data" for i in range(40)],
        "orphan": [root / "overlay2" / f"{i + 1:064x}" / "diff" for i in range(30)],
    }
    weights = sum(w for _, w in SHARES)
    first: Path | None = None
    made = 0
    for place, weight in SHARES:
        dirs = places[place]
        share = files * weight // weights if place != SHARES[-1][0] else files - made
        for i, diff in enumerate(dirs):
            count = share // len(dirs) + (1 if i < share % len(dirs) else 0)
            if count:
                made += fill(diff, count, first)
                first = first or diff / "usr0" / "d0" / "f1"
    return made
