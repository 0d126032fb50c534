"""Conformance: storagekit's answers about each sample root equal the engine's saved answers.

Each root is read twice: as the archive (indexed, never extracted) and as a directory extracted
from it with GNU tar (xattrs and device nodes kept, which needs root).
"""

from __future__ import annotations

import pytest

from tests.conformance import check_containers, check_images, check_layers
from tests.conftest import NAMES, driver_of, expected_of


def test_samples_exist():
    assert NAMES == [
        "aufs-modelled",
        "btrfs-20.10",
        "fuse-overlayfs-20.10",
        "overlay-20.10",
        "overlay2-20.10",
        "vfs-20.10",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_inventory_equals_engine(name, sample, run):
    root = sample(name)
    expected = expected_of(name)
    containers = run("-r", root, "containers", "-s", "--format", "json")
    images = run("-r", root, "images", "-a", "--format", "json")
    layers = run("-r", root, "layers", "--format", "json")
    assert (containers.code, images.code, layers.code) == (0, 0, 0)
    assert (containers.err, images.err, layers.err) == ("", "", "")
    check_containers(containers.json(), expected)
    check_images(images.json(), expected)
    check_layers(layers.json(), images.json(), expected)


@pytest.mark.parametrize("name", NAMES)
def test_audit_of_a_clean_root_has_no_findings(name, sample, run):
    r = run("-r", sample(name), "audit", "--format", "json")
    assert r.code == 0
    report = r.json()
    assert report["findings"] == []
    assert report["drivers"] == [driver_of(name)]
    expected = expected_of(name)
    assert report["counts"]["containers"] == len(expected["containers"])
    assert report["counts"]["images"] == len(expected["images"])


@pytest.mark.parametrize("name", NAMES)
def test_chain_of_every_container(name, sample, run):
    root = sample(name)
    expected = expected_of(name)
    for c in expected["containers"]:
        r = run("-r", root, "chain", c["Name"], "--format", "json")
        assert r.code == 0, r.err
        data = r.json()
        assert data["ref"] == c["Id"]
        assert data["kind"] == "container"
        assert [lay["role"] for lay in data["layers"]][:2] == ["rw", "init"]
        assert all(lay["present"] for lay in data["layers"])
        assert data["complete"] is True
        agree = data["driver_parents_agree"]
        assert agree is (None if driver_of(name) in ("vfs", "btrfs") else True)
