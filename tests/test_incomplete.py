"""Incomplete evidence: sample archives cut at several points answer partially, with exit 3.

The first line on stderr says where the archive ends and how much that hides; the knock-on
findings of the cut are marked as its consequences and come after it; JSON stays one valid
document on stdout.
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path

import pytest

from tests.conftest import NAMES, SAMPLES

CUTS = (0.05, 0.2, 0.5, 0.8, 0.97)
FIRST = re.compile(
    r"storagekit: evidence incomplete: (?P<path>\S+) ends at byte (?P<end>\d+) of the file, "
    r"\d+ bytes into the tar, .*; everything it held after that point is missing from these "
    r"answers: .*"
)


@pytest.fixture(scope="module")
def tars(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return {name: lzma.decompress((SAMPLES / name / "root.tar.xz").read_bytes()) for name in NAMES}


def cut(tmp_path: Path, data: bytes, fraction: float) -> tuple[Path, int]:
    end = int(len(data) * fraction)
    path = tmp_path / f"cut-{end}.tar"
    path.write_bytes(data[:end])
    return path, end


@pytest.mark.parametrize("fraction", CUTS)
@pytest.mark.parametrize("name", NAMES)
def test_cut_archive_exits_3_and_says_so_first(name, fraction, tars, tmp_path, run):
    path, end = cut(tmp_path, tars[name], fraction)
    r = run("-r", str(path), "audit", "--format", "json")
    assert r.code == 3, r.err
    first = FIRST.fullmatch(r.err.splitlines()[0])
    assert first is not None
    assert (first["path"], int(first["end"])) == (str(path), end)
    report = r.json()  # still one valid JSON document
    findings = report["findings"]
    assert findings[0]["code"] == "evidence-incomplete"
    assert findings[0]["severity"] == "error"
    # Nothing the cut explains reads as an independent error or warning.
    independent = [
        (f["code"], f["path"])
        for f in findings[1:]
        if f.get("consequence_of") is None and f["code"] != "archive-damage"
    ]
    assert independent == []
    consequences = [f for f in findings if f.get("consequence_of")]
    assert {f["consequence_of"] for f in consequences} <= {"evidence-incomplete"}
    assert {f["severity"] for f in consequences} <= {"info"}
    ranks = [bool(f.get("consequence_of")) for f in findings]
    assert ranks == sorted(ranks)  # consequences last


@pytest.mark.parametrize("command", ["images", "containers", "layers", "orphans", "verify", "df"])
def test_every_command_on_a_cut_archive(command, tars, tmp_path, run):
    path, _ = cut(tmp_path, tars["overlay2-20.10"], 0.5)
    r = run("-r", str(path), command, "--format", "json")
    assert r.code == 3
    assert r.err.startswith("storagekit: evidence incomplete: ")
    r.json()


def test_cut_xz_archive(tmp_path, run):
    data = (SAMPLES / "overlay2-20.10" / "root.tar.xz").read_bytes()
    path = tmp_path / "cut.tar.xz"
    path.write_bytes(data[:300_000])
    r = run("-r", str(path), "audit")
    assert r.code == 3
    assert r.err.splitlines()[0].startswith(
        f"storagekit: evidence incomplete: {path} ends at byte 300000 of the file, "
    )
    assert "10 of the 17 layer directories its metadata names" in r.err.splitlines()[0]
    assert "EVIDENCE INCOMPLETE" in r.out
    errors = [line for line in r.err.splitlines()[1:] if line.startswith("error:")]
    assert [e.split("[")[-1] for e in errors] == ["evidence-incomplete]"]


def test_complete_archive_exits_0(run):
    r = run("-r", str(SAMPLES / "overlay2-20.10" / "root.tar.xz"), "audit", "--format", "json")
    assert r.code == 0
    assert all(f["code"] != "evidence-incomplete" for f in r.json()["findings"])
