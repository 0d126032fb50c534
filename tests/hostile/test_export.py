"""export and extract --tar: any device number a tar can hold, and files streamed, not held."""

from __future__ import annotations

import os
import tarfile
import tracemalloc

import pytest

from tests.rootbuilder import simple_root


def _archive_with_device(tmp_path, major):
    root = tmp_path / "root"
    b, _, cid = simple_root(root)
    upper = f"overlay2/{b.built.containers[cid]}/diff"
    path = tmp_path / "root.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        tf.add(root, arcname=".")
        dev = tarfile.TarInfo(f"{upper}/dev-big")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, major, 7
        tf.addfile(dev)
    return path, cid


@pytest.mark.parametrize("major", [2**40, 2**55, -1])
def test_a_huge_device_major_is_written_as_go_does(tmp_path, run, major):
    path, cid = _archive_with_device(tmp_path, major)
    out = tmp_path / "export.tar"
    r = run("-r", str(path), "export", cid, "-o", str(out))
    assert r.code == 0, r.err
    with tarfile.open(out) as tf:
        dev = tf.getmember("dev-big")
        assert (dev.type, dev.devmajor, dev.devminor) == (tarfile.CHRTYPE, major, 7)
        assert tf.extractfile("written").read() == b"12345678"
    r = run("-r", str(path), "extract", cid, "--tar", str(tmp_path / "x.tar"))
    assert r.code == 0, r.err


@pytest.mark.parametrize("manifest", [False, True])
def test_a_large_sparse_file_is_streamed(tmp_path, run, manifest):
    root = tmp_path / "root"
    b, _, cid = simple_root(root)
    big = root / "overlay2" / b.built.containers[cid] / "diff" / "sparse"
    with open(big, "wb") as f:
        f.truncate(96 << 20)
        f.seek(50 << 20)
        f.write(b"middle")
    out = tmp_path / "out.tar"
    extra = ["--manifest", str(tmp_path / "m.jsonl")] if manifest else []
    tracemalloc.start()
    try:
        r = run("-r", str(root), "extract", cid, "--tar", str(out), *extra)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.code == 0, r.err
    assert peak < 24 << 20, peak  # the file is 96 MiB
    with tarfile.open(out) as tf:
        f = tf.extractfile("sparse")
        f.seek(50 << 20)
        assert f.read(6) == b"middle"
        assert tf.getmember("sparse").size == 96 << 20
    os.unlink(out)
