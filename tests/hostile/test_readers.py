"""Hostile values inside metadata: each one a finding or a faithful value, never a traceback."""

from __future__ import annotations

import gzip
import io
import json
import os

import pytest

from storagekit.errors import FormatError
from storagekit.formats import tarsplit
from storagekit.formats.crc64 import Crc64
from storagekit.timefmt import from_ns, normalize
from tests.rootbuilder import simple_root, write


def _reference_crc(data: bytes) -> bytes:
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xD800000000000000 if crc & 1 else crc >> 1
    return (crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


def test_crc64_is_go_crc64_iso_in_any_pieces():
    c = Crc64()
    c.update(b"123456789")
    assert c.digest().hex() == "b90956c775a41001"  # the catalogue's check value
    data = os.urandom(3000) + bytes(5000) + b"\xff" * 77
    whole = Crc64()
    whole.update(data)
    assert whole.digest() == _reference_crc(data)
    pieces = Crc64()
    for i in range(0, len(data), 997):
        pieces.update(memoryview(data)[i : i + 997])
    assert pieces.digest() == whole.digest()
    empty = Crc64()
    empty.update(b"")
    assert empty.digest() == _reference_crc(b"") == bytes(8)


def test_times_outside_pythons_range():
    assert normalize("0001-01-01T00:00:00+01:00") is None  # Go's zero time, east of UTC
    assert normalize("0001-01-01T00:00:00-01:00") == "0001-01-01T01:00:00Z"
    assert normalize("9999-12-31T23:30:00-01:00") is None
    assert normalize("0999-05-01T00:00:00.5Z") == "0999-05-01T00:00:00.5Z"
    assert from_ns(-62135596801 * 10**9) == "0000-12-31T23:59:59.000000000Z"
    assert from_ns(253402300800 * 10**9) == "10000-01-01T00:00:00.000000000Z"
    assert from_ns((2**63 - 1) * 10**9) == "292277026596-12-04T15:30:07.000000000Z"
    assert from_ns(-(2**63) * 10**9) == "-292277022657-01-27T08:29:52.000000000Z"


def _tarsplit(*lines: bytes) -> io.BytesIO:
    return io.BytesIO(gzip.compress(b"\n".join(lines) + b"\n"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"type":1,"name":"a","size":1e400}', "line 1: not a tar-split entry"),
        (b'{"type":1,"name":"a","size":NaN}', "line 1: not a tar-split entry"),
        (b"[" * 200_000 + b"]" * 200_000, "line 1: nests too deeply to parse"),
        (b'{"type":1,"size":' + b"9" * 5000 + b"}", "line 1: not a tar-split entry"),
        (b'{"type":2,"payload":[1]}', "line 1: not a tar-split entry"),
    ],
)
def test_tarsplit_hostile_lines_are_format_errors(line, message):
    with pytest.raises(FormatError) as info:
        list(tarsplit.entries(_tarsplit(line), "ts.json.gz"))
    assert message in str(info.value)


def test_tarsplit_lone_surrogate_name_reads_as_go_does():
    got = list(tarsplit.entries(_tarsplit(b'{"type":1,"name":"a\\ud800b","size":0}'), "t"))
    assert got == [tarsplit.FileEntry("a\ufffdb", 0, None)]


def _config_path(root, cid):
    return root / "containers" / cid / "config.v2.json"


def test_go_zero_time_with_a_zone_offset(tmp_path, run):
    root = tmp_path / "root"
    _, _, cid = simple_root(root)
    path = _config_path(root, cid)
    config = json.loads(path.read_bytes())
    config["Created"] = "0001-01-01T00:00:00+01:00"
    config["State"]["StartedAt"] = "0001-01-01T00:00:00+14:00"
    write(path, json.dumps(config))
    for args in (["containers"], ["audit"], ["chain", cid], ["ls", cid], ["diff", cid]):
        r = run("-r", str(root), *args, "--format", "json")
        assert r.code == 0, r.err
    r = run("-r", str(root), "containers", "--format", "json")
    (record,) = r.json()
    assert (record["created"], record["started"]) == (None, None)


def test_a_5000_digit_integer_is_a_finding(tmp_path, run):
    root = tmp_path / "root"
    _, _, cid = simple_root(root)
    path = _config_path(root, cid)
    text = path.read_text().replace('"ExitCode": 3', '"ExitCode": ' + "7" * 5000)
    write(path, text)
    r = run("-r", str(root), "containers", "--format", "json")
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    assert (
        f"error: containers/{cid}/config.v2.json: container config is invalid JSON "
        "(Exceeds the limit (4300 digits) for integer string conversion: value has 5000 "
        "digits; use sys.set_int_max_str_digits() to increase the limit) [bad-json]"
    ) in r.err


def test_a_lone_surrogate_in_a_name_is_printed_escaped(tmp_path, run):
    root = tmp_path / "root"
    _, _, cid = simple_root(root)
    path = _config_path(root, cid)
    write(path, path.read_text().replace('"/c1"', '"/c\\ud800\\u001b[2J"'))
    r = run("-r", str(root), "containers", "--format", "json")
    assert r.code == 0, r.err
    assert '"name":"/c\\ud800\\u001b[2J"' in r.out
    assert r.json()[0]["name"] == "/c\ud800\x1b[2J"
    r = run("-r", str(root), "containers")
    assert r.code == 0, r.err
    assert "c\\ud800\\x1b[2J" in r.out
    assert "\x1b" not in r.out


def test_a_sparse_gigabyte_volume_db_is_not_read_whole(tmp_path, run):
    import gzip as gz
    import tracemalloc
    from pathlib import Path

    data = Path(__file__).parent.parent / "formats" / "data" / "volumes-20.10.db.gz"
    root = tmp_path / "root"
    simple_root(root)
    db = root / "volumes" / "metadata.db"
    write(db, gz.decompress(data.read_bytes()))
    want = run("-r", str(root), "volumes", "--format", "json").json()
    assert want
    with open(db, "r+b") as f:
        f.truncate(1 << 30)  # a sparse tail the walk never visits
    tracemalloc.start()
    try:
        r = run("-r", str(root), "volumes", "--format", "json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.code == 0, r.err
    assert r.json() == want
    assert peak < 32 << 20, peak


@pytest.mark.parametrize(
    "raw", [b'{"a": ' + b"7" * 5000 + b"}", b"[" * 100_000, b'{"x": 1e400}', b"\xff"]
)
def test_podman_json_readers_give_findings(raw):
    from storagekit.engines.podman.common import load_json
    from storagekit.engines.podman.libpod import parse_doc
    from storagekit.model import Findings
    from storagekit.sources.memsource import MemorySource

    findings = Findings()
    source = MemorySource.from_dict({"containers.json": raw})
    got = load_json(source, "containers.json", findings)
    assert got is None or got == {"x": float("inf")}
    doc = parse_doc(raw, findings, "libpod")
    assert doc is None or doc == {"x": float("inf")}
    assert {f.code for f in findings} <= {"malformed-json"}
    assert len(findings.sorted()) == (0 if raw.endswith(b"1e400}") else 2)
