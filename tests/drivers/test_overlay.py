"""Legacy overlay: layout, lower-id parsing and validation, and what its union really layers."""

from __future__ import annotations

import os
import shutil

import pytest
from storagekit.drivers.overlay import OverlayDriver

from storagekit.driver import ParentRecord, Whiteout
from storagekit.engines.docker.orphans import find_orphans
from storagekit.engines.docker.root import DockerRoot
from storagekit.model import Finding, Findings
from storagekit.registry import driver_classes
from storagekit.source import Entry, FileType
from storagekit.sources.dirsource import DirSource
from tests.drivers.common import clean_chain
from tests.rootbuilder import rand_id, simple_root, write

BASE = "a" * 64
TOP = "b" * 64
MOUNT = "c" * 64
INIT = f"{MOUNT}-init"


@pytest.fixture
def overlay(tmp_path):
    """Two image layers (root/, the top one hard-linking the base's file), an init layer and a
    container layer on the top one, as overlay.go lays them out."""
    o = tmp_path / "overlay"
    write(o / BASE / "root" / "etc" / "os", "base\n")
    (o / TOP / "root" / "etc").mkdir(parents=True)
    os.link(o / BASE / "root" / "etc" / "os", o / TOP / "root" / "etc" / "os")
    write(o / TOP / "root" / "app", "app\n")
    for layer in (INIT, MOUNT):
        write(o / layer / "upper" / ".dockerenv", "")
        (o / layer / "work").mkdir()
        write(o / layer / "lower-id", TOP)
    findings = Findings()
    return OverlayDriver(DirSource(tmp_path), findings), findings, tmp_path


def test_registered_under_dockers_own_name():
    assert driver_classes()["overlay"] is OverlayDriver


def test_layout_and_parent_records(overlay):
    drv, findings, _ = overlay
    assert OverlayDriver.detect(drv.source)
    assert drv.layer_ids() == [BASE, TOP, MOUNT, INIT]
    assert drv.layer_path(BASE) == f"overlay/{BASE}/root"
    assert drv.layer_path(TOP) == f"overlay/{TOP}/root"
    assert drv.layer_path(INIT) == f"overlay/{INIT}/upper"
    assert drv.layer_path(MOUNT) == f"overlay/{MOUNT}/upper"
    assert [drv.has_layer(i) for i in (BASE, TOP, MOUNT, INIT, "d" * 64)] == [
        True,
        True,
        True,
        True,
        False,
    ]
    # image layers keep their parent only in the layer store, as vfs does
    assert drv.parent_record(BASE) is None
    assert drv.parent_ids(TOP) is None
    record = ParentRecord((TOP,), complete=True, whole_chain=False)
    assert drv.parent_record(INIT) == record
    assert drv.parent_record(MOUNT) == record
    assert list(findings) == []


def test_a_trailing_newline_in_lower_id_is_tolerated(overlay):
    drv, findings, root = overlay
    write(root / "overlay" / MOUNT / "lower-id", TOP + "\n")
    assert drv.parent_ids(MOUNT) == [TOP]
    assert list(findings) == []


def test_union_is_one_upper_over_the_image_top_root(overlay):
    drv, _, _ = overlay
    assert drv.union_branches([MOUNT, INIT, TOP, BASE], 2) == [MOUNT, TOP]
    assert drv.union_branches([INIT, TOP, BASE], 1) == [INIT, TOP]
    assert drv.union_branches([MOUNT, TOP, BASE], 1) == [MOUNT, TOP]  # no init layer
    assert drv.union_branches([TOP, BASE], 0) == [TOP]
    assert drv.union_branches([], 0) == []


def test_kernel_whiteouts_in_upper(overlay):
    drv, _, _ = overlay
    dev = Entry("gone", FileType.CHARDEV, 0, 0, 0, 0, 0, rdev=(0, 0))
    opaque = Entry("d", FileType.DIR, 0o755, 0, 0, 0, 0)
    assert drv.whiteout(dev, dict) is Whiteout.FILE
    assert drv.whiteout(opaque, lambda: {"trusted.overlay.opaque": b"y"}) is Whiteout.OPAQUE_DIR
    assert drv.whiteout(opaque, dict) is Whiteout.NONE


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        (
            "../../../etc",
            "unsafe-id",
            "overlay lower-id names an unusable layer ID: '../../../etc'",
        ),
        ("", "unsafe-id", "overlay lower-id names an unusable layer ID: ''"),
        ("d" * 64, "broken-lower", f"overlay lower-id names no layer directory: {'d' * 64}"),
        (
            INIT,
            "broken-lower",
            f"overlay lower-id names layer {INIT}, which has no root/ (not an image layer)",
        ),
    ],
)
def test_hostile_lower_id_is_a_finding_never_a_path(overlay, value, code, message):
    drv, findings, root = overlay
    write(root / "overlay" / MOUNT / "lower-id", value)
    assert drv.parent_record(MOUNT) == ParentRecord((), complete=False, whole_chain=False)
    assert list(findings) == [Finding(code, "error", f"overlay/{MOUNT}/lower-id", message)]


