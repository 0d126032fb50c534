"""Build small, format-faithful Docker roots (overlay2, fuse-overlayfs, overlay, vfs, btrfs, aufs).

The shapes copy what dockerd 20.10 writes (see the sample roots); tests then damage them next to
the assertion that checks the finding. The pieces come from :mod:`tests.support.rootwriter`
(stdlib only, never storagekit), which the benchmarks use too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.rootwriter import store
from tests.support.rootwriter.containers import state
from tests.support.rootwriter.drivers import FULL_COPY_DIRS, LayerDirs
from tests.support.rootwriter.encoding import ZERO_TIME, chain_ids
from tests.support.rootwriter.files import put as write

__all__ = [
    "FULL_COPY_DIRS",
    "ZERO_TIME",
    "Built",
    "RootBuilder",
    "diff_id",
    "rand_id",
    "simple_root",
    "state",
    "write",
]


def rand_id() -> str:
    return secrets.token_hex(32)


def diff_id(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


@dataclass
class Built:
    images: dict[str, list[str]] = field(default_factory=dict)  # image id -> cache ids base first
    containers: dict[str, str] = field(default_factory=dict)  # container id -> mount id
    layers: dict[str, str] = field(default_factory=dict)  # chain id -> cache id


class RootBuilder:
    """Writes layers, images and containers under ``root`` for one driver."""

    def __init__(self, root: Path, driver: str = "overlay2") -> None:
        self.root = root
        self.driver = driver
        self.built = Built()
        self.dirs = LayerDirs(root, driver)
        self.store = str(root / "image" / driver)
        (root / "image" / driver / "layerdb" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "image" / driver / "imagedb" / "content" / "sha256").mkdir(parents=True)
        (root / "containers").mkdir(exist_ok=True)
        self.repos: dict[str, dict[str, str]] = {}  # repository -> {tag: image id}

    @property
    def links(self) -> dict[str, str]:
        return self.dirs.links

    def driver_dir(self, layer_id: str, parents: list[str], files: dict[str, bytes]) -> None:
        """Create the driver's directory for a layer (parents nearest first)."""
        target = self.dirs.add(layer_id, parents)
        for name, data in files.items():
            write(target / name, data)

    def snapshot_chain(self, layer_ids: list[str]) -> None:
        """Make full-copy layers (base first) whole trees (see ``LayerDirs.snapshot_chain``)."""
        self.dirs.snapshot_chain(layer_ids)

    # layer store ----------------------------------------------------------------------------

    def layer_dir(self, chain: str) -> Path:
        return self.root / "image" / self.driver / "layerdb" / "sha256" / chain.split(":")[1]

    def add_layers(self, diffs: list[str], sizes: list[int] | None = None) -> list[str]:
        """Register a chain of layers (base first) not yet present; return the cache IDs."""
        cache_ids: list[str] = []
        parent: str | None = None
        for i, (chain, diff) in enumerate(zip(chain_ids(diffs), diffs, strict=True)):
            if chain in self.built.layers:
                cache_ids.append(self.built.layers[chain])
                parent = chain
                continue
            cache = rand_id()
            size = sizes[i] if sizes else 5
            store.layer_record(
                self.store, chain, diff_id=diff, cache_id=cache, size=size, parent=parent,
                tar_split=b"",
            )  # fmt: skip
            self.driver_dir(cache, list(reversed(cache_ids)), {f"f{i}": b"hello"})
            self.built.layers[chain] = cache
            cache_ids.append(cache)
            parent = chain
        return cache_ids

    def add_image(
        self, diffs: list[str], tags: tuple[str, ...] = (), parent: str | None = None
    ) -> str:
        cache_ids = self.add_layers(diffs)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-11-28T01:00:00.123456789Z",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diffs},
        }
        raw = json.dumps(config, separators=(",", ":")).encode()
        image_id = store.image_record(self.store, raw, parent=parent)
        for tag in tags:
            self.repos.setdefault(tag.split(":")[0], {})[tag] = image_id
        self.write_repositories()
        self.built.images[image_id] = cache_ids
        return image_id

    def write_repositories(self) -> None:
        store.repositories(self.store, self.repos)

    # containers -----------------------------------------------------------------------------

    def add_container(
        self,
        image_id: str,
        name: str,
        *,
        running: bool = False,
        started: bool = True,
        cid: str | None = None,
    ) -> str:
        cid = cid or rand_id()
        mount = rand_id()
        cache_ids = self.built.images[image_id]
        below = list(reversed(cache_ids))
        self.driver_dir(f"{mount}-init", below, {".dockerenv": b""})
        self.driver_dir(mount, [f"{mount}-init", *below], {"written": b"12345678"})
        top = chain_ids(self._diffs_of(image_id))[-1] if cache_ids else ""
        store.mount_record(self.store, cid, mount_id=mount, init_id=f"{mount}-init", parent=top)
        config = {
            "ID": cid,
            "Name": f"/{name}",
            "Created": "2026-11-28T01:00:01.5Z",
            "Path": "sh",
            "Args": ["-c", "true"],
            "Config": {"Image": "img:1", "Labels": {"a": "b"}},
            "Image": image_id,
            "State": state(
                running,
                pid=42 if running else 0,
                exit_code=0 if running else 3,
                started="2026-11-28T01:00:02Z" if started else ZERO_TIME,
                finished=ZERO_TIME if running or not started else "2026-11-28T01:00:03Z",
                Dead=False,
            ),
            "Driver": self.driver,
            "MountPoints": {},
        }
        write(self.root / "containers" / cid / "config.v2.json", json.dumps(config))
        write(self.root / "containers" / cid / "hostconfig.json", json.dumps({}))
        self.built.containers[cid] = mount
        return cid

    def _diffs_of(self, image_id: str) -> list[str]:
        path = (
            self.root / "image" / self.driver / "imagedb" / "content" / "sha256"
        ) / image_id.split(":")[1]
        diffs: list[str] = json.loads(path.read_bytes())["rootfs"]["diff_ids"]
        return diffs


def simple_root(root: Path, driver: str = "overlay2") -> tuple[RootBuilder, str, str]:
    """A root with one two-layer image tagged img:1 and one exited container on it."""
    b = RootBuilder(root, driver)
    image = b.add_image([diff_id("base"), diff_id("top")], tags=("img:1",))
    cid = b.add_container(image, "c1")
    return b, image, cid
