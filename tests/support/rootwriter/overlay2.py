"""overlay2's layer directories (fuse-overlayfs uses the same layout under its own name).

``<driver>/<id>/{diff/,link,lower,work/}``, ``<driver>/l/<LINK> -> ../<id>/diff`` and the
``committed`` mark a layer gets once it has a child (overlay2 ``Create``, v20.10+).
"""

from __future__ import annotations

import base64
import os
import random

from tests.support.rootwriter.files import mkdir, write


def link_id(rng: random.Random) -> str:
    """A short link name: 26 characters of base32, as ``overlay2.generateID`` makes them."""
    return base64.b32encode(rng.randbytes(17)).decode()[:26]


class Overlay2:
    """The layer directories under ``<root>/<driver>``; remembers each layer's link and lower."""

    def __init__(self, root: str, driver: str = "overlay2") -> None:
        self.path = f"{root}/{driver}"
        self.links: dict[str, str] = {}  # layer id -> LINK
        self.lowers: dict[str, str] = {}  # layer id -> its lower file ("" for a base layer)

    def lower_of(self, parent: str | None) -> str:
        """The ``lower`` file of a child of ``parent``: its link, then the parent's lower."""
        if parent is None:
            return ""
        up = self.lowers[parent]
        return f"l/{self.links[parent]}" + (f":{up}" if up else "")

    def add(self, oid: str, link: str, parent: str | None, *, work_work: bool = False) -> str:
        """Create ``<id>/`` (mode 0710), ``diff/``, ``link``, ``lower`` and ``work/`` (with
        ``work/work``, mode 0, when the layer has been mounted), and ``l/<link>``; returns the
        ``diff`` path."""
        d = f"{self.path}/{oid}"
        mkdir(d, 0o710)
        diff = f"{d}/diff"
        mkdir(diff, 0o755)
        lower = self.lower_of(parent)
        write(f"{d}/link", link)
        if lower:
            write(f"{d}/lower", lower)
            mkdir(f"{d}/work", 0o700)
            if work_work:
                mkdir(f"{d}/work/work", 0o000)
        os.symlink(f"../{oid}/diff", f"{self.path}/l/{link}")
        self.links[oid] = link
        self.lowers[oid] = lower
        return diff

    def commit(self, oid: str) -> None:
        """Mark a layer that got a child as ``committed``."""
        write(f"{self.path}/{oid}/committed", b"", 0o600)
