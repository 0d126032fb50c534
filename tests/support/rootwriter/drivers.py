"""Layer directories of every graph driver, for small test roots (docker-root-format.md §6).

overlay2 and fuse-overlayfs share :class:`~tests.support.rootwriter.overlay2.Overlay2`; the
others are here: legacy overlay (``root/`` or ``upper/`` + ``work/`` + ``lower-id``), the
full-copy drivers vfs and btrfs, and aufs (``diff/``, ``mnt/``, ``layers/<id>``).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from tests.support.rootwriter.files import put
from tests.support.rootwriter.overlay2 import Overlay2
from tests.support.rootwriter.store import LINK_DRIVERS

#: Full-copy drivers: where their layer directories are.
FULL_COPY_DIRS = {"vfs": "vfs/dir", "btrfs": "btrfs/subvolumes"}
_LINK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def random_link() -> str:
    """A random overlay2 short link name (26 characters of base32's alphabet)."""
    return "".join(secrets.choice(_LINK_ALPHABET) for _ in range(26))


class LayerDirs:
    """Creates one driver's layer directories under ``root``."""

    def __init__(self, root: Path, driver: str) -> None:
        self.root = root
        self.driver = driver
        self.overlay2 = Overlay2(str(root), driver)

    @property
    def links(self) -> dict[str, str]:
        """overlay2 and fuse-overlayfs: layer id -> its ``l/`` link."""
        return self.overlay2.links

    def add(self, layer_id: str, parents: list[str]) -> Path:
        """Create the directory of a layer on ``parents`` (nearest first); returns where its
        own files go."""
        if self.driver in LINK_DRIVERS:
            (self.root / self.driver / "l").mkdir(parents=True, exist_ok=True)
            parent = parents[0] if parents else None
            return Path(self.overlay2.add(layer_id, random_link(), parent))
        if self.driver == "overlay":
            return self._overlay(layer_id, parents)
        if self.driver == "aufs":
            target = self.root / "aufs" / "diff" / layer_id
            target.mkdir(parents=True)
            (self.root / "aufs" / "mnt" / layer_id).mkdir(parents=True)
            put(self.root / "aufs" / "layers" / layer_id, "".join(p + "\n" for p in parents))
            return target
        if self.driver not in FULL_COPY_DIRS:
            raise ValueError(self.driver)
        target = self.root / FULL_COPY_DIRS[self.driver] / layer_id  # own files only
        target.mkdir(parents=True)
        return target

    def _overlay(self, layer_id: str, parents: list[str]) -> Path:
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
            put(base / "lower-id", parents[0])
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
