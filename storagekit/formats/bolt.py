"""Read-only parser for BoltDB (bbolt) files, format version 2.

Docker keeps ``volumes/metadata.db``, ``network/files/local-kv.db`` and others in this format,
and containerd its ``meta.db`` (docker-root-format.md §9). The facts this module relies on:

* The file is an array of pages of ``P`` bytes; page ``n`` starts at ``n * P``. Every page starts
  with a 16-byte header ``{id u64, flags u16, count u16, overflow u32}``; flags are ``0x01``
  branch, ``0x02`` leaf, ``0x04`` meta, ``0x10`` freelist, and the page spans ``1 + overflow``
  consecutive pages. bbolt asserts that ``id`` equals the page number (``Page.FastCheck``).
* Pages 0 and 1 hold a meta struct at page offset 16: magic ``0xED0CDAED``, version 2, page size,
  flags, the root bucket header, freelist page, high-water mark ``pgid``, ``txid`` and an
  FNV-1a-64 checksum of the preceding 56 bytes. ``P`` comes from meta 0, or (if meta 0 is
  invalid) from meta 1 probed at likely page sizes; the valid meta with the higher txid wins.
* Leaf elements ``{flags, pos, ksize, vsize}`` and branch elements ``{pos, ksize, pgid}`` are
  16 bytes each after the page header; ``pos`` is relative to the element itself and data may run
  into the overflow pages. A leaf element with flag ``0x01`` is a nested bucket whose value starts
  with a bucket header ``{root u64, sequence u64}``; ``root == 0`` means an inline bucket whose
  leaf page is embedded in the value at offset 16.
* Integers are in the creating host's native byte order; the magic tells which one.

Damage never escapes as anything but :class:`~storagekit.errors.FormatError`. Pages are reached
only by traversal from the chosen meta, so stale and free pages are never read.

References: etcd-io/bbolt ``internal/common/page.go``, ``internal/common/meta.go``,
``internal/common/bucket.go``, ``db.go`` (``getPageSize``, ``meta``), ``bucket.go``
(``openBucket``), ``tx_check.go``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import construct as cs

from storagekit.errors import FormatError
from storagekit.formats.pagedfile import PagedFile

MAGIC = 0xED0CDAED
VERSION = 2
BRANCH_PAGE, LEAF_PAGE = 0x01, 0x02
BUCKET_LEAF_FLAG = 0x01
PAGE_HEADER_SIZE = ELEMENT_SIZE = BUCKET_HEADER_SIZE = 16
#: Page sizes at which bbolt looks for meta 1 when meta 0 is invalid.
PROBE_PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)
#: Limit for both B+tree depth and bucket nesting; real files stay far below.
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class _Layout:
    """The on-disk structures in one byte order."""

    byte_order: str
    page_header: Any
    meta: Any
    leaf_element: Any
    branch_element: Any
    bucket_header: Any
    #: The same leaf element, page header and bucket header layouts as fixed ``struct``
    #: formats, for the hot loop over every element of every leaf (construct's per-call
    #: overhead would dominate reading a meta.db of thousands of records).
    fast_leaf: struct.Struct
    fast_page_header: struct.Struct
    fast_bucket_header: struct.Struct


def _layout(byte_order: str, u16: Any, u32: Any, u64: Any) -> _Layout:
    bucket_header = cs.Struct("root" / u64, "sequence" / u64)
    mark = "<" if byte_order == "little" else ">"
    return _Layout(
        byte_order=byte_order,
        page_header=cs.Struct("id" / u64, "flags" / u16, "count" / u16, "overflow" / u32),
        meta=cs.Struct(
            "magic" / u32,
            "version" / u32,
            "page_size" / u32,
            "flags" / u32,
            "root" / bucket_header,
            "freelist" / u64,
            "pgid" / u64,
            "txid" / u64,
            "checksum" / u64,
        ),
        leaf_element=cs.Struct("flags" / u32, "pos" / u32, "ksize" / u32, "vsize" / u32),
        branch_element=cs.Struct("pos" / u32, "ksize" / u32, "pgid" / u64),
        bucket_header=bucket_header,
        fast_leaf=struct.Struct(mark + "IIII"),
        fast_page_header=struct.Struct(mark + "QHHI"),
        fast_bucket_header=struct.Struct(mark + "QQ"),
    )


LITTLE = _layout("little", cs.Int16ul, cs.Int32ul, cs.Int64ul)
BIG = _layout("big", cs.Int16ub, cs.Int32ub, cs.Int64ub)
_META_SUMMED = 56  # the checksum covers the meta struct up to the checksum field


def fnv1a64(data: bytes) -> int:
    """Return the 64-bit FNV-1a hash of ``data`` (Go's ``hash/fnv.New64a``)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class BoltDB:
    """An open bbolt file: the chosen meta page and the root bucket.

    Attributes:
        path: the artefact, as named in error messages.
        byte_order: ``"little"`` or ``"big"``, as told by the meta magic.
        page_size: page size recorded in the chosen meta page.
        txid: transaction ID of the chosen meta page.
        root: the root bucket; its keys are the top-level buckets.
    """

    def __init__(self, data: bytes, path: str, layout: _Layout, meta: Any, root_at: int) -> None:
        self._data = data
        self.path = path
        self._layout = layout
        self._hwm = int(meta.pgid)
        self.byte_order: str = layout.byte_order
        self.page_size: int = int(meta.page_size)
        self.txid: int = int(meta.txid)
        header = meta.root
        self.root = BoltBucket(
            self, (), int(header.root), int(header.sequence), root_at, None, set()
        )

    @classmethod
    def from_file(
        cls, file: BinaryIO, size: int, path: str = "metadata.db",
        reopen: Callable[[], BinaryIO] | None = None,
    ) -> BoltDB:
        """Open a bbolt file of ``size`` bytes, reading only the pages the walk visits.

        ``reopen`` tells how a forked process opens the file for itself (:class:`PagedFile`).

        Raises:
            FormatError: as :meth:`from_bytes`, or the file cannot be read.
        """
        return cls.from_bytes(cast(bytes, PagedFile(file, size, path, reopen)), path)

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "metadata.db") -> BoltDB:
        """Parse a whole bbolt file held in memory.

        Raises:
            FormatError: neither meta page is valid or the page size is unusable.
        """
        if not isinstance(data, PagedFile):
            data = bytes(data)
        found = _meta_at(data, 0)
        if isinstance(found, str):  # bbolt's getPageSize: probe meta 1 at likely page sizes
            probes = {size: _meta_at(data, size) for size in PROBE_PAGE_SIZES}
            valid = [m for m in probes.values() if not isinstance(m, str)]
            if not valid:
                why = "; ".join(f"at {size}: {m}" for size, m in probes.items())
                raise FormatError(path, f"no valid meta page (meta 0: {found}; meta 1 {why})", 0)
            found = valid[0]
        layout, page_size = found[0], int(found[1].page_size)
        if page_size < 512 or page_size & (page_size - 1):
            raise FormatError(path, f"meta page size {page_size} is not a power of two >= 512")
        metas = [_meta_at(data, 0, layout), _meta_at(data, page_size, layout)]
        valid_metas = [(i, m[1]) for i, m in enumerate(metas) if not isinstance(m, str)]
        if not valid_metas:
            raise FormatError(path, f"no valid meta page at page size {page_size}", 0)
        # bbolt's DB.meta(): the higher txid wins; max() keeps meta 0 on a tie.
        index, meta = max(valid_metas, key=lambda im: int(im[1].txid))
        if int(meta.page_size) != page_size:
            raise FormatError(
                path,
                f"meta {index} has page size {meta.page_size}, "
                f"but meta pages are {page_size} bytes apart",
                index * page_size + PAGE_HEADER_SIZE + 8,
            )
        return cls(data, path, layout, meta, index * page_size + PAGE_HEADER_SIZE + 16)

    @property
    def data(self) -> bytes:
        """The file's bytes (read on demand when opened with :meth:`from_file`)."""
        return self._data

    def bucket(self, *names: bytes) -> BoltBucket | None:
        """Return the bucket at ``names`` below the root, or None if any step is absent."""
        current: BoltBucket | None = self.root
        for name in names:
            current = current.bucket(name) if current is not None else None
        return current

    def _error(self, message: str, offset: int | None) -> FormatError:
        return FormatError(self.path, message, offset)

    def _parse(self, struct: Any, offset: int, end: int, what: str) -> Any:
        """Parse ``struct`` at ``offset``, which must end at or before ``end``."""
        size = int(struct.sizeof())
        if offset + size > end:
            raise self._error(f"{what} ({size} bytes) runs past offset {end}", offset)
        try:
            return struct.parse(self._data[offset : offset + size])
        except cs.ConstructError as exc:  # fixed-size fields on a checked slice: not expected
            raise self._error(f"{what}: {exc}", offset) from exc

    def _page(self, pgid: int, referrer: int) -> tuple[Any, int, int]:
        """Return the header, start and end offset of page ``pgid`` (with overflow pages).

        ``referrer`` is the offset of the element that names the page, blamed for bad references.
        """
        size = len(self._data)
        start = pgid * self.page_size
        if start + PAGE_HEADER_SIZE > size:
            raise self._error(
                f"page {pgid} lies beyond the end of the file ({size} bytes)", referrer
            )
        if pgid >= self._hwm:
            raise self._error(f"page {pgid} is beyond the high-water mark {self._hwm}", referrer)
        header = self._parse(self._layout.page_header, start, size, f"page {pgid} header")
        if header.id != pgid:
            raise self._error(f"page {pgid} identifies itself as page {header.id}", start)
        overflow = int(header.overflow)
        end = start + (1 + overflow) * self.page_size
        if end > size:
            raise self._error(
                f"page {pgid} with {overflow} overflow pages runs past the end of the file "
                f"({size} bytes)",
                start + 12,
            )
        if pgid + overflow >= self._hwm:
            raise self._error(
                f"page {pgid} with {overflow} overflow pages runs beyond the high-water mark "
                f"{self._hwm}",
                start + 12,
            )
        return header, start, end


