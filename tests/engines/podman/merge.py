"""A small reference merge of layer directories for comparing with ``podman export``."""

from __future__ import annotations

import hashlib
from typing import Any

from storagekit.engines.podman.common import IDMapping, to_container_id
from storagekit.engines.podman.layerdirs import LayerDir
from storagekit.entry import Entry, FileType
from storagekit.source import Source


def merged(src: Source, dirs: tuple[LayerDir, ...], *, overlay: bool) -> dict[str, Entry]:
    """The union of ``dirs`` (top first) as podman's overlay mount (or a vfs copy) shows it."""
    out: dict[str, Entry] = {}
    opaque_above: set[str] = set()
    for d in dirs if overlay else dirs[:1]:
        assert d.path is not None
        opaque_here: set[str] = set()
        for _top, entries in src.walk(d.path):
            for e in entries:
                rel = e.path[len(d.path) + 1 :]
                parent = rel.rpartition("/")[0]
                if parent and (parent not in out or out[parent].type is not FileType.DIR):
                    continue  # below a whiteout, an upper non-directory, or hidden
                if parent in opaque_above:
                    continue
                if rel in out or rel in opaque_above:
                    continue
                if e.type is FileType.CHARDEV and e.rdev == (0, 0):
                    # a whiteout: an entry nothing will fill (a placeholder that is no dir)
                    out[rel] = e
                    continue
                out[rel] = e
                xattrs = src.xattrs(e.path)
                # rootful overlay: trusted.*; rootless native overlay (userxattr): user.*
                opaque = b"y" in (
                    xattrs.get("trusted.overlay.opaque"),
                    xattrs.get("user.overlay.opaque"),
                )
                if e.type is FileType.DIR and opaque:
                    opaque_here.add(rel)
        opaque_above |= opaque_here
    return {k: v for k, v in out.items() if not (v.type is FileType.CHARDEV and v.rdev == (0, 0))}


def listing(
    src: Source,
    tree: dict[str, Entry],
    uidmap: tuple[IDMapping, ...] = (),
    gidmap: tuple[IDMapping, ...] = (),
) -> dict[str, dict[str, Any]]:
    """The fields of ``expected.json`` ``export`` members for each merged entry.

    Owners are mapped from on-disk IDs to container IDs (rootless roots).
    """
    out = {}
    for rel, e in tree.items():
        item: dict[str, Any] = {
            "type": e.type.value,
            "mode": f"{e.mode & 0o7777:04o}",
            "uid": to_container_id(e.uid, uidmap),
            "gid": to_container_id(e.gid, gidmap),
            "linkname": e.link_target or "",
        }
        if e.type is FileType.FILE:
            item["size"] = e.size
            item["sha256"] = hashlib.sha256(src.read_bytes(e.path)).hexdigest()
        out[rel] = item
    return out


def export_listing(members: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``expected.json`` export members keyed by path, in :func:`listing`'s shape."""
    out = {}
    for m in members:
        item = {k: m[k] for k in ("type", "mode", "uid", "gid", "linkname")}
        if m["type"] == "file":
            item["size"], item["sha256"] = m["size"], m["sha256"]
        out[m["path"].rstrip("/")] = item
    return out
