"""Nothing the evidence names reaches a terminal raw: one escaping function, exact JSON."""

from __future__ import annotations

import io
import tarfile

import pytest

from storagekit.cli.render import display
from tests.rootbuilder import simple_root, write


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name", "plain name"),
        ("x\nD ", "x\\nD "),
        ("a\rb\bc\td", "a\\rb\\x08c\\td"),
        ("\x1b[31mred\x1b]0;title\x07", "\\x1b[31mred\\x1b]0;title\\x07"),
        ("\x9b2J\x7f", "\\u009b2J\\x7f"),
        ("bad\udcff\ud800", "bad\\xff\\ud800"),
        ("rtl\u202eevil\u2028", "rtl\\u202eevil\\u2028"),
        ("ünïcödé 名前", "ünïcödé 名前"),
    ],
)
def test_display(raw, shown):
    assert display(raw) == shown
    assert display(shown) == shown


@pytest.fixture
def forged(tmp_path):
    root = tmp_path / "root"
    b, _, cid = simple_root(root)
    upper = root / "overlay2" / b.built.containers[cid] / "diff"
    write(upper / "x\nD " / "etc" / "shadow", "s")
    write(upper / "\x1b]0;pwned\x07\x1b[2J" / "f", "f")
    return root, cid


def test_diff_cannot_forge_a_line(forged, run):
    root, cid = forged
    r = run("-r", str(root), "diff", cid)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert "D /etc/shadow" not in lines
    assert "A /x\\nD " in lines
    assert "A /x\\nD /etc/shadow" in lines
    assert "A /\\x1b]0;pwned\\x07\\x1b[2J/f" in lines
    assert not any(c in r.out for c in "\x1b\x07\r")
    j = run("-r", str(root), "diff", cid, "--format", "json").json()
    assert {"kind": "A", "path": "/x\nD /etc/shadow"} in j


def test_ls_tables_and_findings_are_escaped(forged, run):
    root, cid = forged
    r = run("-r", str(root), "ls", cid, "/", "-R")
    assert r.code == 0, r.err
    assert "/x\\nD /etc/shadow" in r.out
    assert not any(c in r.out for c in "\x1b\x07")
    # A finding naming evidence text: an unknown reference is echoed escaped.
    r = run("-r", str(root), "cat", cid, "/\x1b[2J")
    assert r.code == 1
    assert "\x1b" not in r.err
    assert "\\x1b[2J" in r.err


def test_export_and_extract_keep_out_of_range_times(tmp_path, run):
    root = tmp_path / "root"
    b, _, cid = simple_root(root)
    upper = f"overlay2/{b.built.containers[cid]}/diff"
    path = tmp_path / "root.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        tf.add(root, arcname=".")
        for name, mtime in (("future", 2**62), ("past", -(2**40))):
            info = tarfile.TarInfo(f"{upper}/{name}")
            info.size, info.mtime = 1, mtime
            tf.addfile(info, io.BytesIO(b"x"))
    r = run("-r", str(path), "ls", cid, "/", "--format", "json")
    assert r.code == 0, r.err
    times = {x["path"]: x["mtime"] for x in r.json()}
    assert times["/future"] == "146138514283-06-19T07:45:04.000000000Z"
    assert times["/past"] == "-32873-11-12T23:23:44.000000000Z"
    r = run("-r", str(path), "ls", cid, "/")
    assert r.code == 0, r.err
    r = run("-r", str(path), "export", cid, "-o", str(tmp_path / "e.tar"))
    assert r.code == 0, r.err
    with tarfile.open(tmp_path / "e.tar") as tf:
        assert tf.getmember("future").mtime == 2**62
    r = run("-r", str(path), "extract", cid, "-o", str(tmp_path / "out"))
    assert r.code == 0, r.err
    assert (tmp_path / "out" / "future").read_bytes() == b"x"
