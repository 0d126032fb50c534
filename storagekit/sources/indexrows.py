"""How one archive index record is kept in the cache's SQLite rows, and checked coming back.

A record (:data:`~storagekit.sources.tarindex.Rec`) becomes one ``member`` row: its number in
archive order, its parent's number, its name (bytes: member names need not be UTF-8), the kind
as a small integer, the numbers (a hostile PAX record's number past 64 bits as decimal text),
and the rare parts (:class:`~storagekit.sources.tarindex.Extra`) as JSON. Reading a row back
checks every field's type and range and raises :class:`Unsound` otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storagekit.source import Cut, FileType
from storagekit.sources.tarindex import Extra, Rec

_KINDS = list(FileType)
_KIND_CODE = {kind: i for i, kind in enumerate(_KINDS)}
_INT64 = 1 << 63


@dataclass(frozen=True)
class IndexFacts:
    """What indexing found besides the records: problems, the cut, xattrs, a limit reached."""

    problems: tuple[str, ...]
    cut: Cut | None
    xattr_members: int
    limit_reached: str | None


class Unsound(Exception):
    """A kept index does not hold what this module writes."""


def to_bytes(text: str) -> bytes:
    """A path or name as kept: its original bytes."""
    return text.encode("utf-8", "surrogateescape")


def to_text(raw: object) -> str:
    """A kept path or name back as text (Unsound if it is not bytes)."""
    if not isinstance(raw, bytes):
        raise Unsound("a path is not stored as bytes")
    return raw.decode("utf-8", "surrogateescape")


def name_of(raw: object) -> str:
    """A kept name back as text, if it is one path component (Unsound otherwise)."""
    name = to_text(raw)
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise Unsound(f"not a plain name: {name!r}")
    return name


def _store_int(n: int) -> int | str:
    """SQLite integers are 64-bit; a hostile PAX record's larger number is kept as text."""
    return n if -_INT64 <= n < _INT64 else str(n)


def _int(value: object) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 4000:
        return int(value)
    raise Unsound(f"not an integer: {value!r}")


def row_of(seqs: dict[str, int], seq: int, path: str, rec: Rec) -> tuple[object, ...]:
    """The row of ``path``: its number, its parent's, its name and its record.

    A parent comes before its children in the index; the top is its own parent.
    """
    kind, mode, uid, gid, size, mtime, offset, extra = rec
    parent, _, name = path.rpartition("/")
    seqs[path] = seq
    return (
        seq,
        seqs[parent] if path else seq,
        to_bytes(name),
        _KIND_CODE[kind],
        mode,
        _store_int(uid),
        _store_int(gid),
        _store_int(size),
        _store_int(mtime),
        offset,
        None if extra is None else json.dumps(_extra_record(extra)),
    )


def _extra_record(extra: Extra) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if extra.link_target is not None:
        out["t"] = extra.link_target
    if extra.rdev is not None:
        out["r"] = list(extra.rdev)
    if extra.xattrs is not None:
        out["x"] = {k: v.decode("latin-1") for k, v in extra.xattrs.items()}
    if extra.inode is not None:
        out["i"] = extra.inode
    if extra.chunks is not None:
        out["c"] = [list(c) for c in extra.chunks]
    if extra.damage is not None:
        out["d"] = extra.damage
    return out


def _extra(text: object) -> Extra | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise Unsound("extra is not text")
    raw = json.loads(text)
    if not isinstance(raw, dict) or not set(raw) <= set("trxicd"):
        raise Unsound("unknown extra")
    for key in ("t", "i", "d"):
        if key in raw and not isinstance(raw[key], str):
            raise Unsound(f"extra {key} is not text")
    rdev: tuple[int, int] | None = None
    if "r" in raw:
        numbers = raw["r"]
        if not isinstance(numbers, list) or len(numbers) != 2:
            raise Unsound("bad device numbers")
        rdev = (_int(numbers[0]), _int(numbers[1]))
    xattrs = raw.get("x")
    if xattrs is not None:
        if not isinstance(xattrs, dict) or not all(isinstance(v, str) for v in xattrs.values()):
            raise Unsound("bad xattrs")
        xattrs = {k: v.encode("latin-1") for k, v in xattrs.items()}
    chunks = raw.get("c")
    if chunks is not None:
        if not isinstance(chunks, list) or not all(
            isinstance(c, list) and len(c) == 3 and all(type(n) is int and n >= 0 for n in c)
            for c in chunks
        ):
            raise Unsound("bad sparse map")
        chunks = tuple((c[0], c[1], c[2]) for c in chunks)
    return Extra(raw.get("t"), rdev, xattrs, raw.get("i"), chunks, raw.get("d"))


def facts_of(raw: object) -> IndexFacts:
    """The kept facts of an index, checked."""
    if not isinstance(raw, dict):
        raise Unsound("facts")
    problems, cut, members, limit = (
        raw["problems"],
        raw["cut"],
        raw["xattr_members"],
        raw["limit_reached"],
    )
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        raise Unsound("problems")
    if type(members) is not int or not (limit is None or isinstance(limit, str)):
        raise Unsound("facts")
    if cut is not None:
        if not isinstance(cut, dict):
            raise Unsound("cut")
        cut = Cut(**cut)
        if not (
            isinstance(cut.why, str)
            and type(cut.archive_bytes) is int
            and type(cut.tar_bytes) is int
            and (cut.last is None or isinstance(cut.last, str))
            and isinstance(cut.truncated_member, bool)
        ):
            raise Unsound("cut")
    return IndexFacts(tuple(problems), cut, members, limit)


def rec_of(row: tuple[Any, ...]) -> Rec:
    """The record of a ``member`` row's columns from ``kind`` on, checked."""
    kind, mode, uid, gid, size, mtime, offset, extra = row
    if type(kind) is not int or not 0 <= kind < len(_KINDS):
        raise Unsound("kind")
    if type(mode) is not int or not 0 <= mode <= 0o7777:
        raise Unsound("mode")
    if type(offset) is not int or offset < 0:
        raise Unsound("offset")
    numbers = (_int(uid), _int(gid), _int(size), _int(mtime))
    return (_KINDS[kind], mode, *numbers, offset, _extra(extra))
