"""What a Docker root's image stores reference, for orphan detection.

A layer is live while an image's chain or a container's read-write layer (whose
``layerdb/mounts/<id>`` record names its parent chain) uses it; a container's record is live
while its ``containers/<id>`` exists. ``layerdb/sha256/<chain>-<random>-removing`` records are
layers whose delete did not finish (*layer_store.go* ``deleteLayer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from storagekit.cache import per_root
from storagekit.driver import StorageDriver
from storagekit.engines.docker.chains import walk_parents
from storagekit.engines.docker.imagestore import ImageStore
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import SourceError
from storagekit.ids import chain_ids
from storagekit.model import Layer, RWLayer


@dataclass
class StoreRefs:
    """What one image store references, split into live and dead references."""

    store: ImageStore
    driver: StorageDriver | None
    live_mounts: dict[str, RWLayer] = field(default_factory=dict)
    dead_mounts: dict[str, RWLayer] = field(default_factory=dict)
    image_users: dict[str, set[str]] = field(default_factory=dict)  # chain -> image IDs
    container_users: dict[str, set[str]] = field(default_factory=dict)  # chain -> containers

    def is_live(self, chain: str) -> bool:
        """Whether an image or a container still uses the layer."""
        return chain in self.image_users or chain in self.container_users

    @cached_property
    def leaked(self) -> dict[str, Layer]:
        """Layers no image and no container uses, by chain ID."""
        return {c: lay for c, lay in self.store.layers.items() if not self.is_live(c)}

    @cached_property
    def live_dirs(self) -> set[str]:
        """Driver directory IDs of live layers and of existing containers' records."""
        ids = {lay.cache_id for c, lay in self.store.layers.items() if c not in self.leaked}
        for rw in self.live_mounts.values():
            ids.update((rw.mount_id, rw.init_id))
        return {i for i in ids if i is not None}


def store_refs(root: DockerRoot, store: ImageStore, present: set[str]) -> StoreRefs:
    """What one store references; ``present``: the containers whose directory exists."""
    refs = StoreRefs(store, root.driver(store.driver))
    for cid, rw in store.rw_layers.items():
        (refs.live_mounts if cid in present else refs.dead_mounts)[cid] = rw
    for image in store.images.values():
        for chain in chain_ids(image.diff_ids):
            refs.image_users.setdefault(chain, set()).add(image.id)
    for cid, rw in refs.live_mounts.items():
        for layer in walk_parents(store, rw.parent).layers:
            refs.container_users.setdefault(layer.chain_id, set()).add(cid)
    return refs


@per_root(key=lambda root, name: name)
def removing_layers(root: DockerRoot, name: str) -> list[tuple[str, str, str | None]]:
    """(record path, chain ID, cache-id) of ``image/<name>/layerdb/sha256/*-removing``."""
    base = f"image/{name}/layerdb/sha256"
    found: list[tuple[str, str, str | None]] = []
    try:
        names = root.source.listdir(base)
    except SourceError:
        names = []
    for entry in names:
        if not entry.endswith("-removing"):
            continue
        try:
            raw = root.source.read_bytes(f"{base}/{entry}/cache-id", 256)
            cache: str | None = raw.decode().strip() or None
        except (SourceError, UnicodeDecodeError):
            cache = None
        found.append((f"{base}/{entry}", f"sha256:{entry[:64]}", cache))
    return found
