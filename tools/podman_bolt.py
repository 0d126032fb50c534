"""A bbolt file laid out as bbolt's own commit lays it out: a B+tree of 4 KiB pages.

``tests.engines.containerd.builders.bolt`` writes every bucket inline in one leaf page, which
bbolt reads but never writes for more than a few records. A benchmark of podman's
``bolt_state.db`` must read what podman leaves on disk (the ``podman-4.3-overlay`` sample:
``ctr`` a paged bucket, each ``ctr/<id>`` a leaf page of its own with 3 overflow pages for its
12 KB config, small buckets inline). The rules followed (etcd-io/bbolt ``bucket.go``
``inlineable``, ``node.go`` ``split``/``splitIndex``/``write``):

* a bucket is inline (header ``{root 0, sequence}`` then its leaf page inside the parent's
  value) when it holds no sub-bucket and its leaf is at most ``page size / 4`` bytes;
* otherwise its records fill leaf pages of up to ``page size / 2`` bytes (bbolt's default fill
  percent), at least two records a page, a node of at most four records or under one page is
  never split; a node bigger than a page spans overflow pages;
* more than one page per level gets a branch level above it (element ``{pos, ksize, pgid}``,
  key = the child's first key), until one root page remains;
* sub-buckets are written before the page that names them; pages are numbered from 2 (0 and 1
  are the meta pages) in writing order; no freelist page (``pgidNoFreelist``).
"""

from __future__ import annotations

import struct
from typing import Union

from storagekit.formats.bolt import fnv1a64

Tree = dict[bytes, Union[bytes, "Tree"]]
#: A leaf record ``(key, value, flags)`` or a branch element ``(key, b"", child page)``.
Item = tuple[bytes, bytes, int]
MAGIC = 0xED0CDAED
LEAF, BRANCH, BUCKET = 0x02, 0x01, 0x01
HEADER = ELEMENT = 16
MIN_KEYS = 2


class _Writer:
    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.pages: list[bytes] = []  # page-size chunks, page 2 first

    def _put(self, flags: int, items: list[Item]) -> int:
        """Write one node (leaf: ``(key, value, flags)``; branch: ``(key, b"", pgid)``)."""
        pgid = 2 + len(self.pages)
        head, data = b"", b""
        for i, (key, value, extra) in enumerate(items):
            pos = ELEMENT * (len(items) - i) + len(data)
            if flags == LEAF:
                head += struct.pack("<IIII", extra, pos, len(key), len(value))
            else:
                head += struct.pack("<IIQ", pos, len(key), extra)
            data += key + value
        size = HEADER + len(head) + len(data)
        count = -(-size // self.page_size)
        body = struct.pack("<QHHI", pgid, flags, len(items), count - 1) + head + data
        body += bytes(count * self.page_size - len(body))
        self.pages += [body[i : i + self.page_size] for i in range(0, len(body), self.page_size)]
        return pgid

    def _split(self, items: list[Item]) -> list[list[Item]]:
        """bbolt's ``node.split``: nodes of up to half a page, at least two records each."""
        nodes: list[list[Item]] = []
        rest = items
        while True:
            size = HEADER + sum(ELEMENT + len(k) + len(v) for k, v, _ in rest)
            if len(rest) <= 2 * MIN_KEYS or size < self.page_size:
                return [*nodes, rest]
            index, total = 0, HEADER
            for i in range(len(rest) - MIN_KEYS):
                index = i
                grown = total + ELEMENT + len(rest[i][0]) + len(rest[i][1])
                if i >= MIN_KEYS and grown > self.page_size // 2:
                    break
                total = grown
            nodes.append(rest[:index])
            rest = rest[index:]

    def _items(self, tree: Tree) -> list[Item]:
        out = []
        for key in sorted(tree):
            value = tree[key]
            if isinstance(value, dict):
                out.append((key, self.bucket(value), BUCKET))
            else:
                out.append((key, value, 0))
        return out

    def bucket(self, tree: Tree) -> bytes:
        """A sub-bucket's value: its header, and its leaf when inline (else its pages)."""
        items = self._items(tree)
        size = HEADER + sum(ELEMENT + len(k) + len(v) for k, v, _ in items)
        if not any(f & BUCKET for _, _, f in items) and size <= self.page_size // 4:
            leaf = [struct.pack("<QHHI", 0, LEAF, len(items), 0)]
            data = b""
            for i, (key, value, flags) in enumerate(items):
                pos = ELEMENT * (len(items) - i) + len(data)
                leaf.append(struct.pack("<IIII", flags, pos, len(key), len(value)))
                data += key + value
            return struct.pack("<QQ", 0, 0) + b"".join(leaf) + data
        return struct.pack("<QQ", self.root(items), 0)

    def root(self, items: list[Item]) -> int:
        """The root page of a paged bucket of ``items``."""
        level, flags = items, LEAF
        while True:
            ids = [(node[0][0] if node else b"", self._put(flags, node)) for node in
                   self._split(level)]  # fmt: skip
            if len(ids) == 1:
                return ids[0][1]
            level, flags = [(key, b"", pgid) for key, pgid in ids], BRANCH


def bolt_tree(tree: Tree, page_size: int = 4096, txid: int = 10) -> bytes:
    """A bbolt file whose root bucket holds ``tree`` (both meta pages valid, ``txid`` and +1)."""
    w = _Writer(page_size)
    root = w.root(w._items(tree))
    count = 2 + len(w.pages)
    metas = []
    for i in (0, 1):
        meta = struct.pack("<IIIIQQQQQ", MAGIC, 2, page_size, 0, root, 0, 2**64 - 1, count,
                           txid + i)  # fmt: skip
        page = struct.pack("<QHHI", i, 0x04, 0, 0) + meta + struct.pack("<Q", fnv1a64(meta))
        metas.append(page + bytes(page_size - len(page)))
    return b"".join(metas + w.pages)
