"""tar-split: the bytes of a layer tar that are not file contents (``tar-split.json.gz``).

Docker keeps, for each image layer, a gzip of JSON lines: segments (type 2, raw bytes in base64:
headers, PAX records, padding, the end-of-archive blocks) and file entries (type 1: name or
``name_raw``, size, and the CRC-64/ISO of the contents in base64, big-endian). Concatenating the
segments and splicing each file's contents back in gives the original layer tar byte for byte;
its SHA-256 is the layer's diff ID.

References: ``vbatts/tar-split`` ``tar/storage/entry.go``, ``tar/asm/assemble.go``,
``tar/storage/getter.go`` (``crc64.ISO``); ``docker-root-format.md`` §7.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from storagekit.errors import FormatError
from storagekit.formats.crc64 import Crc64 as Crc64  # re-exported for verify

SEGMENT = 2
FILE = 1
#: One JSON line is never this long in a sane file (segments hold a header or a padding chunk).
MAX_LINE = 64 << 20


@dataclass(frozen=True, slots=True)
class Segment:
    """Raw bytes of the tar stream."""

    data: bytes


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A member whose contents come from the layer's files."""

    name: str  # as in the tar header; non-UTF-8 bytes as surrogate escapes
    size: int
    crc: bytes | None  # 8 bytes, big-endian; None for empty members


def entries(raw: BinaryIO, path: str) -> Iterator[Segment | FileEntry]:
    """The entries of a ``tar-split.json.gz`` stream, in order.

    Raises:
        FormatError: the gzip or a JSON line is damaged (at the line where it happens).
    """
    try:
        with gzip.GzipFile(fileobj=raw) as lines:
            for number, line in enumerate(iter(lambda: lines.readline(MAX_LINE), b""), 1):
                yield _entry(line, path, number)
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(path, f"damaged gzip stream: {exc}") from None


def _entry(line: bytes, path: str, number: int) -> Segment | FileEntry:
    try:
        obj = json.loads(line)
        kind = obj["type"]
        payload = obj.get("payload")
        if kind == SEGMENT:
            return Segment(base64.b64decode(payload or b"", validate=True))
        if kind == FILE:
            if obj.get("name_raw"):
                name = base64.b64decode(obj["name_raw"]).decode("utf-8", "surrogateescape")
            else:
                # Go's decoder turns a lone surrogate escape (``"\ud800"``) into U+FFFD.
                name = _GO_SURROGATE.sub("\ufffd", str(obj.get("name", "")))
            crc = base64.b64decode(payload, validate=True) if payload else None
            size = int(obj.get("size") or 0)
            if size < 0 or (crc is not None and len(crc) != 8):
                raise ValueError("bad size or checksum")
            return FileEntry(name, size, crc)
        raise ValueError(f"unknown entry type {kind!r}")
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error) as exc:
        # OverflowError: ``"size": 1e400`` is an infinite float.
        raise FormatError(path, f"line {number}: not a tar-split entry ({exc})") from None
    except RecursionError:
        raise FormatError(path, f"line {number}: nests too deeply to parse") from None


_GO_SURROGATE = re.compile("[\ud800-\udfff]")