def test_image_layer_without_root_is_named_by_lower_id(overlay):
    drv, findings, root = overlay
    shutil.rmtree(root / "overlay" / TOP / "root")
    assert drv.parent_ids(MOUNT) == []
    assert drv.has_layer(TOP) is False
    assert list(findings) == [
        Finding(
            "broken-lower",
            "error",
            f"overlay/{MOUNT}/lower-id",
            f"overlay lower-id names layer {TOP}, which has no root/ (not an image layer)",
        )
    ]


def test_missing_lower_id(overlay):
    drv, findings, root = overlay
    (root / "overlay" / MOUNT / "lower-id").unlink()
    assert drv.layer_path(MOUNT) == f"overlay/{MOUNT}/upper"  # upper/ still says what it is
    assert drv.parent_ids(MOUNT) == []
    assert list(findings) == [
        Finding(
            "missing-driver-parents",
            "warning",
            f"overlay/{MOUNT}/lower-id",
            "overlay lower-id is missing or unreadable",
        )
    ]


# Through the whole toolkit, on a root laid out by tests.rootbuilder ---------------------------


def test_clean_root(tmp_path, run):
    (mount, init, top, base), chain = clean_chain(run, tmp_path, "overlay")
    assert [x["path"] for x in chain["layers"]] == [
        f"overlay/{mount}/upper",
        f"overlay/{init}/upper",
        f"overlay/{top}/root",
        f"overlay/{base}/root",
    ]
    assert chain["driver_parents_agree"] is True


@pytest.mark.parametrize(
    ("value", "code"),
    [("../../etc", "unsafe-id"), (rand_id(), "broken-lower"), ("{init}", "broken-lower")],
)
def test_hostile_lower_id_through_the_cli(tmp_path, run, value, code):
    b, image, cid = simple_root(tmp_path, "overlay")
    mount = b.built.containers[cid]
    base, top = b.built.images[image]
    write(tmp_path / f"overlay/{mount}/lower-id", value.format(init=f"{mount}-init"))
    r = run("-r", str(tmp_path), "chain", "c1", "--format", "json")
    assert r.code == 0
    data = r.json()
    assert data["driver_parents_agree"] is False
    # the layer store still gives the chain, and the view is still the upper over the top root
    assert [x["cache_id"] for x in data["layers"]] == [mount, f"{mount}-init", top, base]
    assert r.err.count(f"[{code}]") == 1
    ls = run("-r", str(tmp_path), "ls", "c1", "/", "--format", "json")
    assert sorted(x["path"] for x in ls.json()) == ["/.dockerenv", "/f0", "/f1", "/written"]


def test_deleted_files_are_not_resurrected(tmp_path, run):
    """Neither the init layer (copied into the container's upper) nor lower image layers
    (complete trees) are layered: what the container or a later layer deleted stays gone."""
    b, image, cid = simple_root(tmp_path, "overlay")
    mount = b.built.containers[cid]
    base, top = b.built.images[image]
    (tmp_path / f"overlay/{mount}/upper/.dockerenv").unlink()  # the container deleted it
    (tmp_path / f"overlay/{top}/root/f0").unlink()  # the top image layer deleted f0
    r = run("-r", str(tmp_path), "ls", "c1", "/", "--format", "json")
    assert [(x["path"], x["layer"]) for x in r.json()] == [("/f1", top), ("/written", mount)]
    r = run("-r", str(tmp_path), "ls", "img:1", "/", "--format", "json")
    assert [(x["path"], x["layer"]) for x in r.json()] == [("/f1", top)]
    r = run("-r", str(tmp_path), "diff", "c1", "--format", "json")
    assert [(x["kind"], x["path"]) for x in r.json()] == [("A", "/written"), ("D", "/.dockerenv")]
    # SizeRw is ChangesSize of that diff: the 8-byte /written
    r = run("-r", str(tmp_path), "containers", "-s", "--format", "json")
    assert r.json()[0]["size_rw"] == 8


@pytest.mark.skipif(os.geteuid() != 0, reason="a 0/0 character device needs root")
def test_whiteout_in_upper_hides_and_is_listed_as_deleted(tmp_path, run):
    b, image, cid = simple_root(tmp_path, "overlay")
    mount = b.built.containers[cid]
    base, top = b.built.images[image]
    os.mknod(tmp_path / f"overlay/{mount}/upper/f0", 0o20000, os.makedev(0, 0))
    r = run("-r", str(tmp_path), "ls", "c1", "/", "--deleted", "--format", "json")
    assert [(x["path"], x["deleted"], x["layer"]) for x in r.json()] == [
        ("/.dockerenv", False, mount),
        ("/f1", False, top),
        ("/written", False, mount),
        ("/f0", True, top),  # hidden entries follow the visible ones
    ]
    r = run("-r", str(tmp_path), "diff", "c1", "--format", "json")
    assert [(x["kind"], x["path"]) for x in r.json()] == [("A", "/written"), ("D", "/f0")]


def test_orphan_overlay_directory(tmp_path):
    b, image, cid = simple_root(tmp_path, "overlay")
    stray = rand_id()
    write(tmp_path / "overlay" / stray / "root" / "junk", b"j" * 3000)
    with DockerRoot.open(str(tmp_path)) as root:
        found = find_orphans(root)
    assert [(o["kind"], o["path"], o["paths"], o["ids"]) for o in found] == [
        ("orphan-driver-dir", f"overlay/{stray}/root", [f"overlay/{stray}"], [stray]),
    ]
    assert found[0]["bytes"] > 3000
