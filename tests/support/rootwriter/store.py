"""The image store ``image/<driver>/``: layerdb, imagedb, ``repositories.json``, mounts.

Also :func:`skeleton`, the top-level directories a 20.10 daemon makes at start-up.
"""

from __future__ import annotations

import hashlib

from tests.support.rootwriter.encoding import go_json
from tests.support.rootwriter.files import mkdir, write

#: Top-level directories of a 20.10 root (with their modes).
TOP_DIRS = (
    ("containers", 0o710),
    ("image", 0o700),
    ("network/files", 0o750),
    ("plugins/storage", 0o700),
    ("runtimes", 0o700),
    ("swarm", 0o700),
    ("tmp", 0o700),
    ("trust", 0o700),
    ("volumes", 0o701),
)
#: What the builders and the plugin manager add once used.
BUILDER_DIRS = (("builder", 0o700), ("buildkit", 0o711), ("plugins/tmp", 0o700))
STORE_DIRS = (
    "layerdb/sha256",
    "layerdb/mounts",
    "layerdb/tmp",
    "imagedb/content/sha256",
    "imagedb/metadata/sha256",
    "distribution",
)
#: Drivers whose directory holds an ``l/`` of short links.
LINK_DRIVERS = ("overlay2", "fuse-overlayfs")


def skeleton(root: str, driver: str, *, builders: bool = True) -> str:
    """Create a root's top-level directories and its driver's image store; returns the store."""
    mkdir(root, 0o710)
    dirs = [*TOP_DIRS, *(BUILDER_DIRS if builders else ()), (driver, 0o710)]
    if driver in LINK_DRIVERS:
        dirs.append((f"{driver}/l", 0o700))
    for name, mode in dirs:
        mkdir(f"{root}/{name}", mode)
    store = f"{root}/image/{driver}"
    for sub in STORE_DIRS:
        mkdir(f"{store}/{sub}", 0o700)
    return store


def layer_record(
    store: str,
    chain: str,
    *,
    diff_id: str,
    cache_id: str,
    size: int,
    parent: str | None = None,
    tar_split: bytes | None = None,
) -> str:
    """``layerdb/sha256/<chain>/{diff,parent,cache-id,size,tar-split.json.gz}``; returns it."""
    ldir = f"{store}/layerdb/sha256/{chain.removeprefix('sha256:')}"
    mkdir(ldir, 0o755)
    write(f"{ldir}/diff", diff_id)
    if parent:
        write(f"{ldir}/parent", parent)
    write(f"{ldir}/cache-id", cache_id)
    write(f"{ldir}/size", str(size))
    if tar_split is not None:
        write(f"{ldir}/tar-split.json.gz", tar_split)
    return ldir


def image_record(
    store: str, raw: bytes, *, last_updated: str | None = None, parent: str | None = None
) -> str:
    """An image config in ``imagedb/content`` (named by its SHA-256) and its metadata folder.

    Returns the image ID (``sha256:<hex>``).
    """
    hex_id = hashlib.sha256(raw).hexdigest()
    write(f"{store}/imagedb/content/sha256/{hex_id}", raw, 0o600)
    meta = f"{store}/imagedb/metadata/sha256/{hex_id}"
    mkdir(meta, 0o700)
    if parent:
        write(f"{meta}/parent", parent)
    if last_updated:
        write(f"{meta}/lastUpdated", last_updated, 0o600)
    return f"sha256:{hex_id}"


def by_repository(tags: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{"repo:tag": image id}`` grouped by repository (up to the last ':'), as Docker keeps it."""
    repos: dict[str, dict[str, str]] = {}
    for tag, image_id in tags.items():
        repos.setdefault(tag.rsplit(":", 1)[0], {})[tag] = image_id
    return repos


def repositories(store: str, repos: dict[str, dict[str, str]]) -> None:
    """``repositories.json``: ``{"Repositories": {repo: {"repo:tag": image id}}}``."""
    write(f"{store}/repositories.json", go_json({"Repositories": repos}), 0o600)


def mount_record(store: str, cid: str, *, mount_id: str, init_id: str, parent: str) -> None:
    """``layerdb/mounts/<container>/{mount-id,init-id,parent}`` (no parent for a bare image)."""
    mdir = f"{store}/layerdb/mounts/{cid}"
    mkdir(mdir, 0o755)
    write(f"{mdir}/mount-id", mount_id)
    write(f"{mdir}/init-id", init_id)
    if parent:
        write(f"{mdir}/parent", parent)
