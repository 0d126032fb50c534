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
from tools.engine import Dockerd, archive_root, available, build_scenario, capture_expected

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module", params=["overlay2", "vfs"])
def engine_root(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    if not available():
        if os.environ.get("STORAGEKIT_REQUIRE_ENGINE"):
            pytest.fail("a real dockerd is required here (STORAGEKIT_REQUIRE_ENGINE is set)")
        pytest.skip("needs root, dockerd and busybox-static")
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
    containers = run("-r", root, "containers", "--format", "json")
    images = run("-r", root, "images", "--format", "json")
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
