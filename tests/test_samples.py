"""Conformance: storagekit's answers about each sample root equal the engine's saved answers.

Each root is read twice: as the archive (indexed, never extracted) and as a directory extracted
from it with GNU tar (xattrs and device nodes kept, which needs root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import check_containers, check_images, check_layers

SAMPLES = Path(__file__).resolve().parent.parent / "sample_roots"
NAMES = sorted(p.name for p in SAMPLES.iterdir() if (p / "root.tar.xz").is_file())


def expected_of(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name / "expected.json").read_text())


@pytest.fixture(scope="session")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each sample root extracted once per session (skipped forms if not root)."""
    out: dict[str, Path] = {}
    if os.geteuid() != 0 or shutil.which("tar") is None:
        return out
    for name in NAMES:
        dest = tmp_path_factory.mktemp(name)
        subprocess.run(
            [
                "tar",
                "--xattrs",
                "--xattrs-include=*",
                "--numeric-owner",
                "-xJf",
                str(SAMPLES / name / "root.tar.xz"),
                "-C",
                str(dest),
            ],
            check=True,
        )
        out[name] = dest
    return out


@pytest.fixture(params=["archive", "directory"])
def sample(request: pytest.FixtureRequest, extracted: dict[str, Path]):
    def pick(name: str) -> str:
        if request.param == "archive":
            return str(SAMPLES / name / "root.tar.xz")
        if name not in extracted:
            pytest.skip("extracting a root with device nodes and xattrs needs root")
        return str(extracted[name])

    return pick


def test_samples_exist():
    assert NAMES == ["aufs-modelled", "overlay2-20.10", "vfs-20.10"]


@pytest.mark.parametrize("name", NAMES)
def test_inventory_equals_engine(name, sample, run):
    root = sample(name)
    expected = expected_of(name)
    containers = run("-r", root, "containers", "--format", "json")
    images = run("-r", root, "images", "--format", "json")
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
    assert report["drivers"] == [name.split("-")[0]]
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
        assert agree is (None if name.startswith("vfs") else True)
