"""The small encodings inside containerd's BoltDB values.

containerd's ``meta.db`` and its snapshotters' ``metadata.db`` store values in a handful of Go
encodings (containerd-podman-format.md §1):

* **Signed varint** — ``binary.PutVarint``: zigzag (``(n << 1) ^ (n >> 63)``) then base-128,
  least significant group first. meta.db's ``size`` of a content blob and its ``version``: a
  1,083,971-byte blob stores zigzag 2,167,942 (``86 a9 84 01``).
* **Unsigned varint** — ``binary.PutUvarint``: the snapshotter database's ``id`` and the keys
  of its ``parents`` bucket (its ``inodes`` and ``size`` are signed, ``kind`` is one byte).
  At most 10 bytes; a value must fill its BoltDB value exactly (containerd writes
  ``buf[:n]``).
* **Timestamps** — Go ``time.Time.MarshalBinary``: version 1 is 15 bytes (version, 8 B big-endian
  seconds since 0001-01-01T00:00:00Z, 4 B nanoseconds, 2 B signed zone offset in minutes, ``-1``
  meaning UTC); version 2 (Go ≥ 1.15, zones with a seconds offset) adds one signed byte of
  offset seconds. Go's zero time (seconds 0, nanoseconds 0) means "never" and becomes ``None``.
* **protobuf ``Any``** — ``spec``, ``runtime/options`` and ``extensions/*``: field 1 (``type_url``)
  and field 2 (``value``), both length-delimited; the OCI runtime spec is JSON inside ``value``.

Damage never escapes as anything but :class:`~storagekit.errors.FormatError`.

References: Go ``encoding/binary/varint.go``, ``time/time.go`` (``MarshalBinary``,
``UnmarshalBinary``); containerd ``metadata/boltutil/helpers.go``, ``metadata/containers.go``
(``readSpec``), ``snapshots/storage/bolt.go``; protobuf ``google/protobuf/any.proto`` and the
wire-format encoding guide.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from storagekit.errors import FormatError
from storagekit.timefmt import go_nano

#: Seconds from 0001-01-01T00:00:00Z (Go's internal epoch) to the Unix epoch.
UNIX_TO_INTERNAL = 62135596800
#: Seconds from Go's internal epoch to 10000-01-01T00:00:00Z: the years 1–9999 come before.
YEAR_10000 = 315537897600
MAX_VARINT_LEN = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def uvarint_at(data: bytes, offset: int = 0, path: str = "value") -> tuple[int, int]:
    """Decode a ``PutUvarint`` number at ``offset``; return it and the offset after it.

    Raises:
        FormatError: the bytes end inside the number or it overflows 64 bits.
    """
    value = shift = 0
    for i in range(MAX_VARINT_LEN):
        if offset + i >= len(data):
            raise FormatError(path, "varint runs past the end of the value", offset)
        byte = data[offset + i]
        if i == MAX_VARINT_LEN - 1 and byte > 1:
            raise FormatError(path, "varint overflows 64 bits", offset)
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset + i + 1
        shift += 7
    raise FormatError(path, "varint overflows 64 bits", offset)


def uvarint(data: bytes, path: str = "value") -> int:
    """Decode a value that holds exactly one ``PutUvarint`` number.

    Raises:
        FormatError: empty, truncated, overlong or followed by other bytes.
    """
    value, end = uvarint_at(data, 0, path)
    if end != len(data):
        raise FormatError(path, f"{len(data) - end} bytes follow the varint", end)
    return value


def varint(data: bytes, path: str = "value") -> int:
    """Decode a value that holds exactly one ``PutVarint`` (zigzag) number.

    Raises:
        FormatError: empty, truncated, overlong or followed by other bytes.
    """
    zigzag = uvarint(data, path)
    return (zigzag >> 1) ^ -(zigzag & 1)


def put_uvarint(value: int) -> bytes:
    """Encode like Go's ``binary.PutUvarint`` (for tests and for building fixtures)."""
    if value < 0:
        raise ValueError("uvarint values are unsigned")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def put_varint(value: int) -> bytes:
    """Encode like Go's ``binary.PutVarint`` (zigzag, then unsigned varint)."""
    return put_uvarint((value << 1) ^ (value >> 63) if value < 0 else value << 1)


