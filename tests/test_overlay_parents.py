"""Legacy overlay: chain's driver_parents_agree is true or false for images, never null.

Image layers keep no lower-id; the hard links between consecutive root/ trees, and the lower-id
of the containers on them, are the driver's own record of how they stack.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import SAMPLES

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="extracting device nodes needs root")


@pytest.fixture
def root(tmp_path):
    dest = tmp_path / "root"
    dest.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xJf",
         str(SAMPLES / "overlay-20.10" / "root.tar.xz"), "-C", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


def agree(run, root, ref):
    r = run("-r", str(root), "chain", ref, "--format", "json")
    assert r.code == 0, r.err
    return r.json()["driver_parents_agree"]


def test_every_image_agrees(root, run):
    images = run("-r", str(root), "images", "-a", "--format", "json").json()
    assert len(images) == 15
    assert {i["id"]: agree(run, root, i["id"]) for i in images} == {i["id"]: True for i in images}


def test_a_layer_not_built_on_its_parent_disagrees(root, run):
    image = next(
        i
        for i in run("-r", str(root), "images", "-a", "--format", "json").json()
        if "sk-app:1.0" in i["tags"]
    )
    top = root / "overlay" / image["cache_ids"][-1] / "root"
    for path in [p for p in top.rglob("*") if p.is_file() and not p.is_symlink()]:
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)  # the same bytes, a new inode: no longer the parent's file
    assert agree(run, root, image["id"]) is False


def test_a_lower_id_naming_another_layer_disagrees(root, run):
    containers = run("-r", str(root), "containers", "--format", "json").json()
    c = next(c for c in containers if len(c["layer_dirs"]) > 3)
    image = next(
        i
        for i in run("-r", str(root), "images", "-a", "--format", "json").json()
        if i["id"] == c["image_id"]
    )
    wrong = image["cache_ids"][-2]  # an image layer, but not the image's top
    (root / "overlay" / c["init_id"] / "lower-id").write_text(wrong)
    (root / "overlay" / c["mount_id"] / "lower-id").write_text(wrong)
    assert agree(run, root, c["id"]) is False
    assert agree(run, root, image["id"]) is False
