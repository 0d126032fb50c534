"""Build BoltDB files and small containerd roots in memory, for damaged and hostile cases.

Every bucket is written inline inside one leaf page (with overflow pages), which bbolt itself
reads; ``formats/bolt.py`` follows the same rules (containerd-podman-format.md §0).
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, Union

from storagekit.formats.bolt import fnv1a64
from storagekit.formats.containerd import put_go_time, put_uvarint, put_varint
from storagekit.sources.memsource import MemorySource

Tree = dict[bytes, Union[bytes, "Tree"]]
MAGIC = 0xED0CDAED
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SPEC_URL = b"types.containerd.io/opencontainers/runtime-spec/1/Spec"
T0 = put_go_time(1_700_000_000, 123_456_789)


class Unsorted(dict):  # type: ignore[type-arg]
    """A bucket written with its keys in the given (possibly wrong) order."""


def _leaf(pgid: int, items: list[tuple[bytes, bytes, int]], overflow: int = 0) -> bytes:
    head, data = struct.pack("<QHHI", pgid, 0x02, len(items), overflow), b""
    for i, (key, value, flags) in enumerate(items):
        head += struct.pack("<IIII", flags, 16 * (len(items) - i) + len(data), len(key), len(value))
        data += key + value
    return head + data


def _items(tree: Tree) -> list[tuple[bytes, bytes, int]]:
    keys = list(tree) if isinstance(tree, Unsorted) else sorted(tree)
    out = []
    for key in keys:
        value = tree[key]
        if isinstance(value, dict):
            out.append((key, struct.pack("<QQ", 0, 0) + _leaf(0, _items(value)), 1))
        else:
            out.append((key, value, 0))
    return out


def bolt(tree: Tree, page_size: int = 4096) -> bytes:
    """A bbolt file whose root bucket holds ``tree``; meta 0 has txid 10, meta 1 txid 11."""
    items = _items(tree)
    pages = -(-len(_leaf(2, items)) // page_size)
    body = _leaf(2, items, pages - 1)
    count = 2 + pages
    buf = bytearray(page_size * count)
    for i in (0, 1):
        struct.pack_into("<QHHI", buf, i * page_size, i, 0x04, 0, 0)
        meta = struct.pack("<IIIIQQQQQ", MAGIC, 2, page_size, 0, 2, 0, 2**64 - 1, count, 10 + i)
        buf[i * page_size + 16 : i * page_size + 80] = meta + struct.pack("<Q", fnv1a64(meta))
    buf[2 * page_size : 2 * page_size + len(body)] = body
    return bytes(buf)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def any_spec(spec: dict[str, Any]) -> bytes:
    raw = json.dumps(spec).encode()
    return b"\x0a" + put_uvarint(len(SPEC_URL)) + SPEC_URL + b"\x12" + put_uvarint(len(raw)) + raw


class Root:
    """A one-image, one-container containerd root; tests change parts, then call source()."""

    def __init__(self) -> None:
        self.layer = b"layer tar bytes"
        self.diff = digest(b"uncompressed layer")
        self.config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [self.diff]}}).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"digest": digest(self.config), "size": len(self.config)},
            "layers": [{"digest": digest(self.layer), "size": len(self.layer)}],
        }).encode()
        self.blobs = {digest(b): b for b in (self.layer, self.config, self.manifest)}
        content: Tree = {
            d.encode(): {b"createdat": T0, b"updatedat": T0, b"size": put_varint(len(b)),
                         b"labels": {}} for d, b in self.blobs.items()
        }
        content[digest(self.config).encode()][b"labels"] = {  # type: ignore[index]
            b"containerd.io/gc.ref.snapshot.overlayfs": self.diff.encode()}
        spec = {"process": {"args": ["sh", "-c", "true"], "env": ["A=1"], "cwd": "/"},
                "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}
        self.ns: Tree = {
            b"images": {b"img:1": {
                b"createdat": T0, b"updatedat": T0,
                b"target": {b"digest": digest(self.manifest).encode(),
                            b"mediatype": OCI_MANIFEST.encode(),
                            b"size": put_varint(len(self.manifest))}}},
            b"content": {b"blob": content},
            b"containers": {b"c1": {
                b"createdat": T0, b"updatedat": T0, b"image": b"img:1",
                b"snapshotter": b"overlayfs", b"snapshotKey": b"c1", b"spec": any_spec(spec),
                b"runtime": {b"name": b"io.containerd.runc.v2"}, b"labels": {}}},
            b"snapshots": {b"overlayfs": {
                self.diff.encode(): {b"createdat": T0, b"updatedat": T0,
                                     b"name": b"default/1/" + self.diff.encode(),
                                     b"children": {b"c1": b""}},
                b"c1": {b"createdat": T0, b"updatedat": T0, b"name": b"default/2/c1",
                        b"parent": self.diff.encode()}}},
            b"leases": {b"l1": {b"createdat": T0, b"labels": {}}},
        }
        self.meta: Tree = {b"v1": {b"version": put_varint(3), b"default": self.ns}}
        self.snaps: Tree = {
            b"default/1/" + self.diff.encode(): {
                b"id": put_uvarint(1), b"kind": b"\x03", b"size": put_varint(4096),
                b"inodes": put_varint(2), b"createdat": T0, b"updatedat": T0},
            b"default/2/c1": {b"id": put_uvarint(2), b"kind": b"\x02", b"createdat": T0,
                              b"updatedat": T0,
                              b"parent": b"default/1/" + self.diff.encode()},
        }
        self.files: dict[str, bytes | None] = {
            "io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/etc/hello": b"hi\n",
            "io.containerd.snapshotter.v1.overlayfs/snapshots/2/fs": None,
        }
        self.meta_db: bytes | None = None

    def contents(self) -> dict[str, bytes | None]:
        """Every file of the root by path (``None``: a directory)."""
        out: dict[str, bytes | None] = {
            "io.containerd.metadata.v1.bolt/meta.db": self.meta_db or bolt(self.meta),
            "io.containerd.snapshotter.v1.overlayfs/metadata.db":
                bolt({b"v1": {b"snapshots": self.snaps, b"parents": {}}}),
        }
        for d, b in self.blobs.items():
            out["io.containerd.content.v1.content/blobs/sha256/" + d[7:]] = b
        out.update(self.files)
        return out

    def source(self) -> MemorySource:
        src = MemorySource()
        for path, data in self.contents().items():
            if data is None:
                src.add_dir(path)
            else:
                src.add_file(path, data)
        return src

    def write(self, top: Path) -> Path:
        """The root as a directory tree below ``top`` (read as a host directory is)."""
        for path, data in self.contents().items():
            where = top / path
            if data is None:
                where.mkdir(parents=True, exist_ok=True)
            else:
                where.parent.mkdir(parents=True, exist_ok=True)
                where.write_bytes(data)
        return top