class GoTime(NamedTuple):
    """A decoded Go ``time.Time``.

    Attributes:
        unix_seconds: seconds since the Unix epoch (negative before 1970).
        nanos: nanoseconds within the second, 0–999,999,999.
        offset_seconds: the zone offset the writer recorded (``None`` for UTC, Go's ``-1``).
    """

    unix_seconds: int
    nanos: int
    offset_seconds: int | None

    @property
    def datetime(self) -> datetime:
        """The instant as an aware UTC datetime (microseconds: Python's precision)."""
        return _EPOCH + timedelta(seconds=self.unix_seconds, microseconds=self.nanos // 1000)

    @property
    def rfc3339(self) -> str:
        """The instant in UTC as Go's ``RFC3339Nano`` prints it (trailing zeros trimmed)."""
        return go_nano(self.unix_seconds, self.nanos)


def go_time(data: bytes, path: str = "value") -> GoTime | None:
    """Decode ``time.Time.MarshalBinary`` output; Go's zero time gives ``None``.

    Raises:
        FormatError: unknown version, wrong length, nanoseconds out of range, or an instant
            outside the years 1–9999.
    """
    if not data:
        raise FormatError(path, "empty time value")
    version = data[0]
    want = {1: 15, 2: 16}.get(version)
    if want is None:
        raise FormatError(path, f"unknown time encoding version {version}", 0)
    if len(data) != want:
        raise FormatError(path, f"time version {version} has {len(data)} bytes, expected {want}")
    seconds = int.from_bytes(data[1:9], "big", signed=True)
    nanos = int.from_bytes(data[9:13], "big")
    offset_min = int.from_bytes(data[13:15], "big", signed=True)
    offset_sec = int.from_bytes(data[15:16], "big", signed=True) if version == 2 else 0
    if nanos >= 1_000_000_000:
        raise FormatError(path, f"nanoseconds {nanos} out of range", 9)
    if seconds == 0 and nanos == 0:
        return None
    offset = None if offset_min == -1 else offset_min * 60 + offset_sec
    if not 0 <= seconds < YEAR_10000:
        raise FormatError(path, f"time {seconds} s after year 1 is out of range", 1)
    return GoTime(seconds - UNIX_TO_INTERNAL, nanos, offset)


def go_time_text(raw: bytes | None) -> str | None:
    """RFC 3339 text of a stored time, or ``None`` when absent, Go's zero time or damaged.

    For the times no command prints (``updatedat``, a snapshot's or a blob's times): the
    records keep the raw bytes and decode them here only when asked.
    """
    if raw is None:
        return None
    try:
        t = go_time(raw)
    except FormatError:
        return None
    return t.rfc3339 if t else None


def put_go_time(unix_seconds: int, nanos: int = 0, offset_minutes: int = -1) -> bytes:
    """Encode like ``MarshalBinary`` version 1 (for tests and fixtures)."""
    return (
        b"\x01"
        + (unix_seconds + UNIX_TO_INTERNAL).to_bytes(8, "big", signed=True)
        + nanos.to_bytes(4, "big")
        + offset_minutes.to_bytes(2, "big", signed=True)
    )


class AnyMessage(NamedTuple):
    """A protobuf ``google.protobuf.Any``: ``type_url`` and the ``value`` bytes it wraps."""

    type_url: str
    value: bytes


def protobuf_fields(data: bytes, path: str = "value") -> list[tuple[int, int, int | bytes]]:
    """Split protobuf wire format into ``(field, wire type, value)`` (varints as int).

    Raises:
        FormatError: truncated, or a wire type protobuf no longer uses (groups 3, 4; 6, 7).
    """
    out: list[tuple[int, int, int | bytes]] = []
    at = 0
    while at < len(data):
        tag, at = uvarint_at(data, at, path)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise FormatError(path, "protobuf field number 0", at)
        if wire == 0:
            number, at = uvarint_at(data, at, path)
            out.append((field, wire, number))
            continue
        if wire == 2:
            length, at = uvarint_at(data, at, path)
        elif wire in (1, 5):
            length = 8 if wire == 1 else 4
        else:
            raise FormatError(path, f"protobuf wire type {wire} is not supported", at)
        if at + length > len(data):
            raise FormatError(path, f"protobuf field {field} runs past the end", at)
        out.append((field, wire, data[at : at + length]))
        at += length
    return out


def any_message(data: bytes, path: str = "value") -> AnyMessage:
    """Decode a protobuf ``Any`` (unknown fields are skipped, the last occurrence wins).

    Raises:
        FormatError: truncated, or a ``type_url`` that is not UTF-8.
    """
    type_url, value = b"", b""
    for field, wire, raw in protobuf_fields(data, path):
        if wire == 2 and isinstance(raw, bytes):
            if field == 1:
                type_url = raw
            elif field == 2:
                value = raw
    try:
        return AnyMessage(type_url.decode("utf-8"), value)
    except UnicodeDecodeError:
        raise FormatError(path, "Any type_url is not UTF-8") from None


def any_json(data: bytes, path: str = "value") -> tuple[str, dict[str, Any]]:
    """Decode an ``Any`` whose value is a JSON object (the OCI spec); return type and object.

    Raises:
        FormatError: a damaged ``Any``, or a value that is not a JSON object.
    """
    message = any_message(data, path)
    try:
        obj = json.loads(message.value)
    except (ValueError, RecursionError) as exc:  # also a number of 5,000 digits
        raise FormatError(path, f"Any value is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise FormatError(path, f"Any value is JSON {type(obj).__name__}, expected an object")
    return message.type_url, obj
