"""df, orphans and reclaim from the command line; reclaim --apply on a damaged copy."""

from __future__ import annotations

import os
import shutil

from tests.rootbuilder import rand_id, simple_root, write


def damaged(tmp_path):
    """A root with an unreferenced overlay2 layer dir, an interrupted delete and a stale tmp."""
    b, image, cid = simple_root(tmp_path)
    orphan = rand_id()
    b.driver_dir(orphan, [], {"junk": b"x" * 10000})
    removing = tmp_path / "image/overlay2/layerdb/sha256" / (rand_id() + "-removing")
    write(removing / "cache-id", "y" * 64)
    write(tmp_path / "image/overlay2/layerdb/tmp/write-set-123/diff", "z")
    return b, image, cid, orphan


def test_df_json_has_the_contract_keys(tmp_path, run):
    simple_root(tmp_path)
    r = run("-r", str(tmp_path), "df", "-v", "--format", "json")
    assert r.code == 0, r.err
    data = r.json()
    for key in ("images", "containers", "volumes", "build_cache", "orphans", "totals"):
        assert {"count", "active", "size", "reclaimable"} <= set(data[key]), key
    assert data["images"]["count"] == 1
    assert [c["size_rw"] for c in data["containers"]["items"]] == [8]
    measured = data["measured"]
    assert measured["total"] == sum(
        measured[a]
        for a in ("layers", "containers", "volumes", "image_metadata", "build_cache", "other")
    )
    table = run("-r", str(tmp_path), "df")
    assert table.out.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]


def test_reclaim_plan_and_apply(tmp_path, run):
    root = tmp_path / "root"
    b, image, cid, orphan = damaged(root)
    before_images = run("-r", str(root), "images", "--format", "json").json()
    before_containers = run("-r", str(root), "containers", "--format", "json").json()
    found = run("-r", str(root), "orphans", "--format", "json").json()
    removing = next((root / "image/overlay2/layerdb/sha256").glob("*-removing")).name
    assert [(o["kind"], o["path"]) for o in found] == [
        ("orphan-driver-dir", f"overlay2/{orphan}/diff"),
        ("removing-dir", f"image/overlay2/layerdb/sha256/{removing}"),
        ("stale-tmp", "image/overlay2/layerdb/tmp/write-set-123"),
    ]
    assert found[0]["paths"] == [f"overlay2/{orphan}", f"overlay2/l/{b.links[orphan]}"]
    assert all(o["bytes"] > 0 for o in found)
    plan = run("-r", str(root), "reclaim")
    assert plan.code == 0
    assert f"rm -rf -- overlay2/{orphan}" in plan.out
    assert plan.out.startswith("#!/bin/sh\n")
    # A copy is what gets reclaimed; the original stays as evidence.
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    r = run("-r", str(copy), "reclaim", "--apply", "--yes")
    assert r.code == 0, r.err
    assert f"removed overlay2/{orphan}" in r.out
    assert not (copy / "overlay2" / orphan).exists()
    assert (root / "overlay2" / orphan).exists()
    assert run("-r", str(copy), "orphans", "--format", "json").json() == []
    assert run("-r", str(copy), "images", "--format", "json").json() == before_images
    assert run("-r", str(copy), "containers", "--format", "json").json() == before_containers
    mount = b.built.containers[cid]
    assert (copy / "overlay2" / mount / "diff" / "written").read_bytes() == b"12345678"


def test_reclaim_apply_refuses_archives(tmp_path, run):
    import tarfile

    simple_root(tmp_path / "root")
    archive = tmp_path / "root.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(tmp_path / "root", arcname=".")
    r = run("-r", str(archive), "reclaim", "--apply", "--yes")
    assert r.code == 2
    assert "needs the Docker root itself as a directory" in r.err
    assert os.path.getsize(archive) > 0


def test_reclaim_plan_is_for_the_root_given(tmp_path, run):
    """A root copied elsewhere: the plan names the copy, never the host path it recorded."""
    original = tmp_path / "var-lib-docker"
    damaged(original)
    copy = tmp_path / "cases" / "x"
    shutil.copytree(original, copy, symlinks=True)
    shutil.rmtree(original)
    plan = run("-r", str(copy), "reclaim")
    assert plan.code == 0, plan.err
    lines = plan.out.splitlines()
    assert lines[2] == (
        f"# Docker root: {copy} (the root named by -r; never a path recorded in it)"
    )
    assert f"cd {copy}" in lines
    named = {w for line in lines for w in line.split() if w.startswith("/")}
    assert named == {str(copy)}
    assert "/var/lib/docker" not in plan.out


def test_reclaim_plan_for_an_archive_asks_where_it_was_extracted(tmp_path, run):
    import tarfile

    simple_root(tmp_path / "root")
    archive = tmp_path / "root.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(tmp_path / "root", arcname=".")
    plan = run("-r", str(archive), "reclaim")
    assert plan.code == 0
    assert 'cd "${ROOT:?set ROOT to the Docker root extracted from the archive}"' in plan.out
    assert "/var/lib/docker" not in plan.out
