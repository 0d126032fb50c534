"""Driver readers: layout, parent records and whiteout classification, per driver."""

from __future__ import annotations

import os

import pytest
from storagekit.drivers.aufs import AufsDriver
from storagekit.drivers.btrfs import BtrfsDriver
from storagekit.drivers.fuseoverlayfs import FuseOverlayfsDriver
from storagekit.drivers.overlay2 import Overlay2Driver
from storagekit.drivers.vfs import VfsDriver

from storagekit.driver import Whiteout
from storagekit.errors import UnsafePathError
from storagekit.model import Findings
from storagekit.registry import driver_classes
from storagekit.source import FileType
from storagekit.sources.dirsource import DirSource
from tests.drivers.common import entry
from tests.rootbuilder import write

A = "a" * 64
B = "b" * 64
C = "c" * 64
LINK_A = "A" * 26
LINK_B = "B" * 26


def test_builtin_drivers_come_from_the_entry_point_group():
    classes = driver_classes()
    assert classes["overlay2"] is Overlay2Driver
    assert classes["aufs"] is AufsDriver
    assert classes["vfs"] is VfsDriver
    assert classes["fuse-overlayfs"] is FuseOverlayfsDriver
    assert classes["btrfs"] is BtrfsDriver


@pytest.fixture
def overlay2(tmp_path):
    for layer, link in ((A, LINK_A), (B, LINK_B)):
        (tmp_path / "overlay2" / layer / "diff").mkdir(parents=True)
        write(tmp_path / "overlay2" / layer / "link", link)
        (tmp_path / "overlay2" / "l").mkdir(exist_ok=True)
        os.symlink(f"../{layer}/diff", tmp_path / "overlay2" / "l" / link)
    write(tmp_path / "overlay2" / B / "lower", f"l/{LINK_A}")
    write(tmp_path / "overlay2" / C / "lower", f"l/{LINK_B}:l/{LINK_A}")
    (tmp_path / "overlay2" / C / "diff").mkdir()
    findings = Findings()
    return Overlay2Driver(DirSource(tmp_path), findings), findings, tmp_path


def test_overlay2_layout(overlay2):
    drv, findings, _ = overlay2
    assert Overlay2Driver.detect(drv.source)
    assert drv.layer_ids() == [A, B, C]
    assert drv.layer_path(A) == f"overlay2/{A}/diff"
    assert drv.parent_ids(A) == []
    assert drv.parent_ids(B) == [A]
    assert drv.parent_ids(C) == [B, A]
    assert list(findings) == []
    with pytest.raises(UnsafePathError):
        drv.layer_path("../x")
    assert drv.has_layer("../x") is False


def test_overlay2_damaged_link_falls_back_to_link_files(overlay2):
    drv, findings, root = overlay2
    os.unlink(root / "overlay2" / "l" / LINK_A)
    assert drv.parent_ids(C) == [B, A]
    assert list(findings) == []


def test_overlay2_link_to_nowhere(overlay2):
    drv, findings, root = overlay2
    write(root / "overlay2" / C / "lower", f"l/{'Z' * 26}")
    assert drv.parent_ids(C) == []
    assert [f.code for f in findings] == ["broken-lower"]


def test_overlay2_shared_lower_tail_is_reported_for_every_layer(overlay2):
    # Containers on one image share the lower entries after their init layer's link: a
    # broken shared entry is resolved once but reported for each lower file that names it.
    drv, findings, root = overlay2
    D, E = "d" * 64, "e" * 64
    for layer, own in ((D, "D" * 26), (E, "E" * 26)):
        (root / "overlay2" / layer / "diff").mkdir(parents=True)
        write(root / "overlay2" / layer / "lower", f"l/{own}:l/{LINK_B}:l/{'Z' * 26}:../x")
    assert drv.parent_ids(D) == [B]
    assert drv.parent_ids(E) == [B]
    assert sorted((f.code, f.path) for f in findings) == [
        ("broken-lower", f"overlay2/{D}/lower"),
        ("broken-lower", f"overlay2/{D}/lower"),
        ("broken-lower", f"overlay2/{E}/lower"),
        ("broken-lower", f"overlay2/{E}/lower"),
        ("unsafe-lower", f"overlay2/{D}/lower"),
        ("unsafe-lower", f"overlay2/{E}/lower"),
    ]


