"""fuse-overlayfs: overlay2's layout in its own directory, both whiteout conventions, naive diff."""

from __future__ import annotations

import os

import pytest
from storagekit.drivers.fuseoverlayfs import FuseOverlayfsDriver
from storagekit.drivers.overlay2 import Overlay2Driver

from storagekit.driver import Whiteout
from storagekit.errors import UnsafePathError
from storagekit.model import Findings
from storagekit.source import FileType
from storagekit.sources.dirsource import DirSource
from tests.drivers.common import clean_chain, diff_and_size, entry
from tests.rootbuilder import simple_root, write

ROOT = "fuse-overlayfs"
A = "a" * 64
B = "b" * 64
LINK_A = "A" * 26
LINK_B = "B" * 26
NO_DIR = "resolves to no layer directory"
NOT_LINK = "lower entry is not an l/<LINKID> link"
OUTSIDE = "short link points outside its layers"


@pytest.fixture
def fuse(tmp_path):
    """A base layer and a layer on it, with their short links, as Create lays them out."""
    for layer, link in ((A, LINK_A), (B, LINK_B)):
        (tmp_path / ROOT / layer / "diff").mkdir(parents=True)
        write(tmp_path / ROOT / layer / "link", link)
        (tmp_path / ROOT / "l").mkdir(exist_ok=True)
        os.symlink(f"../{layer}/diff", tmp_path / ROOT / "l" / link)
    write(tmp_path / ROOT / B / "lower", f"l/{LINK_A}")
    findings = Findings()
    return FuseOverlayfsDriver(DirSource(tmp_path), findings), findings, tmp_path


def test_layout_and_parent_records(fuse):
    drv, findings, _ = fuse
    with pytest.raises(UnsafePathError):
        drv.layer_path("../overlay2")
    assert drv.has_layer("l") is False  # the short links' directory is no layer
    # overlay2's layout in another directory
    detected = (FuseOverlayfsDriver.detect(drv.source), Overlay2Driver.detect(drv.source))
    assert detected == (True, False)
    assert (drv.layer_ids(), drv.layer_path(B)) == ([A, B], f"{ROOT}/{B}/diff")
    assert [drv.parent_ids(A), drv.parent_ids(B)] == [[], [A]]
    assert (drv.full_copy, drv.naive_diff) == (False, True)
    assert list(findings) == []


def test_whiteouts_of_both_conventions(fuse):
    drv, _, _ = fuse
    none = dict
    # image layers: the tar's own aufs-format files, untarred as they are
    assert drv.whiteout(entry(".wh.gone"), none) is Whiteout.FILE
    assert drv.hidden_name(entry("d/.wh.gone")) == "gone"
    assert drv.whiteout(entry(".wh..wh..opq"), none) is Whiteout.OPAQUE_MARKER
    # container and init layers: what fuse-overlayfs itself writes
    assert drv.whiteout(entry("gone", FileType.CHARDEV, (0, 0)), none) is Whiteout.FILE
    assert drv.whiteout(entry(".wh..opq", FileType.CHARDEV, (0, 0)), none) is Whiteout.FILE
    assert drv.whiteout(entry("tty", FileType.CHARDEV, (5, 0)), none) is Whiteout.NONE
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"):
        opaque = drv.whiteout(entry("d", FileType.DIR), lambda a=attr: {a: b"y"})
        assert opaque is Whiteout.OPAQUE_DIR, attr
    assert drv.whiteout(entry("d", FileType.DIR), lambda: {"user.overlay.opaque": b"n"}) is (
        Whiteout.NONE
    )
    assert drv.whiteout(entry("plain"), none) is Whiteout.NONE


def test_hostile_lower_entries_are_findings_in_its_own_words(fuse):
    drv, findings, root = fuse
    write(root / ROOT / B / "lower", f"l/{'Z' * 26}:../../overlay2/x")
    os.symlink("../../../etc", root / ROOT / "l" / ("C" * 26))
    write(root / ROOT / A / "lower", f"l/{'C' * 26}")
    assert (drv.parent_ids(B), drv.parent_ids(A)) == ([], [])
    assert {f.severity for f in findings} == {"error"}
    assert [(f.code, f.path, f.message) for f in findings] == [
        ("broken-lower", f"{ROOT}/{B}/lower", f"{ROOT} lower entry l/{'Z' * 26} {NO_DIR}"),
        ("unsafe-lower", f"{ROOT}/{B}/lower", f"{ROOT} {NOT_LINK}: '../../overlay2/x'"),
        ("bad-link", f"{ROOT}/l/{'C' * 26}", f"{ROOT} {OUTSIDE}: '../../../etc'"),
        ("broken-lower", f"{ROOT}/{A}/lower", f"{ROOT} lower entry l/{'C' * 26} {NO_DIR}"),
    ]


# Through the whole toolkit, on a root laid out by tests.rootbuilder ---------------------------


def test_clean_root(tmp_path, run):
    ids, chain = clean_chain(run, tmp_path, ROOT)
    assert [x["path"] for x in chain["layers"]] == [f"{ROOT}/{i}/diff" for i in ids]
    assert chain["driver_parents_agree"] is True  # the lower files name the same layers


def test_aufs_format_image_layer_hides_and_lists_deleted(tmp_path, run):
    """An image layer deletes a file and empties a directory with the tar's own files."""
    b, image, cid = simple_root(tmp_path, ROOT)
    base, top = b.built.images[image]
    write(tmp_path / f"{ROOT}/{base}/diff/d/old", "old\n")
    write(tmp_path / f"{ROOT}/{top}/diff/.wh.f0", "")
    write(tmp_path / f"{ROOT}/{top}/diff/d/.wh..wh..opq", "")
    write(tmp_path / f"{ROOT}/{top}/diff/d/new", "new\n")
    r = run("-r", str(tmp_path), "ls", "img:1", "/", "-R", "--deleted", "--format", "json")
    assert r.code == 0, r.err
    assert [(x["path"], x["deleted"], x["layer"]) for x in r.json()] == [
        ("/d", False, top),
        ("/f1", False, top),
        ("/f0", True, base),  # each directory's hidden entries follow its visible ones
        ("/d/new", False, top),
        ("/d/old", True, base),
    ]


def test_diff_and_size_rw_are_naive(tmp_path, run):
    """SizeRw is ChangesSize of the mounted views, not the size of the container's diff/: an
    unchanged copy-up and fuse-overlayfs' marker files add nothing (fuseoverlayfs.go DiffSize)."""
    b, image, cid = simple_root(tmp_path, ROOT)
    mount = b.built.containers[cid]
    base, _ = b.built.images[image]
    upper = tmp_path / f"{ROOT}/{mount}/diff"
    lower_f0 = tmp_path / f"{ROOT}/{base}/diff/f0"
    write(upper / "f0", lower_f0.read_bytes())  # copied up, content and times unchanged
    st = lower_f0.stat()
    os.chmod(upper / "f0", st.st_mode)
    os.utime(upper / "f0", ns=(st.st_atime_ns, st.st_mtime_ns))
    write(upper / ".wh.f1", "")  # deleted, the way an unprivileged fuse-overlayfs does it
    write(upper / "v" / ".wh..wh..opq", "")  # a new, opaque volume mount point
    # size_rw: /written alone; overlay2 would count the copied-up f0 too
    assert diff_and_size(run, tmp_path) == ([("A", "/v"), ("A", "/written"), ("D", "/f1")], 8)
