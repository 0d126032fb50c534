"""Roots written by older (1.10-19.03) and newer (23+) engines: right answers, no findings.

Each layout is built next to its assertions from what moby's source at that version writes;
the reference is named in each test's docstring.
"""

from __future__ import annotations

import os
import shutil

from tests.rootbuilder import RootBuilder, diff_id


def audit(run, root):
    r = run("-r", str(root), "audit", "--format", "json")
    assert r.code == 0, r.err
    return r.json()


def codes(report):
    return [(f["code"], f["path"]) for f in report["findings"]]


def test_unreadable_driver_is_one_finding_not_missing_directories(tmp_path, run):
    """Legacy ``overlay`` (deprecated 18.09, removed 24.0; moby v23.0.0:daemon/graphdriver/
    overlay/overlay.go) has no reader: its directories are unknown, not missing."""
    b = RootBuilder(tmp_path, "vfs")
    image = b.add_image([diff_id("a")], tags=("busybox:latest",))
    cid = b.add_container(image, "c")
    os.rename(tmp_path / "image/vfs", tmp_path / "image/overlay")
    os.rename(tmp_path / "vfs/dir", tmp_path / "overlay")
    shutil.rmtree(tmp_path / "vfs")
    config = tmp_path / "containers" / cid / "config.v2.json"
    config.write_text(config.read_text().replace('"Driver": "vfs"', '"Driver": "overlay"'))
    report = audit(run, tmp_path)
    assert codes(report) == [("unsupported-driver", "image/overlay")]
    [c] = report["containers"]
    mount = b.built.containers[cid]
    assert c["driver"] == "overlay"
    assert c["layer_dirs"] == [mount, f"{mount}-init", b.built.images[image][0]]
