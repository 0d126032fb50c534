"""btrfs: full-copy subvolumes below btrfs/subvolumes, read as plain directories, naive diff."""

from __future__ import annotations

import os
import shutil

import pytest
from storagekit.drivers.btrfs import BtrfsDriver
from storagekit.drivers.vfs import VfsDriver

from storagekit.driver import Whiteout
from storagekit.engines.docker.orphans import find_orphans
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import UnsafePathError
from storagekit.model import Findings
from storagekit.source import Entry, FileType
from storagekit.sources.dirsource import DirSource
from tests.drivers.common import clean_chain, diff_and_size
from tests.rootbuilder import rand_id, simple_root, write

SUBVOLUMES = "btrfs/subvolumes"
A = "a" * 64


def test_layout(tmp_path):
    (tmp_path / SUBVOLUMES / A).mkdir(parents=True)
    (tmp_path / SUBVOLUMES / f"{A}-init").mkdir()
    write(tmp_path / "btrfs" / "quotas" / A, "1000000")  # --storage-opt size: not a layer
    findings = Findings()
    drv = BtrfsDriver(DirSource(tmp_path), findings)
    assert BtrfsDriver.detect(drv.source)
    assert not VfsDriver.detect(drv.source)
    assert (drv.full_copy, drv.naive_diff) == (True, True)
    assert drv.layer_ids() == [A, f"{A}-init"]
    assert drv.layer_path(A) == f"{SUBVOLUMES}/{A}"
    assert drv.parent_ids(A) is None  # parentage lives in the layer store only
    assert drv.has_layer("quotas") is False
    with pytest.raises(UnsafePathError):
        drv.layer_path("../quotas")
    assert drv.has_layer("..") is False
    # no whiteouts on disk: a tar-convention name or a 0/0 device is an ordinary file
    wh = Entry(".wh.x", FileType.FILE, 0o644, 0, 0, 0, 0)
    dev = Entry("x", FileType.CHARDEV, 0o644, 0, 0, 0, 0, rdev=(0, 0))
    assert drv.whiteout(wh, dict) is Whiteout.NONE
    assert drv.whiteout(dev, dict) is Whiteout.NONE
    assert list(findings) == []


def test_not_detected_without_subvolumes(tmp_path):
    (tmp_path / "btrfs").mkdir()
    assert not BtrfsDriver.detect(DirSource(tmp_path))


# Through the whole toolkit, on a root laid out by tests.rootbuilder ---------------------------


def test_clean_root(tmp_path, run):
    ids, chain = clean_chain(run, tmp_path, "btrfs")
    mount = ids[0]
    assert [x["path"] for x in chain["layers"]] == [f"{SUBVOLUMES}/{i}" for i in ids]
    assert chain["driver_parents_agree"] is None  # btrfs keeps no parent record
    # the view is the top subvolume alone: lower ones are never layered (these hold only
    # their own files, so nothing below shows)
    ls = run("-r", str(tmp_path), "ls", "c1", "/", "--format", "json").json()
    assert [(x["path"], x["layer"]) for x in ls] == [("/written", mount)]


def test_deletions_are_absences_and_diff_is_naive(tmp_path, run):
    """The top subvolume is the whole view: what it lacks is deleted, lower copies never show."""
    b, image, cid = simple_root(tmp_path, "btrfs")
    mount = b.built.containers[cid]
    base, top = b.built.images[image]
    b.snapshot_chain([base, top, f"{mount}-init", mount])
    (tmp_path / SUBVOLUMES / mount / "f0").unlink()
    write(tmp_path / SUBVOLUMES / mount / ".wh.f1", "")  # no whiteout here: an ordinary file
    shutil.rmtree(tmp_path / SUBVOLUMES / top)  # a lower layer missing does not matter
    os.mkdir(tmp_path / SUBVOLUMES / top)
    ls = run("-r", str(tmp_path), "ls", "c1", "/", "--format", "json").json()
    assert [x["path"] for x in ls] == ["/.dockerenv", "/.wh.f1", "/f1", "/written"]
    # size_rw is ChangesSize: /written; the empty /.wh.f1 adds nothing
    assert diff_and_size(run, tmp_path) == ([("A", "/.wh.f1"), ("A", "/written"), ("D", "/f0")], 8)


def test_orphan_subvolume(tmp_path):
    simple_root(tmp_path, "btrfs")
    stray = rand_id()
    write(tmp_path / SUBVOLUMES / stray / "junk", b"j" * 3000)
    write(tmp_path / "btrfs" / "quotas" / "x", "5")
    with DockerRoot.open(str(tmp_path)) as root:
        found = find_orphans(root)
    assert [(o["kind"], o["path"], o["ids"]) for o in found] == [
        ("orphan-driver-dir", f"{SUBVOLUMES}/{stray}", [stray]),
    ]
    assert found[0]["bytes"] > 3000
