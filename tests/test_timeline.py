"""``timeline``: a bodyfile mactime reads, and JSON lines with the engine's events."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter

import pytest

from tests.conftest import expected_of


def _no_inode(line: str) -> str:
    """A line without what differs between the archive and its extraction: the inode, and
    a directory's size (tar gives 0, a file system its blocks)."""
    fields = line.split("|")
    if fields[3].startswith("d/"):
        fields[6] = "-"
    return "|".join(fields[:2] + ["-"] + fields[3:])


def test_bodyfile_lists_every_layer_file(sample, run):
    r = run("-r", sample("overlay2-20.10"), "timeline")
    assert (r.code, r.err) == (0, "")
    lines = r.out.splitlines()
    assert len(lines) == 179
    assert Counter(line.split("|")[1].split(":")[0] for line in lines) == {
        "layer": 95,
        "init": 50,
        "container": 34,
    }
    exited = [_no_inode(x) for x in lines if "|container:sk-exited:/data" in x]
    assert exited == [
        "0|container:sk-exited:/data|-|d/drwxr-xr-x|0|0|-|0|1795834076|0|0",
        "0|container:sk-exited:/data/empty (deleted)|-|-/----------|0|0|0|0|1795834076|0|0",
        "0|container:sk-exited:/data/new-link -> /data/new.txt|-|l/lrwxrwxrwx|0|0|13|0|"
        "1795834076|0|0",
        "0|container:sk-exited:/data/new.txt|-|r/rrw-r--r--|0|0|4|0|1795834076|0|0",
        "0|container:sk-exited:/data/sub (deleted)|-|-/----------|0|0|0|0|1795834076|0|0",
    ]
    deleted = sorted(x.split("|")[1] for x in lines if x.split("|")[1].endswith(" (deleted)"))
    assert deleted == [
        "container:sk-basec:/etc/group (deleted)",
        "container:sk-exited:/data/empty (deleted)",
        "container:sk-exited:/data/sub (deleted)",
        "container:sk-running:/bin/cat (deleted)",
        "container:sk-running:/opt/app/readme.txt (deleted)",
        "layer:525cade6378a:/bin/mv (deleted)",
        "layer:525cade6378a:/opt/app/old.txt (deleted)",
    ]
    assert "|r/rrwsr-xr-x|" in next(x for x in lines if x.split("|")[1].endswith("/suid-tool"))


@pytest.mark.skipif(shutil.which("mactime") is None, reason="the Sleuth Kit's mactime is absent")
def test_mactime_reads_the_bodyfile(sample, run, tmp_path):
    body = tmp_path / "body"
    body.write_text(run("-r", sample("overlay2-20.10"), "timeline").out)
    r = subprocess.run(["mactime", "-b", str(body), "-z", "UTC", "-d"], capture_output=True)
    assert (r.returncode, r.stderr) == (0, b"")
    assert b"container:sk-exited:/data/sub (deleted)" in r.stdout


def test_jsonl_events_carry_the_engine_timestamps(sample, run):
    expected = expected_of("overlay2-20.10")
    r = run("-r", sample("overlay2-20.10"), "timeline", "--format", "jsonl")
    assert r.code == 0
    rows = [json.loads(x) for x in r.out.splitlines()]
    assert Counter(x["timestamp_desc"] for x in rows) == {
        "Content Modification Time": 172,
        "File Deleted": 7,
        "Image Created": 15,
        "Layer Created": 7,
        "Container Created": 5,
        "Container Started": 4,
        "Container Finished": 3,
        "Volume Created": 8,
    }
    times = [x["datetime"] for x in rows]
    assert times == sorted(times)  # all UTC, nanoseconds: sorting the text sorts the times
    assert all({"datetime", "timestamp_desc", "message"} <= set(x) for x in rows)
    events = {(x["timestamp_desc"], x.get("container")): x["datetime"] for x in rows}
    for c in expected["containers"]:
        assert events["Container Created", c["Id"]] == c["Created"]
        state = c["State"]
        for key, desc in (("StartedAt", "Container Started"), ("FinishedAt", "Container Finished")):
            if state[key].startswith("0001-"):
                assert (desc, c["Id"]) not in events
            else:
                assert events[desc, c["Id"]] == state[key]
    volumes = {x["volume"]: x["datetime"] for x in rows if x["timestamp_desc"] == "Volume Created"}
    assert {name: when[:19] + "Z" for name, when in volumes.items()} == {
        v["Name"]: v["CreatedAt"] for v in expected["volumes"]
    }
    images = {x["image"]: x["datetime"] for x in rows if x["timestamp_desc"] == "Image Created"}
    assert images == {i["Id"]: i["Created"] for i in expected["images"]}
