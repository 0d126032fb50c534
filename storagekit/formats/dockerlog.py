"""Docker's ``local`` log format: length-framed protobuf ``LogEntry`` records.

``containers/<id>/local-logs/container.log`` (and ``container-cached.log``, the cache that
"dual logging" keeps for drivers that cannot be read back) is a sequence of records::

    uint32 big-endian  size of the entry
    bytes[size]        protobuf LogEntry
    uint32 big-endian  size again (so the file can be read backwards, for --tail)

``LogEntry`` (*daemon/logger/internal/logdriver/entry.proto*): ``source`` (1, string:
``stdout``/``stderr``), ``time_nano`` (2, int64), ``line`` (3, bytes, without its newline),
``partial`` (4, bool), ``partial_log_metadata`` (5: ``last`` 1 bool, ``id`` 2 string,
``ordinal`` 3 int32), ``attrs`` (6, repeated key/value). Protobuf's wire format is declared
here with construct: a varint key (field number and wire type) then a varint, a fixed 64 or
32-bit word, or a varint-length-prefixed byte string.

References: moby v20.10 ``daemon/logger/local/doc.go``, ``local/local.go``, ``local/read.go``,
``daemon/logger/internal/logdriver/entry.proto``; protobuf encoding documentation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import construct as cs

from storagekit.errors import FormatError

#: moby ``local`` driver: ``maxMsgLen`` (1 MiB) plus room for the protobuf envelope.
MAX_ENTRY = 2 << 20

Frame = cs.Struct(
    "size" / cs.Int32ub,
    "entry" / cs.Bytes(cs.this.size),
    "trailer" / cs.Int32ub,
)

Field = cs.Struct(
    "key" / cs.VarInt,
    "value"
    / cs.Switch(
        cs.this.key & 7,
        {
            0: cs.VarInt,
            1: cs.Bytes(8),
            2: cs.Prefixed(cs.VarInt, cs.GreedyBytes),
            5: cs.Bytes(4),
        },
    ),
)

Message = cs.GreedyRange(Field)


@dataclass(frozen=True, slots=True)
class LocalEntry:
    """One decoded ``LogEntry``.

    Attributes:
        source: ``stdout`` or ``stderr``.
        time_nano: nanoseconds since the epoch.
        line: the message bytes, without a newline.
        partial: whether the message continues in the next entry (``partial`` or a
            ``partial_log_metadata`` that is not ``last``).
    """

    source: str
    time_nano: int
    line: bytes
    partial: bool


def decode_entry(raw: bytes) -> LocalEntry:
    """A protobuf ``LogEntry``.

    Raises:
        FormatError: the bytes are not a protobuf message of this shape.
    """
    try:
        fields = Message.parse(raw)
    except cs.ConstructError as exc:
        raise FormatError("", f"not a protobuf LogEntry: {exc}") from exc
    consumed = sum(len(Field.build(f)) for f in fields)
    if consumed != len(raw):
        raise FormatError("", "trailing bytes after the LogEntry's fields")
    source, time_nano, line, partial = "", 0, b"", False
    for f in fields:
        number, kind = f.key >> 3, f.key & 7
        if number == 1 and kind == 2:
            source = bytes(f.value).decode("utf-8", "replace")
        elif number == 2 and kind == 0:
            time_nano = f.value
        elif number == 3 and kind == 2:
            line = bytes(f.value)
        elif number == 4 and kind == 0:
            partial = partial or bool(f.value)
        elif number == 5 and kind == 2:
            partial = partial or not _last(bytes(f.value))
    return LocalEntry(source, time_nano, line, partial)


def _last(raw: bytes) -> bool:
    try:
        fields = Message.parse(raw)
    except cs.ConstructError:
        return True
    return any(f.key == (1 << 3) and f.value for f in fields)


def read_frames(stream: BinaryIO, where: str) -> Iterator[LocalEntry]:
    """Every entry of a ``local`` log file, in order.

    Raises:
        FormatError: a frame is truncated, oversized, or its two sizes disagree (entries
            before it have been yielded).
    """
    offset = 0
    while True:
        head = stream.read(4)
        if not head:
            return
        if len(head) < 4:
            raise FormatError(where, "truncated frame header", offset)
        size = int.from_bytes(head, "big")
        if size > MAX_ENTRY:
            raise FormatError(where, f"frame of {size} bytes is larger than any log entry", offset)
        body = stream.read(size + 4)
        if len(body) < size + 4:
            raise FormatError(where, "truncated frame", offset)
        frame = Frame.parse(head + body)
        if frame.trailer != size:
            raise FormatError(where, "frame sizes disagree", offset)
        try:
            yield decode_entry(bytes(frame.entry))
        except FormatError as exc:
            raise FormatError(where, exc.message, offset) from exc
        offset += size + 8


def encode_entry(source: str, time_nano: int, line: bytes, *, partial: bool = False) -> bytes:
    """One framed record, as the ``local`` driver writes it (for tests and fixtures)."""
    fields = [
        {"key": (1 << 3) | 2, "value": source.encode()},
        {"key": (2 << 3) | 0, "value": time_nano},
        {"key": (3 << 3) | 2, "value": line},
    ]
    if partial:
        fields.append({"key": (4 << 3) | 0, "value": 1})
    body = Message.build(fields)
    return bytes(Frame.build({"size": len(body), "entry": body, "trailer": len(body)}))
