"""Deep trees (paths past PATH_MAX) are walked by descriptor; extract -o stays under ulimit -n."""

from __future__ import annotations

import os
import resource
import subprocess
import tarfile

import pytest

from tests.rootbuilder import simple_root

NAME = "d" * 50
DEPTH = 120  # 6,120 bytes of path: past PATH_MAX (4,096)


@pytest.fixture
def deep(tmp_path):
    root = tmp_path / "root"
    b, _, cid = simple_root(root)
    fd = os.open(root / "overlay2" / b.built.containers[cid] / "diff", os.O_RDONLY)
    try:
        for _ in range(DEPTH):
            os.mkdir(NAME, dir_fd=fd)
            nfd = os.open(NAME, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"bottom\n")
        os.close(leaf)
    finally:
        os.close(fd)
    return root, cid, tmp_path


BOTTOM = "/" + "/".join([NAME] * DEPTH) + "/leaf"


def test_ls_diff_and_cat_reach_the_bottom(deep, run):
    root, cid, _ = deep
    r = run("-r", str(root), "ls", cid, "/", "-R", "--format", "json")
    assert r.code == 0, r.err
    paths = [x["path"] for x in r.json()]
    assert paths[-1] == BOTTOM
    assert len(paths) == 3 + 1 + DEPTH + 1  # f0, f1, written; .dockerenv; the chain; leaf
    r = run("-r", str(root), "diff", cid, "--format", "json")
    assert {"kind": "A", "path": BOTTOM} in r.json()
    r = run("-r", str(root), "cat", cid, BOTTOM)
    assert (r.code, r.out) == (0, "bottom\n")


def test_extract_and_export_reach_the_bottom(deep, run):
    root, cid, tmp_path = deep
    out = tmp_path / "out"
    r = run("-r", str(root), "extract", cid, "-o", str(out))
    assert r.code == 0, r.err
    found = subprocess.run(
        ["find", ".", "-name", "leaf"], cwd=out, capture_output=True, text=True, check=True
    )
    assert found.stdout == "." + BOTTOM + "\n"
    r = run("-r", str(root), "export", cid, "-o", str(tmp_path / "e.tar"))
    assert r.code == 0, r.err
    with tarfile.open(tmp_path / "e.tar") as tf:
        assert tf.extractfile(BOTTOM[1:]).read() == b"bottom\n"


def test_extract_stays_within_ulimit_n(tmp_path, run):
    root = tmp_path / "root"
    b, _, cid = simple_root(root)
    many = root / "overlay2" / b.built.containers[cid] / "diff" / "many"
    many.mkdir()
    for i in range(1100):
        (many / f"d{i:04d}").mkdir()
        (many / f"d{i:04d}" / "f").write_bytes(b"x")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        r = run("-r", str(root), "extract", cid, "-o", str(tmp_path / "out"))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert r.code == 0, r.err
    assert len(os.listdir(tmp_path / "out" / "many")) == 1100
    assert (tmp_path / "out" / "many" / "d1099" / "f").read_bytes() == b"x"
