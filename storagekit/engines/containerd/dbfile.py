"""containerd's BoltDB files, opened for reading page by page, and which meta page was used.

A torn BoltDB (copied while the daemon wrote it) has one invalid meta page; bbolt, and
``formats/bolt.py``, then use the other one. Which one was used is recomputed here from the two
meta pages (without touching the parser) and reported as a ``torn-database`` finding.

References: etcd-io/bbolt ``db.go`` (``meta``: the valid meta page with the higher txid).
"""

from __future__ import annotations

from typing import Literal

from storagekit.engines.containerd.model import BoltMeta
from storagekit.errors import FormatError, SourceError
from storagekit.formats.bolt import MAGIC, PAGE_HEADER_SIZE, VERSION, BoltDB, fnv1a64
from storagekit.model import Findings
from storagekit.source import Source


class Database:
    """A BoltDB file of the evidence, open for reading page by page as long as the root is."""

    def __init__(self, source: Source, path: str, findings: Findings) -> None:
        """Open it and tell which meta page was used (FormatError if it cannot be opened)."""
        try:
            self.file = source.open(path)
        except SourceError as exc:
            raise FormatError(path, f"cannot read: {exc}") from None
        try:
            size = source.stat(path).size
            # a worker forked while the root is open reads with a file of its own
            self.db = BoltDB.from_file(self.file, size, path, lambda: source.open(path))
        except (SourceError, FormatError) as exc:
            self.file.close()
            raise exc if isinstance(exc, FormatError) else FormatError(path, str(exc)) from None
        self.meta = meta_used(self.db, path, findings)


def meta_used(db: BoltDB, path: str, findings: Findings) -> BoltMeta:
    """Which meta page ``db`` was read from, recomputed from both (a torn one is a finding)."""
    data = db.data
    order: Literal["little", "big"] = "little" if db.byte_order == "little" else "big"
    valid: dict[int, int] = {}
    for page in (0, 1):
        at = page * db.page_size + PAGE_HEADER_SIZE
        raw = data[at:at + 64]
        if len(raw) < 64:
            continue
        if (int.from_bytes(raw[0:4], order) == MAGIC
                and int.from_bytes(raw[4:8], order) == VERSION
                and int.from_bytes(raw[56:64], order) == fnv1a64(raw[:56])):
            valid[page] = int.from_bytes(raw[48:56], order)
    used = max((p for p in valid if valid[p] == db.txid), default=None)
    other = None if used is None else (1 - used) in valid
    if used is not None and other is False:
        findings.warning("torn-database", path,
                         f"meta page {1 - used} is invalid (a torn copy?); meta page {used} "
                         f"(txid {db.txid}) was used")
    return BoltMeta(path, db.txid, used, other)