class BoltBucket:
    """One bucket, read in full on first use; damage raises :class:`FormatError` then.

    Attributes:
        sequence: the bucket's ``NextSequence`` counter.
    """

    def __init__(
        self,
        db: BoltDB,
        names: tuple[bytes, ...],
        root: int,
        sequence: int,
        header_at: int,
        inline: tuple[int, int, bytes] | None,
        ancestors: set[int],
    ) -> None:
        self._db = db
        self._names = names
        self._root = root
        self._header_at = header_at  # where the bucket header (or meta root field) lies
        self._inline = inline  # (start, end, bytes) of the embedded leaf page
        self._ancestors = ancestors | {root} if inline is None else ancestors
        self._entries: dict[bytes, bytes | BoltBucket] | None = None
        self.sequence = sequence

    def items(self) -> Iterator[tuple[bytes, bytes | BoltBucket]]:
        """Yield ``(key, value)`` in unsigned byte order; nested buckets as BoltBucket."""
        yield from self._load().items()

    def keys(self) -> list[bytes]:
        """Return all keys (plain values and nested buckets) in order."""
        return list(self._load())

    def get(self, key: bytes) -> bytes | None:
        """Return the plain value of ``key``; None if absent or a bucket."""
        value = self._load().get(key)
        return value if isinstance(value, bytes) else None

    def bucket(self, name: bytes) -> BoltBucket | None:
        """Return the nested bucket ``name``; None if absent or a plain value."""
        value = self._load().get(name)
        return value if isinstance(value, BoltBucket) else None

    def __repr__(self) -> str:
        return f"<BoltBucket {self._where}>"

    @property
    def _where(self) -> str:
        names = "/".join(n.decode("utf-8", "backslashreplace") for n in self._names)
        return f"bucket {names!r}" if names else "root bucket"

    def _load(self) -> dict[bytes, bytes | BoltBucket]:
        if self._entries is None:
            entries: dict[bytes, bytes | BoltBucket] = {}
            if self._inline is not None:
                start, end, region = self._inline
                if start + PAGE_HEADER_SIZE > end:  # checked by _child; kept for safety
                    raise self._db._error(f"{self._where}: inline page runs past {end}", start)
                count = self._db._layout.fast_page_header.unpack_from(region)[2]
                self._leaf(start, end, count, entries, region)
            else:
                self._walk(self._root, 0, set(), entries, self._header_at)
            self._entries = entries
        return self._entries

    def _walk(
        self,
        pgid: int,
        depth: int,
        visited: set[int],
        out: dict[bytes, bytes | BoltBucket],
        referrer: int,
    ) -> None:
        db = self._db
        if depth > MAX_DEPTH:
            raise db._error(
                f"{self._where}: B+tree deeper than {MAX_DEPTH} at page {pgid}", referrer
            )
        if pgid in visited:
            raise db._error(f"{self._where}: page {pgid} is reached twice (cycle)", referrer)
        visited.add(pgid)
        header, start, end = db._page(pgid, referrer)
        count = int(header.count)
        if header.flags == LEAF_PAGE:
            self._leaf(start, end, count, out)
            return
        if header.flags != BRANCH_PAGE:
            raise db._error(
                f"{self._where}: page {pgid} has flags {header.flags:#x}, "
                "expected branch (0x1) or leaf (0x2)",
                start + 8,
            )
        self._check_count(start, end, count, "branch")
        for i in range(count):
            at = start + PAGE_HEADER_SIZE + i * ELEMENT_SIZE
            elem = db._parse(db._layout.branch_element, at, end, f"page {pgid} branch element {i}")
            if at + elem.pos + elem.ksize > end:
                raise db._error(f"page {pgid} branch element {i} key runs past the page", at)
            self._walk(int(elem.pgid), depth + 1, visited, out, at)

    def _leaf(
        self, start: int, end: int, count: int, out: dict[bytes, bytes | BoltBucket],
        page: bytes | None = None,
    ) -> None:
        """Read the leaf at ``[start, end)`` of the file (its bytes ``page``, if at hand)."""
        db = self._db
        self._check_count(start, end, count, "leaf")
        # The page is taken from the file once (an inline bucket's from its parent's page);
        # keys and values are sliced from it, not each from the file (a file read page by page
        # would cost a call each).
        if page is None:
            page = db._data[start:end]
        headers = db._layout.fast_leaf.iter_unpack(
            page[PAGE_HEADER_SIZE : PAGE_HEADER_SIZE + count * ELEMENT_SIZE]
        )
        size = end - start
        # keys must ascend across the pages of a branch too: compare with the last one so far
        last = next(reversed(out)) if out else b""
        at = PAGE_HEADER_SIZE  # each element's own offset, which its ``pos`` is relative to
        for flags, pos, ksize, vsize in headers:
            k_start = at + pos
            v_start = k_start + ksize
            v_end = v_start + vsize
            if v_end > size:
                i = (at - PAGE_HEADER_SIZE) // ELEMENT_SIZE
                raise db._error(
                    f"{self._where}: leaf element {i} data [{start + k_start}, {start + v_end}) "
                    f"runs past its page (ends at {end})",
                    start + at,
                )
            key = page[k_start:v_start]
            if key <= last and (out or at > PAGE_HEADER_SIZE):
                raise db._error(f"{self._where}: key {key!r} is out of order", start + k_start)
            last = key
            if flags & BUCKET_LEAF_FLAG:
                out[key] = self._child(key, start + v_start, start + v_end, page, start)
            else:
                out[key] = page[v_start:v_end]
            at += ELEMENT_SIZE

    def _check_count(self, start: int, end: int, count: int, kind: str) -> None:
        if start + PAGE_HEADER_SIZE + count * ELEMENT_SIZE > end:
            raise self._db._error(
                f"{self._where}: {count} {kind} element headers do not fit in the page "
                f"at {start} (ends at {end})",
                start + 10,
            )

    def _child(self, key: bytes, start: int, end: int, page: bytes, base: int) -> BoltBucket:
        """The bucket whose header lies at ``start``, in ``page`` (which starts at ``base``)."""
        db = self._db
        names = (*self._names, key)
        if len(names) > MAX_DEPTH:
            raise db._error(f"{self._where}: buckets nest deeper than {MAX_DEPTH}", start)
        if start + BUCKET_HEADER_SIZE > end:
            raise db._error(
                f"bucket {key!r} header ({BUCKET_HEADER_SIZE} bytes) runs past offset {end}",
                start,
            )
        root, sequence = db._layout.fast_bucket_header.unpack_from(page, start - base)
        inline = None
        if root == 0:
            inline_at = start + BUCKET_HEADER_SIZE
            if inline_at + PAGE_HEADER_SIZE > end:
                raise db._error(
                    f"inline bucket {key!r} ({PAGE_HEADER_SIZE} bytes) runs past offset {end}",
                    inline_at,
                )
            flags = db._layout.fast_page_header.unpack_from(page, inline_at - base)[1]
            if flags != LEAF_PAGE:
                raise db._error(
                    f"inline bucket {key!r} page has flags {flags:#x}, expected leaf (0x2)",
                    inline_at + 8,
                )
            inline = (inline_at, end, page[inline_at - base : end - base])
        elif root in self._ancestors:
            raise db._error(
                f"{self._where}: bucket {key!r} has root page {root} of an "
                "enclosing bucket (cycle)",
                start,
            )
        return BoltBucket(db, names, root, sequence, start, inline, self._ancestors)


def _meta_at(
    data: bytes, page_offset: int, layout: _Layout | None = None
) -> tuple[_Layout, Any] | str:
    """Return the layout and meta at ``page_offset`` if valid, else why not."""
    raw = data[
        page_offset + PAGE_HEADER_SIZE : page_offset + PAGE_HEADER_SIZE + LITTLE.meta.sizeof()
    ]
    if len(raw) < LITTLE.meta.sizeof():
        return f"truncated at {len(data)} bytes"
    for candidate in (layout,) if layout else (LITTLE, BIG):
        try:
            meta = candidate.meta.parse(raw)
        except cs.ConstructError as exc:  # fixed-size fields on a checked slice: not expected
            return str(exc)
        if meta.magic != MAGIC:
            continue
        if meta.version != VERSION:
            return f"version {meta.version}, expected {VERSION}"
        if meta.checksum != fnv1a64(raw[:_META_SUMMED]):
            return f"checksum mismatch (stored {meta.checksum:#018x})"
        return candidate, meta
    return f"bad magic {raw[:4].hex()}"
