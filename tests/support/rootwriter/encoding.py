"""Docker's on-disk encodings: Go's JSON and time formats, OCI chain IDs, CRC-64/ISO."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def go_json(obj: Any) -> bytes:
    """Compact JSON as Go's ``encoding/json`` writes it (HTML characters escaped)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()


def go_time(when: dt.datetime, nanos: int = 0) -> str:
    """``time.Time`` marshalled as RFC 3339 with nanoseconds, trailing zeros trimmed (UTC)."""
    frac = f"{nanos:09d}".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI ChainIDs: ChainID(1) = D1, ChainID(k) = sha256("ChainID(k-1) Dk")."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


_CRC64_ISO_POLY = 0xD800000000000000  # reflected form of x^64 + x^4 + x^3 + x + 1
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC64_ISO_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64_TABLE = _crc64_table()


def crc64_iso(data: bytes) -> bytes:
    """Go's ``crc64.Checksum(data, crc64.MakeTable(crc64.ISO))``, big-endian (tar-split's form)."""
    crc = _MASK64
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return (crc ^ _MASK64).to_bytes(8, "big")


def self_test() -> None:
    """The encodings against the test vectors of docker-root-format.md §2.2 and §7.3."""
    d1 = "sha256:87f80e8765085c2f35807bfa5dc6d4b8b72ecefda871be188b306018f08b679a"
    d2 = "sha256:8906c10f9195e5598feca026705a3229fb2be03064c3b0ebc5561ed0e4555d2e"
    assert chain_ids([d1, d2]) == [
        d1,
        "sha256:4e6c29be423fdb6f65db62ae3bcf85e20a28a1a218ad7b3bd20f45bb08d6c808",
    ]
    assert crc64_iso(b"123456789").hex() == "b90956c775a41001"
    assert base64.b64encode(crc64_iso(b"c\n")).decode() == "YUdAAAAAAAA="
    assert crc64_iso(b"") == bytes(8)
