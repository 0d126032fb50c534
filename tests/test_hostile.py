"""Hostile evidence never makes cat, ls, extract or diff touch anything outside the evidence
and the output directory. Marker files planted on the host prove it."""

from __future__ import annotations

import os
import subprocess
import tarfile

import pytest

from tests.rootbuilder import simple_root, write

SECRET = b"HOST SECRET - must never be read"


@pytest.fixture
def hostile(tmp_path):
    """A root whose container layer holds escaping links, a loop and a very deep tree."""
    host = tmp_path / "host"
    host.mkdir()
    marker = host / "shadow"
    marker.write_bytes(SECRET)
    root = tmp_path / "root"
    b, image, cid = simple_root(root)
    upper = root / "overlay2" / b.built.containers[cid] / "diff"
    (upper / "etc").mkdir()
    os.symlink("../../../../../../../../" + str(marker).lstrip("/"), upper / "etc" / "shadow")
    os.symlink(str(marker), upper / "abs-to-host")
    os.symlink("/", upper / "x")
    os.symlink("loop2", upper / "loop1")
    os.symlink("loop1", upper / "loop2")
    write(upper / "etc" / "real", b"inside\n")
    os.symlink("/etc/real", upper / "etc" / "abs-inside")
    deep = upper / "deep"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    try:
        for _ in range(1500):  # deeper than Python's default recursion limit
            os.mkdir("d", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    yield root, cid, marker, tmp_path
    # pytest removes old temporary directories with a recursive rmtree, which a 1,500-deep
    # tree would break; rm(1) walks iteratively.
    subprocess.run(["rm", "-rf", str(tmp_path)], check=True)


def test_cat_resolves_links_inside_the_container(hostile, run):
    root, cid, marker, _ = hostile
    for path in ("/etc/shadow", "/abs-to-host", "/x/etc/shadow"):
        r = run("-r", str(root), "cat", cid, path)
        assert SECRET.decode() not in r.out
        assert r.code == 1
        assert r.err.startswith("storagekit: error: ")
    r = run("-r", str(root), "cat", cid, "/etc/abs-inside")
    assert (r.code, r.out) == (0, "inside\n")
    r = run("-r", str(root), "cat", cid, "/x/x/x/etc/real")
    assert (r.code, r.out) == (0, "inside\n")


def test_link_loop_is_a_clear_error(hostile, run):
    root, cid, _, _ = hostile
    r = run("-r", str(root), "cat", cid, "/loop1")
    assert r.code == 1
    assert "more than 40 symbolic links" in r.err
    assert r.err.count("\n") == 1


def test_ls_and_diff_survive_a_very_deep_tree(hostile, run):
    root, cid, _, _ = hostile
    r = run("-r", str(root), "ls", cid, "/deep", "-R", "--format", "json")
    assert r.code == 0, r.err
    paths = [x["path"] for x in r.json()]
    assert len(paths) == 1501
    assert paths[-1] == "/deep" + "/d" * 1500 + "/leaf"
    r = run("-r", str(root), "diff", cid, "--format", "json")
    assert r.code == 0, r.err
    assert {"kind": "A", "path": "/deep" + "/d" * 1500 + "/leaf"} in r.json()


def test_extract_writes_only_inside_its_output(hostile, run):
    root, cid, marker, tmp = hostile
    out = tmp / "out"
    before = sorted(os.listdir(tmp))
    r = run("-r", str(root), "extract", cid, "-o", str(out), "--manifest", str(tmp / "m.jsonl"))
    assert r.code == 0, r.err
    assert sorted(os.listdir(tmp)) == sorted([*before, "out", "m.jsonl"])
    assert marker.read_bytes() == SECRET
    assert os.readlink(out / "etc" / "shadow").endswith(str(marker).lstrip("/"))
    assert os.readlink(out / "x") == "/"
    assert (out / "etc" / "real").read_bytes() == b"inside\n"
    r = run("-r", str(root), "extract", cid, "-o", str(out))
    assert r.code == 1
    assert "must be a new or empty directory" in r.err
    tar_path = tmp / "out.tar"
    r = run("-r", str(root), "extract", cid, "/etc", "--tar", str(tar_path))
    assert r.code == 0, r.err
    with tarfile.open(tar_path) as tf:
        names = sorted(tf.getnames())
    assert names == ["abs-inside", "real", "shadow"]


def test_hostile_archive_member_names(tmp_path, run):
    b, image, cid = simple_root(tmp_path / "root")
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        tf.add(tmp_path / "root", arcname=".")
        info = tarfile.TarInfo("../../escape.txt")
        data = SECRET
        info.size = len(data)
        import io

        tf.addfile(info, io.BytesIO(data))
    r = run("-r", str(evil), "audit", "--format", "json")
    assert r.code == 0, r.err
    assert any("escape.txt" in f["message"] for f in r.json()["findings"])
    assert not (tmp_path.parent / "escape.txt").exists()
