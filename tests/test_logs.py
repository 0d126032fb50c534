"""``logs`` on roots built here: json-file (rotated, compressed), local, other drivers."""

from __future__ import annotations

import gzip
import json

import pytest

from storagekit.formats.dockerlog import decode_entry, encode_entry
from storagekit.logs import LogEntry, parse_time, select
from tests.rootbuilder import simple_root, write

T0 = 1795834076_000000000  # 2026-11-28T02:47:56Z


def _json_line(text: str, stream: str, ns: int) -> bytes:
    seconds, frac = divmod(ns, 10**9)
    fraction = f".{frac:09d}".rstrip("0").rstrip(".")  # Go's RFC3339Nano drops trailing zeros
    when = f"2026-11-28T02:47:{seconds - 1795834020:02d}{fraction}Z"
    return json.dumps({"log": text, "stream": stream, "time": when}).encode() + b"\n"


@pytest.fixture
def jf_root(tmp_path):
    _, _, cid = simple_root(tmp_path)
    base = tmp_path / "containers" / cid / f"{cid}-json.log"
    write(base.with_name(base.name + ".2.gz"), gzip.compress(_json_line("one\n", "stdout", T0)))
    write(base.with_name(base.name + ".1"), _json_line("two\n", "stderr", T0 + 10**9))
    live = _json_line("three\n", "stdout", T0 + 2 * 10**9) + _json_line(
        "four", "stdout", T0 + 3 * 10**9 + 5
    )
    write(base, live)
    return tmp_path


def test_json_file_rotated_and_compressed_oldest_first(jf_root, run):
    r = run("-r", str(jf_root), "logs", "c1")
    assert (r.code, r.out, r.err) == (0, "one\nthree\nfour", "two\n")
    t = run("-r", str(jf_root), "logs", "-t", "--tail", "2", "c1")
    assert t.out == "2026-11-28T02:47:58.000000000Z three\n2026-11-28T02:47:59.000000005Z four"
    assert t.err == ""
    only = run("-r", str(jf_root), "logs", "--no-stdout", "c1")
    assert (only.out, only.err) == ("", "two\n")
    window = run(
        "-r", str(jf_root), "logs", "--since", "2026-11-28T02:47:57Z", "--until", "1795834078", "c1"
    )
    assert (window.out, window.err) == ("three\n", "two\n")


def test_damaged_json_line_is_a_finding(tmp_path, run):
    _, _, cid = simple_root(tmp_path)
    log = tmp_path / "containers" / cid / f"{cid}-json.log"
    write(log, _json_line("ok\n", "stdout", T0) + b'{"log": "cut\n')
    r = run("-r", str(tmp_path), "logs", "c1")
    assert r.out == "ok\n"
    where = f"containers/{cid}/{cid}-json.log"
    assert r.err == f"error: {where}: line 2 is not a json-file entry [bad-log-line]\n"


def _use_driver(root, cid, driver):
    (root / "containers" / cid / "hostconfig.json").write_text(
        json.dumps({"LogConfig": {"Type": driver, "Config": {}}})
    )


def test_local_driver_frames(tmp_path, run):
    _, _, cid = simple_root(tmp_path)
    _use_driver(tmp_path, cid, "local")
    logs = tmp_path / "containers" / cid / "local-logs"
    write(logs / "container.log.1.gz", gzip.compress(encode_entry("stdout", T0, b"old")))
    write(
        logs / "container.log",
        encode_entry("stderr", T0 + 1, b"part-", partial=True)
        + encode_entry("stderr", T0 + 2, b"whole")
        + encode_entry("stdout", T0 + 3, b"new"),
    )
    r = run("-r", str(tmp_path), "logs", "-t", "c1")
    assert r.out == "2026-11-28T02:47:56.000000000Z old\n2026-11-28T02:47:56.000000003Z new\n"
    assert r.err == ("2026-11-28T02:47:56.000000001Z part-2026-11-28T02:47:56.000000002Z whole\n")
    # a truncated frame: what came before it is kept, the damage is a finding
    (logs / "container.log").write_bytes(encode_entry("stdout", T0, b"kept") + b"\0\0\0\x09ab")
    r = run("-r", str(tmp_path), "logs", "c1")
    assert r.out == "old\nkept\n"
    assert r.err == (
        f"error: containers/{cid}/local-logs/container.log: at offset 32: truncated frame"
        " [bad-log-frame]\n"
    )


@pytest.mark.parametrize("driver", ["journald", "syslog", "fluentd"])
def test_drivers_that_ship_logs_away_are_one_finding(tmp_path, run, driver):
    _, _, cid = simple_root(tmp_path)
    _use_driver(tmp_path, cid, driver)
    r = run("-r", str(tmp_path), "logs", "c1")
    assert (r.code, r.out) == (0, "")
    assert r.err == (
        f"warning: containers/{cid}/hostconfig.json: the log driver is '{driver}': its messages"
        " were sent off the host and no local cache of them is in the evidence"
        " [log-not-in-evidence]\n"
    )
    # dual logging's cache is what docker logs reads then
    write(tmp_path / "containers" / cid / "container-cached.log", encode_entry("stdout", T0, b"c"))
    assert run("-r", str(tmp_path), "logs", "c1").out == "c\n"


def test_encode_decode_roundtrip():
    frame = encode_entry("stderr", 1795834076123456789, b"\xffbytes", partial=True)
    assert frame[:4] == frame[-4:] == (len(frame) - 8).to_bytes(4, "big")
    entry = decode_entry(frame[4:-4])
    assert (entry.source, entry.time_nano, entry.line, entry.partial) == (
        "stderr",
        1795834076123456789,
        b"\xffbytes",
        True,
    )


def test_select_tail_before_window_and_time_forms():
    entries = [LogEntry("stdout", n, b"x") for n in range(10)]
    assert [e.time_ns for e in select(entries, tail=3, since_ns=8)] == [8, 9]
    assert [e.time_ns for e in select(entries, tail=0)] == []
    assert [e.time_ns for e in select(entries, until_ns=1)] == [0, 1]
    assert parse_time("2026-11-28T03:47:56+01:00") == T0
    assert parse_time("1795834076.5") == T0 + 500_000_000
    assert parse_time("2026-11-28") == 1795824000_000000000
    assert parse_time("1h30m", now_ns=T0) == T0 - 5400 * 10**9
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_time("yesterday")
