"""The two meta pages of a BoltDB (bbolt) file, and which one a reader uses.

Every page starts with a 16-byte header; pages 0 and 1 hold a meta struct at page offset 16:
magic ``0xED0CDAED``, version 2, page size, flags, the root bucket header ``{root u64,
sequence u64}``, freelist page, high-water mark ``pgid``, ``txid`` and an FNV-1a-64 checksum of
the preceding 56 bytes. Integers are in the creating host's native byte order; the magic tells
which one. The page size comes from meta 0, or (if meta 0 is invalid) from meta 1 probed at
likely page sizes (bbolt's ``getPageSize``); of the valid metas the one with the higher txid
wins (``DB.meta``), meta 0 on a tie.

References: etcd-io/bbolt ``internal/common/meta.go``, ``internal/common/page.go``, ``db.go``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from storagekit.errors import FormatError

MAGIC = 0xED0CDAED
VERSION = 2
PAGE_HEADER_SIZE = 16
#: Page sizes at which bbolt looks for meta 1 when meta 0 is invalid.
PROBE_PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)
_META_SIZE = 64  # magic, version, page size, flags (u32 each); six u64 from the root bucket on
_META_SUMMED = 56  # the checksum covers the meta struct up to the checksum field


class Meta(NamedTuple):
    """A meta page's struct; ``root`` and ``sequence`` are the root bucket's header."""

    magic: int
    version: int
    page_size: int
    flags: int
    root: int
    sequence: int
    freelist: int
    pgid: int
    txid: int
    checksum: int


class Layout(NamedTuple):
    """The on-disk structures in one byte order, as fixed ``struct`` formats.

    No parser objects: reading a meta.db of thousands of records is a loop over every element
    of every leaf, where a parser's per-call overhead would dominate.
    """

    byte_order: str
    meta: struct.Struct  # Meta's fields
    page_header: struct.Struct  # id u64, flags u16, count u16, overflow u32
    leaf_element: struct.Struct  # flags, pos, ksize, vsize: u32 each
    branch_element: struct.Struct  # pos u32, ksize u32, pgid u64
    bucket_header: struct.Struct  # root u64, sequence u64


def _layout(byte_order: str) -> Layout:
    mark = "<" if byte_order == "little" else ">"
    return Layout(byte_order, *(struct.Struct(mark + f) for f in
                                 ("IIIIQQQQQQ", "QHHI", "IIII", "IIQ", "QQ")))


LITTLE = _layout("little")
BIG = _layout("big")


def fnv1a64(data: bytes) -> int:
    """Return the 64-bit FNV-1a hash of ``data`` (Go's ``hash/fnv.New64a``)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def choose_meta(data: bytes, path: str) -> tuple[Layout, Meta, int]:
    """The byte order, the meta used and the offset of its page.

    Raises:
        FormatError: neither meta page is valid or the page size is unusable.
    """
    found = _meta_at(data, 0)
    if isinstance(found, str):  # bbolt's getPageSize: probe meta 1 at likely page sizes
        probes = {size: _meta_at(data, size) for size in PROBE_PAGE_SIZES}
        valid = [m for m in probes.values() if not isinstance(m, str)]
        if not valid:
            why = "; ".join(f"at {size}: {m}" for size, m in probes.items())
            raise FormatError(path, f"no valid meta page (meta 0: {found}; meta 1 {why})", 0)
        found = valid[0]
    layout, page_size = found[0], found[1].page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise FormatError(path, f"meta page size {page_size} is not a power of two >= 512")
    metas = [_meta_at(data, 0, layout), _meta_at(data, page_size, layout)]
    valid_metas = [(i, m[1]) for i, m in enumerate(metas) if not isinstance(m, str)]
    if not valid_metas:
        raise FormatError(path, f"no valid meta page at page size {page_size}", 0)
    # bbolt's DB.meta(): the higher txid wins; max() keeps meta 0 on a tie.
    index, meta = max(valid_metas, key=lambda im: im[1].txid)
    if meta.page_size != page_size:
        raise FormatError(
            path,
            f"meta {index} has page size {meta.page_size}, "
            f"but meta pages are {page_size} bytes apart",
            index * page_size + PAGE_HEADER_SIZE + 8,
        )
    return layout, meta, index * page_size + PAGE_HEADER_SIZE


def _meta_at(
    data: bytes, page_offset: int, layout: Layout | None = None
) -> tuple[Layout, Meta] | str:
    """Return the layout and meta at ``page_offset`` if valid, else why not."""
    raw = data[page_offset + PAGE_HEADER_SIZE : page_offset + PAGE_HEADER_SIZE + _META_SIZE]
    if len(raw) < _META_SIZE:
        return f"truncated at {len(data)} bytes"
    for candidate in (layout,) if layout else (LITTLE, BIG):
        meta = Meta._make(candidate.meta.unpack(raw))
        if meta.magic != MAGIC:
            continue
        if meta.version != VERSION:
            return f"version {meta.version}, expected {VERSION}"
        if meta.checksum != fnv1a64(raw[:_META_SUMMED]):
            return f"checksum mismatch (stored {meta.checksum:#018x})"
        return candidate, meta
    return f"bad magic {raw[:4].hex()}"