def test_overlay2_whiteouts(overlay2):
    drv, _, _ = overlay2
    none = dict
    assert drv.whiteout(entry("x", FileType.CHARDEV, (0, 0)), none) is Whiteout.FILE
    assert drv.whiteout(entry("x", FileType.CHARDEV, (1, 3)), none) is Whiteout.NONE
    opaque = lambda: {"trusted.overlay.opaque": b"y"}  # noqa: E731
    user_opaque = lambda: {"user.overlay.opaque": b"y"}  # noqa: E731
    assert drv.whiteout(entry("d", FileType.DIR), opaque) is Whiteout.OPAQUE_DIR
    assert drv.whiteout(entry("d", FileType.DIR), user_opaque) is Whiteout.OPAQUE_DIR
    assert drv.whiteout(entry("d", FileType.DIR), none) is Whiteout.NONE
    # a copy that converted whiteouts to the tar convention
    assert drv.whiteout(entry(".wh.gone"), none) is Whiteout.FILE
    assert drv.hidden_name(entry("d/.wh.gone")) == "gone"
    assert drv.hidden_name(entry("d/gone", FileType.CHARDEV, (0, 0))) == "gone"
    assert drv.whiteout(entry(".wh..wh..opq"), none) is Whiteout.OPAQUE_MARKER


def test_aufs_layout_and_whiteouts(tmp_path):
    for layer in (A, B):
        (tmp_path / "aufs" / "diff" / layer).mkdir(parents=True)
        (tmp_path / "aufs" / "mnt" / layer).mkdir(parents=True)
    write(tmp_path / "aufs" / "layers" / A, "")
    write(tmp_path / "aufs" / "layers" / B, f"{A}\n\n")
    findings = Findings()
    drv = AufsDriver(DirSource(tmp_path), findings)
    assert AufsDriver.detect(drv.source)
    assert drv.layer_ids() == [A, B]
    assert drv.layer_path(B) == f"aufs/diff/{B}"
    assert drv.parent_ids(A) == []
    assert drv.parent_ids(B) == [A]
    assert drv.parent_ids(C) is None
    assert [f.code for f in findings] == ["missing-driver-parents"]
    none = dict
    assert drv.whiteout(entry(".wh.x"), none) is Whiteout.FILE
    assert drv.whiteout(entry(".wh..wh..opq"), none) is Whiteout.OPAQUE_MARKER
    for meta in (".wh..wh.aufs", ".wh..wh.plnk", ".wh..wh.orph"):
        assert drv.whiteout(entry(meta), none) is Whiteout.BOOKKEEPING
    assert drv.whiteout(entry("x", FileType.CHARDEV, (0, 0)), none) is Whiteout.NONE


def test_vfs_layout(tmp_path):
    (tmp_path / "vfs" / "dir" / A).mkdir(parents=True)
    (tmp_path / "vfs" / "dir" / f"{A}-init").mkdir()
    drv = VfsDriver(DirSource(tmp_path), Findings())
    assert VfsDriver.detect(drv.source)
    assert VfsDriver.full_copy
    assert drv.layer_ids() == [A, f"{A}-init"]
    assert drv.layer_path(A) == f"vfs/dir/{A}"
    assert drv.parent_ids(A) is None
    assert not Overlay2Driver.detect(drv.source)
    assert not AufsDriver.detect(drv.source)


def test_entry_points_match_importlib_metadata():
    from importlib.metadata import entry_points as stdlib_entry_points

    from storagekit.registry import GROUP, entry_points

    expected = sorted((ep.name, ep.value) for ep in stdlib_entry_points(group=GROUP))
    assert sorted(entry_points(GROUP)) == expected
    assert ("overlay2", "storagekit.drivers.overlay2:Overlay2Driver") in expected


def test_entry_points_file_parsing():
    from storagekit.registry import _parse

    text = "# c\n[console_scripts]\nx = a:b\n[ storagekit.drivers ]\nzfs = pkg.mod:Zfs [extra]\n"
    assert _parse(text, "storagekit.drivers") == [("zfs", "pkg.mod:Zfs")]


def test_broken_plugin_is_a_finding(monkeypatch):
    from storagekit import registry

    monkeypatch.setattr(
        registry,
        "entry_points",
        lambda group: [("bad", "no.such.module:X"), ("vfs", "storagekit.drivers.vfs:VfsDriver")],
    )
    registry.clear()
    try:
        findings = Findings()
        classes = registry.driver_classes(findings)
        assert list(classes) == ["vfs"]
        [f] = list(findings)
        assert f.code == "driver-plugin-error"
        assert "'bad' (no.such.module:X) failed to load" in f.message
    finally:
        registry.clear()
