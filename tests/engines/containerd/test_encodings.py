"""The Go and protobuf encodings of containerd's BoltDB values, with exact values."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from storagekit.errors import FormatError
from storagekit.formats.containerd import (
    GoTime,
    any_json,
    any_message,
    go_time,
    protobuf_fields,
    put_go_time,
    put_uvarint,
    put_varint,
    uvarint,
    uvarint_at,
    varint,
)

# Bytes as containerd 1.6.20 wrote them into the sample root (sample_roots/containerd-1.6).
C_CREATED_AT = bytes.fromhex("010000000ee2a6d34f2f34f73dffff")  # c-created's createdat
RUNC_OPTIONS = bytes.fromhex("0a1a636f6e7461696e6572642e72756e632e76312e4f7074696f6e73")


def test_signed_varint_of_a_blob_size() -> None:
    # a 1,083,971-byte blob stores zigzag 2,167,942
    assert put_varint(1_083_971) == bytes.fromhex("86a98401")
    assert uvarint(bytes.fromhex("86a98401")) == 2_167_942
    assert varint(bytes.fromhex("86a98401")) == 1_083_971


@pytest.mark.parametrize(
    ("raw", "signed", "unsigned"),
    [
        ("06", 3, 6),  # meta.db v1/version of containerd 1.6
        ("00", 0, 0),
        ("01", -1, 1),
        ("03", -2, 3),
        ("66", 51, 102),  # the sample's busybox layer: 51 inodes
        ("8080f901", 2_039_808, 4_079_616),  # ... and 2,039,808 bytes
        ("ffffffffffffffffff01", -(2**63), 2**64 - 1),
        ("feffffffffffffffff01", 2**63 - 1, 2**64 - 2),
    ],
)
def test_varints(raw: str, signed: int, unsigned: int) -> None:
    data = bytes.fromhex(raw)
    assert (varint(data), uvarint(data)) == (signed, unsigned)
    assert put_uvarint(unsigned) == data
    assert put_varint(signed) == data


@pytest.mark.parametrize(
    ("raw", "message", "offset"),
    [
        ("", "varint runs past the end of the value", 0),
        ("80", "varint runs past the end of the value", 0),
        ("ffffffffffffffffff02", "varint overflows 64 bits", 0),
        ("ffffffffffffffffffff01", "varint overflows 64 bits", 0),
        ("0100", "1 bytes follow the varint", 1),
        ("2e2e2f", "2 bytes follow the varint", 1),  # "../" is no number
    ],
)
def test_bad_varints(raw: str, message: str, offset: int) -> None:
    for decode in (uvarint, varint):
        with pytest.raises(FormatError) as info:
            decode(bytes.fromhex(raw), "db#v1/x/size")
        assert (info.value.path, info.value.message, info.value.offset) == (
            "db#v1/x/size", message, offset)


def test_uvarint_at_returns_the_next_offset() -> None:
    assert uvarint_at(b"\x01\x00\x96\x01", 2) == (150, 4)


def test_go_time_version_1_from_containerd() -> None:
    t = go_time(C_CREATED_AT)
    assert t == GoTime(1796529231, 792000317, None)
    assert t.rfc3339 == "2026-12-06T03:53:51.792000317Z"
    assert t.datetime == datetime(2026, 12, 6, 3, 53, 51, 792000, tzinfo=UTC)
    assert put_go_time(1796529231, 792000317) == C_CREATED_AT


def test_go_time_version_2_and_zones() -> None:
    # 1 h 0 min 30 s east: the instant is stored in UTC, the offset only remembered
    v2 = b"\x02" + put_go_time(0, 500_000_000)[1:13] + (60).to_bytes(2, "big") + b"\x1e"
    assert go_time(v2) == GoTime(0, 500_000_000, 3630)
    assert go_time(v2).rfc3339 == "1970-01-01T00:00:00.5Z"  # type: ignore[union-attr]
    west = put_go_time(86400, 0, offset_minutes=-300)
    assert go_time(west) == GoTime(86400, 0, -18000)
    assert go_time(west).rfc3339 == "1970-01-02T00:00:00Z"  # type: ignore[union-attr]


def test_go_time_edges_print_as_go_does() -> None:
    """Go pads years to four digits (``0201``, where ``strftime("%Y")`` gives ``201``)."""
    cases = {
        -55822065169: "0201-01-26T06:47:11Z",
        -62135596799: "0001-01-01T00:00:01Z",
        253402300799: "9999-12-31T23:59:59Z",
        951782400: "2000-02-29T00:00:00Z",
        -2203977600: "1900-02-28T00:00:00Z",
        -2203891200: "1900-03-01T00:00:00Z",
    }
    for unix, text in cases.items():
        t = go_time(put_go_time(unix, 0))
        assert t is not None
        assert t.rfc3339 == text


def test_go_zero_time_is_none() -> None:
    assert go_time(b"\x01" + bytes(12) + b"\xff\xff") is None
    assert go_time(b"\x02" + bytes(12) + b"\x00\x00\x00") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty time value"),
        (b"\x03" + bytes(14), "unknown time encoding version 3"),
        (C_CREATED_AT[:14], "time version 1 has 14 bytes, expected 15"),
        (C_CREATED_AT + b"\x00", "time version 1 has 16 bytes, expected 15"),
        (b"\x02" + C_CREATED_AT[1:], "time version 2 has 15 bytes, expected 16"),
        (C_CREATED_AT[:9] + (10**9).to_bytes(4, "big") + b"\xff\xff",
         "nanoseconds 1000000000 out of range"),
        (b"\x01" + (2**62).to_bytes(8, "big") + bytes(4) + b"\xff\xff",
         f"time {2**62} s after year 1 is out of range"),
        (b"\x01" + (-1).to_bytes(8, "big", signed=True) + bytes(4) + b"\xff\xff",
         "time -1 s after year 1 is out of range"),
    ],
)
def test_bad_times(data: bytes, message: str) -> None:
    with pytest.raises(FormatError) as info:
        go_time(data, "t")
    assert info.value.message == message


def test_any_from_containerd() -> None:
    msg = any_message(RUNC_OPTIONS)
    assert (msg.type_url, msg.value) == ("containerd.runc.v1.Options", b"")
    spec = b'{"ociVersion":"1.0.2-dev","process":{"args":["sh"]}}'
    url = b"types.containerd.io/opencontainers/runtime-spec/1/Spec"
    raw = b"\x0a" + put_uvarint(len(url)) + url + b"\x12" + put_uvarint(len(spec)) + spec
    assert any_json(raw) == (url.decode(), {"ociVersion": "1.0.2-dev", "process": {"args": ["sh"]}})


def test_any_skips_unknown_fields() -> None:
    varint3, fixed32, fixed64 = b"\x18\x96\x01", b"\x25" + bytes(4), b"\x29" + bytes(8)
    raw = varint3 + b"\x0a\x01a" + fixed32 + b"\x12\x02{}" + fixed64
    assert protobuf_fields(raw)[0] == (3, 0, 150)
    assert any_json(raw) == ("a", {})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x0a\x03ab", "protobuf field 1 runs past the end"),
        (b"\x0a\x01a\x12\x05{}", "protobuf field 2 runs past the end"),
        (b"\x0a", "varint runs past the end of the value"),
        (b"\x0b", "protobuf wire type 3 is not supported"),
        (b"\x02\x00", "protobuf field number 0"),
        (b"\x0a\x01\xff", "Any type_url is not UTF-8"),
        (b"\x12\x02[]", "Any value is JSON list, expected an object"),
    ],
)
def test_bad_any(raw: bytes, message: str) -> None:
    with pytest.raises(FormatError) as info:
        any_json(raw, "spec")
    assert info.value.message == message


def test_any_value_that_is_not_json() -> None:
    with pytest.raises(FormatError, match="Any value is not JSON"):
        any_json(b"\x12\x03{{{")
    deep = b"[" * 100_000
    with pytest.raises(FormatError, match="Any value is not JSON"):
        any_json(b"\x12" + put_uvarint(len(deep)) + deep)


def test_random_bytes_are_format_errors_or_values() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
        for decode in (uvarint, varint, go_time, any_message, any_json):
            try:
                decode(data)  # type: ignore[operator]
            except FormatError:
                pass
