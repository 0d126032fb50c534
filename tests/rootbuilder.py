"""Build small, format-faithful Docker roots (overlay2, fuse-overlayfs, overlay, vfs, btrfs, aufs).

The shapes copy what dockerd 20.10 writes (see the sample roots); tests then damage them next to
the assertion that checks the finding.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from storagekit.ids import chain_ids

ZERO_TIME = "0001-01-01T00:00:00Z"
#: Full-copy drivers: where their layer directories are.
FULL_COPY_DIRS = {"vfs": "vfs/dir", "btrfs": "btrfs/subvolumes"}


def state(
    running: bool, *, pid: int, exit_code: int, started: str, finished: str, **more: object
) -> dict[str, object]:
    """A container's ``State`` with the fields every engine since 1.9 writes, plus ``more``."""
    return {
        "Running": running,
        "Paused": False,
        "Restarting": False,
        **more,
        "Pid": pid,
        "ExitCode": exit_code,
        "StartedAt": started,
        "FinishedAt": finished,
    }


def rand_id() -> str:
    return secrets.token_hex(32)


def diff_id(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


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
        self.links: dict[str, str] = {}
        (root / "image" / driver / "layerdb" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "image" / driver / "imagedb" / "content" / "sha256").mkdir(parents=True)
        (root / "containers").mkdir(exist_ok=True)
        self.repos: dict[str, dict[str, str]] = {}

    # driver directories -------------------------------------------------------------------

    def _link_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        return "".join(secrets.choice(alphabet) for _ in range(26))

    def driver_dir(self, layer_id: str, parents: list[str], files: dict[str, bytes]) -> None:
        """Create the driver's directory for a layer (parents nearest first)."""
        if self.driver in ("overlay2", "fuse-overlayfs"):  # one layout, two directory names
            base = self.root / self.driver / layer_id
            (base / "diff").mkdir(parents=True)
            link = self._link_id()
            self.links[layer_id] = link
            write(base / "link", link)
            l_dir = self.root / self.driver / "l"
            l_dir.mkdir(exist_ok=True)
            os.symlink(f"../{layer_id}/diff", l_dir / link)
            if parents:
                write(base / "lower", ":".join(f"l/{self.links[p]}" for p in parents))
                (base / "work").mkdir()
            target = base / "diff"
        elif self.driver == "overlay":
            target = self._overlay_dir(layer_id, parents)
        elif self.driver in FULL_COPY_DIRS:  # own files only: see snapshot_chain
            target = self.root / FULL_COPY_DIRS[self.driver] / layer_id
            target.mkdir(parents=True)
        elif self.driver == "aufs":
            target = self.root / "aufs" / "diff" / layer_id
            target.mkdir(parents=True)
            (self.root / "aufs" / "mnt" / layer_id).mkdir(parents=True)
            write(self.root / "aufs" / "layers" / layer_id, "".join(p + "\n" for p in parents))
        else:
            raise ValueError(self.driver)
        for name, data in files.items():
            write(target / name, data)

    def _overlay_dir(self, layer_id: str, parents: list[str]) -> Path:
        """Legacy overlay (overlay.go): image layers get root/ = the parent's root/ with files
        hard-linked plus their own; a layer on an image layer gets upper/, work/ and lower-id;
        a layer on an init layer copies its lower-id and its upper/."""
        base = self.root / "overlay" / layer_id
        parent = self.root / "overlay" / parents[0] if parents else None
        if parent is not None and not (parent / "root").is_dir():  # on an init layer
            shutil.copytree(parent / "upper", base / "upper", symlinks=True)
            shutil.copyfile(parent / "lower-id", base / "lower-id")
            (base / "work").mkdir()
            return base / "upper"
        if parent is not None and layer_id.endswith("-init"):  # on an image layer
            (base / "upper").mkdir(parents=True)
            (base / "work").mkdir()
            write(base / "lower-id", parents[0])
            return base / "upper"
        if parent is None:
            (base / "root").mkdir(parents=True)
        else:
            shutil.copytree(parent / "root", base / "root", symlinks=True, copy_function=os.link)
        return base / "root"

    def snapshot_chain(self, layer_ids: list[str]) -> None:
        """Make full-copy layers (base first) whole trees, as ``Create`` copies each parent.

        Not done for every layer built: a deep chain would copy quadratically many files.
        """
        layers = self.root / FULL_COPY_DIRS[self.driver]
        for lower, upper in zip(layer_ids, layer_ids[1:], strict=False):
            shutil.copytree(layers / lower, layers / upper, symlinks=True, dirs_exist_ok=True)

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
            d = self.layer_dir(chain)
            write(d / "diff", diff)
            write(d / "cache-id", cache)
            write(d / "size", str(sizes[i] if sizes else 5))
            write(d / "tar-split.json.gz", b"")
            if parent:
                write(d / "parent", parent)
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
        hexid = hashlib.sha256(raw).hexdigest()
        write(self.root / "image" / self.driver / "imagedb" / "content" / "sha256" / hexid, raw)
        meta = self.root / "image" / self.driver / "imagedb" / "metadata" / "sha256" / hexid
        meta.mkdir(parents=True, exist_ok=True)
        if parent:
            write(meta / "parent", parent)
        image_id = f"sha256:{hexid}"
        for tag in tags:
            self.repos.setdefault(tag.split(":")[0], {})[tag] = image_id
        self.write_repositories()
        self.built.images[image_id] = cache_ids
        return image_id

    def write_repositories(self) -> None:
        write(
            self.root / "image" / self.driver / "repositories.json",
            json.dumps({"Repositories": self.repos}),
        )

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
        m = self.root / "image" / self.driver / "layerdb" / "mounts" / cid
        write(m / "mount-id", mount)
        write(m / "init-id", f"{mount}-init")
        if cache_ids:
            top = list(chain_ids(self._diffs_of(image_id)))[-1]
            write(m / "parent", top)
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
