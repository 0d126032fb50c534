"""Live-engine tests: a fresh root made by a real dockerd, read by storagekit, compared with the
engine's own answers. Slow (a daemon per driver); selected with ``-m engine``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import check_containers, check_images, check_layers
from tests.support.engine import Dockerd, archive_root, available, build_scenario, capture_expected

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module", params=["overlay2", "vfs", "overlay", "fuse-overlayfs", "btrfs"])
def engine_root(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    if not available(request.param):
        if os.environ.get("STORAGEKIT_REQUIRE_ENGINE"):
            pytest.fail("a real dockerd is required here (STORAGEKIT_REQUIRE_ENGINE is set)")
        pytest.skip(f"needs root, dockerd, busybox-static and what {request.param} needs")
    work = tmp_path_factory.mktemp(f"engine-{request.param}")
    with Dockerd(work / "d", driver=request.param) as d:
        build_scenario(d, small=True)
        expected = capture_expected(d)
        archive = work / "root.tar.xz"
        archive_root(d, archive)
        yield d.root, archive, expected


@pytest.mark.parametrize("form", ["directory", "archive"])
def test_inventory_equals_engine(engine_root, form, run):
    directory, archive, expected = engine_root
    root = str(directory if form == "directory" else archive)
    containers = run("-r", root, "containers", "-s", "--format", "json")
    images = run("-r", root, "images", "-a", "--format", "json")
    layers = run("-r", root, "layers", "--format", "json")
    assert (containers.code, images.code, layers.code) == (0, 0, 0)
    check_containers(containers.json(), expected)
    check_images(images.json(), expected)
    check_layers(layers.json(), images.json(), expected)
    audit = run("-r", root, "audit", "--format", "json")
    assert audit.json()["findings"] == []
    assert audit.err == ""


def test_diff_and_export_equal_engine(engine_root, run, tmp_path):
    from tests.test_recovery import check_diff, normalise_export, tar_entries

    directory, archive, expected = engine_root
    for root in (str(directory), str(archive)):
        for c in expected["containers"]:
            check_diff(run, root, expected, c["Id"])
            out = tmp_path / f"{c['Id']}.tar"
            out.unlink(missing_ok=True)
            r = run("-r", root, "extract", c["Id"], "--tar", str(out))
            assert r.code == 0, r.err
            assert normalise_export(tar_entries(out)) == normalise_export(
                expected["export"][c["Id"]]
            )


def test_reclaim_apply_then_a_fresh_engine_sees_the_same_root(engine_root, run, tmp_path):
    """Damage a copy as hosts get damaged, reclaim it, and start a real dockerd on it."""
    import subprocess

    from tests.rootbuilder import FULL_COPY_DIRS, rand_id, write

    _, archive, expected = engine_root
    driver = expected["info"]["Driver"]
    work = tmp_path / "w"
    copy = work / "root"
    copy.mkdir(parents=True)
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xJf", str(archive),
         "-C", str(copy)],
        check=True,
    )  # fmt: skip
    orphan = rand_id()
    layer_dir = copy / FULL_COPY_DIRS.get(driver, driver) / orphan
    junk = {"overlay": "root/junk"}.get(driver, "junk" if driver in FULL_COPY_DIRS else "diff/junk")
    write(layer_dir / junk, b"x" * 50000)
    write(copy / f"image/{driver}/layerdb/sha256/{rand_id()}-removing/cache-id", rand_id())
    write(copy / f"image/{driver}/layerdb/tmp/write-set-1/diff", "sha256:" + "0" * 64)
    found = run("-r", str(copy), "orphans", "--format", "json").json()
    assert {o["kind"] for o in found} >= {"orphan-driver-dir", "removing-dir", "stale-tmp"}
    r = run("-r", str(copy), "reclaim", "--apply", "--yes")
    assert r.code == 0, r.err
    assert not layer_dir.exists()
    left = run("-r", str(copy), "orphans", "--format", "json").json()
    assert [o for o in left if o["kind"] not in ("dangling-image", "unused-volume")] == []
    with Dockerd(work, driver=driver) as d:
        ids = sorted(d.docker("ps", "-a", "-q", "--no-trunc").split())
        assert ids == sorted(c["Id"] for c in expected["containers"])
        images = sorted(d.docker("images", "-a", "-q", "--no-trunc").split())
        assert sorted(set(images)) == sorted(i["Id"] for i in expected["images"])
        for c in expected["containers"]:
            changes = d.api(f"/containers/{c['Id']}/changes") or []
            assert sorted((x["Kind"], x["Path"]) for x in changes) == sorted(
                (x["Kind"], x["Path"]) for x in expected["diff"][c["Id"]] or []
            )


def test_save_loads_into_a_fresh_engine_and_runs(engine_root, run, tmp_path):
    _, archive, expected = engine_root
    tagged = [i for i in expected["images"] if i["RepoTags"]]
    out = tmp_path / "images.tar"
    r = run("-r", str(archive), "save", *[i["RepoTags"][0] for i in tagged], "-o", str(out))
    assert r.code == 0, r.err
    with Dockerd(tmp_path / "fresh", driver=expected["info"]["Driver"]) as d:
        d.docker("load", "-i", str(out))
        for image in tagged:
            got = d.docker_json("image", "inspect", image["Id"])[0]
            assert got["Id"] == image["Id"]
            assert sorted(got["RepoTags"]) == sorted(image["RepoTags"])
            assert got["RootFS"]["Layers"] == image["RootFS"]["Layers"]
        name = next(i["RepoTags"][0] for i in tagged if "sk-base:1" not in i["RepoTags"])
        said = d.docker("run", "--rm", "--network", "none", name, "echo", "alive")
        assert said.strip() == "alive"


def test_verify_on_a_fresh_engine_root(engine_root, run):
    directory, archive, expected = engine_root
    for root in (str(directory), str(archive)):
        r = run("-r", root, "verify", "--format", "json")
        assert r.code == 0, r.err
        assert {x["status"] for x in r.json()} == {"ok"}
        assert len(r.json()) == len(
            {lay for i in expected["images"] for lay in i["RootFS"]["Layers"]}
        )
