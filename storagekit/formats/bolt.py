"""Read-only parser for BoltDB (bbolt) files, format version 2.

Docker keeps ``volumes/metadata.db``, ``network/files/local-kv.db`` and others in this format,
and containerd its ``meta.db`` (docker-root-format.md §9). The facts this module relies on:

* The file is an array of pages of ``P`` bytes; page ``n`` starts at ``n * P``. Every page starts
  with a 16-byte header ``{id u64, flags u16, count u16, overflow u32}``; flags are ``0x01``
  branch, ``0x02`` leaf, ``0x04`` meta, ``0x10`` freelist, and the page spans ``1 + overflow``
  consecutive pages. bbolt asserts that ``id`` equals the page number (``Page.FastCheck``).
* Pages 0 and 1 hold the meta structs; which one is used, the page size ``P`` and the byte
  order come from :mod:`storagekit.formats.boltmeta`.
* Leaf elements ``{flags, pos, ksize, vsize}`` and branch elements ``{pos, ksize, pgid}`` are
  16 bytes each after the page header; ``pos`` is relative to the element itself and data may run
  into the overflow pages. A leaf element with flag ``0x01`` is a nested bucket whose value starts
  with a bucket header ``{root u64, sequence u64}``; ``root == 0`` means an inline bucket whose
  leaf page is embedded in the value at offset 16.
* Every structure is read with a fixed ``struct`` format in the file's byte order, a leaf's
  element headers all at once; keys and values are slices of the page.

Damage never escapes as anything but :class:`~storagekit.errors.FormatError`. Pages are reached
only by traversal from the chosen meta, so stale and free pages are never read.

References: etcd-io/bbolt ``internal/common/page.go``, ``internal/common/meta.go``,
``internal/common/bucket.go``, ``db.go`` (``getPageSize``, ``meta``), ``bucket.go``
(``openBucket``), ``tx_check.go``.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from storagekit.errors import FormatError
from storagekit.formats.boltmeta import (
    MAGIC,
    PAGE_HEADER_SIZE,
    VERSION,
    Layout,
    Meta,
    choose_meta,
    fnv1a64,
)
from storagekit.formats.pagedfile import PagedFile

__all__ = ["MAGIC", "PAGE_HEADER_SIZE", "VERSION", "BoltBucket", "BoltDB", "fnv1a64"]

BRANCH_PAGE, LEAF_PAGE = 0x01, 0x02
BUCKET_LEAF_FLAG = 0x01
ELEMENT_SIZE = BUCKET_HEADER_SIZE = 16
#: Limit for both B+tree depth and bucket nesting; real files stay far below.
MAX_DEPTH = 64


class BoltDB:
    """An open bbolt file: the chosen meta page and the root bucket.

    Attributes:
        path: the artefact, as named in error messages.
        byte_order: ``"little"`` or ``"big"``, as told by the meta magic.
        page_size: page size recorded in the chosen meta page.
        txid: transaction ID of the chosen meta page.
        root: the root bucket; its keys are the top-level buckets.
    """

    def __init__(self, data: bytes, path: str, layout: Layout, meta: Meta, root_at: int) -> None:
        self._data = data
        self.path = path
        self._layout = layout
        self._hwm = meta.pgid
        self.byte_order: str = layout.byte_order
        self.page_size: int = meta.page_size
        self.txid: int = meta.txid
        self.root = BoltBucket(self, (), meta.root, meta.sequence, root_at, None, frozenset())
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
        if not isinstance(data, PagedFile | mmap.mmap):  # a map: the caller's, read-only
            data = bytes(data)
        layout, meta, at = choose_meta(data, path)
        return cls(data, path, layout, meta, at + 16)

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

    def _page(self, pgid: int, referrer: int) -> tuple[tuple[int, int, int, int], int, int]:
        """Return the header, start and end offset of page ``pgid`` (with its overflow pages).

        The header is ``(id, flags, count, overflow)``; ``referrer`` is the offset of the
        element that names the page, blamed for bad references.
        """
        size = len(self._data)
        start = pgid * self.page_size
        if start + PAGE_HEADER_SIZE > size:
            raise self._error(
                f"page {pgid} lies beyond the end of the file ({size} bytes)", referrer
            )
        if pgid >= self._hwm:
            raise self._error(f"page {pgid} is beyond the high-water mark {self._hwm}", referrer)
        header = self._layout.page_header.unpack(self._data[start : start + PAGE_HEADER_SIZE])
        if header[0] != pgid:
            raise self._error(f"page {pgid} identifies itself as page {header[0]}", start)
        overflow = header[3]
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

    __slots__ = ("_db", "_names", "_root", "_header_at", "_inline", "_ancestors", "_entries",
                 "sequence")

    def __init__(
        self,
        db: BoltDB,
        names: tuple[bytes, ...],
        root: int,
        sequence: int,
        header_at: int,
        inline: tuple[int, int, bytes] | None,
        ancestors: frozenset[int],
    ) -> None:
        self._db = db
        self._names = names
        self._root = root
        self._header_at = header_at  # where the bucket header (or meta root field) lies
        self._inline = inline  # (start, end, bytes) of the embedded leaf page
        # the root pages of this bucket and those enclosing it (an inline bucket has none)
        self._ancestors = ancestors | {root} if inline is None else ancestors
        self._entries: dict[bytes, bytes | BoltBucket] | None = None
        self.sequence = sequence

    def items(self) -> Iterator[tuple[bytes, bytes | BoltBucket]]:
        """Yield ``(key, value)`` in unsigned byte order; nested buckets as BoltBucket."""
        entries = self._entries
        yield from (entries if entries is not None else self._load()).items()

    def keys(self) -> list[bytes]:
        """Return all keys (plain values and nested buckets) in order."""
        entries = self._entries
        return list(entries if entries is not None else self._load())

    def get(self, key: bytes) -> bytes | None:
        """Return the plain value of ``key``; None if absent or a bucket."""
        entries = self._entries
        value = (entries if entries is not None else self._load()).get(key)
        return value if isinstance(value, bytes) else None

    def bucket(self, name: bytes) -> BoltBucket | None:
        """Return the nested bucket ``name``; None if absent or a plain value."""
        entries = self._entries
        value = (entries if entries is not None else self._load()).get(name)
        return value if isinstance(value, BoltBucket) else None

    def __repr__(self) -> str:
        return f"<BoltBucket {self._where}>"

    @property
    def _where(self) -> str:
        names = "/".join(n.decode("utf-8", "backslashreplace") for n in self._names)
        return f"bucket {names!r}" if names else "root bucket"

    def read_once(self) -> dict[bytes, bytes | BoltBucket]:
        """Every ``key: value`` of the bucket, read now and not kept by it (if not kept yet).

        For a bucket read once, whose values are used and dropped (a thousand containers'
        12 KB configs): kept, their copies would all stay in memory, each new one on fresh
        pages; dropped, each one's memory serves the next. The same entries, or the same
        :class:`FormatError`, as :meth:`items` gives.
        """
        entries = self._entries
        return entries if entries is not None else self._read()

    def _load(self) -> dict[bytes, bytes | BoltBucket]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[bytes, bytes | BoltBucket]:
        entries: dict[bytes, bytes | BoltBucket] = {}
        if self._inline is not None:
            start, end, region = self._inline
            if start + PAGE_HEADER_SIZE > end:  # checked by the parent; kept for safety
                raise self._db._error(f"{self._where}: inline page runs past {end}", start)
            count = self._db._layout.page_header.unpack_from(region)[2]
            self._leaf(start, end, count, entries, region)
        else:
            self._walk(self._root, 0, set(), entries, self._header_at)
        return entries

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
        (_, flags, count, _), start, end = db._page(pgid, referrer)
        if flags == LEAF_PAGE:
            self._leaf(start, end, count, out)
            return
        if flags != BRANCH_PAGE:
            raise db._error(
                f"{self._where}: page {pgid} has flags {flags:#x}, "
                "expected branch (0x1) or leaf (0x2)",
                start + 8,
            )
        self._check_count(start, end, count, "branch")
        first = start + PAGE_HEADER_SIZE
        elements = db._layout.branch_element.iter_unpack(
            db._data[first : first + count * ELEMENT_SIZE])
        for i, (pos, ksize, child) in enumerate(elements):
            at = first + i * ELEMENT_SIZE
            if at + pos + ksize > end:
                raise db._error(f"page {pgid} branch element {i} key runs past the page", at)
            self._walk(child, depth + 1, visited, out, at)

    def _leaf(
        self, start: int, end: int, count: int, out: dict[bytes, bytes | BoltBucket],
        page: bytes | None = None,
    ) -> None:
        """Read the leaf at ``[start, end)`` of the file (its bytes ``page``, if at hand).

        One loop over the element headers, unpacked together; keys and values are slices of
        the file's bytes when the file is held in memory (bytes or a map: each slice is the one
        copy made), else of the page, taken from the file once (a file read page by page would
        cost a call each); an inline bucket's are slices of its page, cut from its parent's.
        """
        db = self._db
        self._check_count(start, end, count, "leaf")
        base = 0  # where the page starts in ``page``
        if page is None:
            data = db._data
            if isinstance(data, PagedFile):
                page = data[start:end]
            else:  # slicing the file itself: the same bytes, without copying the page first
                page, base = data, start
        first = base + PAGE_HEADER_SIZE
        headers = db._layout.leaf_element.iter_unpack(page[first : first + count * ELEMENT_SIZE])
        size = end - start
        # keys must ascend across the pages of a branch too: compare with the last one so far
        last = next(reversed(out)) if out else None
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
            key = page[base + k_start : base + v_start]
            if last is not None and key <= last:
                raise db._error(f"{self._where}: key {key!r} is out of order", start + k_start)
            last = key
            if flags & BUCKET_LEAF_FLAG:
                out[key] = self._child(key, start + v_start, start + v_end, page, start - base)
            else:
                out[key] = page[base + v_start : base + v_end]
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
        root, sequence = db._layout.bucket_header.unpack_from(page, start - base)
        inline = None
        if root == 0:
            inline_at = start + BUCKET_HEADER_SIZE
            if inline_at + PAGE_HEADER_SIZE > end:
                raise db._error(
                    f"inline bucket {key!r} ({PAGE_HEADER_SIZE} bytes) runs past offset {end}",
                    inline_at,
                )
            flags = db._layout.page_header.unpack_from(page, inline_at - base)[1]
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
