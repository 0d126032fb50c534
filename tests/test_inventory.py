"""The one-pass inventory read: same stores, containers and findings as the kind-by-kind readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storagekit import parallel
from storagekit.engines.docker.inventory import read_with_containers
from storagekit.engines.docker.root import DockerRoot
from storagekit.sources.dirsource import DirSource
from tests.rootbuilder import RootBuilder, diff_id, write


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_CHUNK", 2)
    monkeypatch.setattr(parallel, "spare_cores", parallel._cores)  # fork however busy


def damaged_two_driver_root(root: Path) -> tuple[dict[str, str], list[str]]:
    """overlay2 and vfs stores with images, containers and damage of every kind read here."""
    image_of: dict[str, str] = {}
    for driver in ("overlay2", "vfs"):
        b = RootBuilder(root, driver)
        base = b.add_image([diff_id(f"{driver}-base")], tags=(f"{driver}:base",))
        top = b.add_image([diff_id(f"{driver}-base"), diff_id(f"{driver}-top")], parent=base)
        for n in range(4):
            image_of[b.add_container(base if n % 2 else top, f"{driver}-{n}")] = (
                base if n % 2 else top
            )
        b.repos["gone"] = {"gone:1": "sha256:" + "ab" * 32}
        b.write_repositories()
        store = root / "image" / driver
        write(store / "layerdb" / "sha256" / "not-a-chain-id" / "diff", "x")
        write(store / "imagedb" / "content" / "sha256" / ("cd" * 32), b"{not json")
    broken = next(iter(image_of))
    (root / "containers" / broken / "config.v2.json").write_text('{"ID": "')
    del image_of[broken]
    write(root / "containers" / "stray-file", "x")
    return image_of, [broken]


def stores_of(root: DockerRoot) -> dict[str, tuple[object, object]]:
    return {name: (s.layers, s.images) for name, s in sorted(root.stores.items())}


def test_one_pass_equals_the_kind_by_kind_readers(tmp_path, small_chunks):
    image_of, _ = damaged_two_driver_root(tmp_path)

    one = DockerRoot(DirSource(tmp_path))
    got = read_with_containers(one, lambda c: (c.id, c.image_id))
    assert all(s.loaded() for s in one.stores.values())

    apart = DockerRoot(DirSource(tmp_path))
    expected_stores = stores_of(apart)  # layers and images read kind by kind
    expected_containers = sorted((c.id, c.image_id) for c in apart.containers.values())

    assert sorted(got) == expected_containers == sorted(image_of.items())
    assert stores_of(one) == expected_stores
    assert one.findings.sorted() == apart.findings.sorted()
    codes = sorted({f.code for f in one.findings.sorted()})
    assert codes == ["bad-json", "dangling-reference", "image-digest-mismatch", "unexpected-entry"]


def test_loaded_stores_are_not_read_again(tmp_path, small_chunks):
    image_of, _ = damaged_two_driver_root(tmp_path)
    root = DockerRoot(DirSource(tmp_path))
    vfs = root.stores["vfs"]
    layers, images = vfs.layers, vfs.images
    assert vfs.loaded()
    assert not root.stores["overlay2"].loaded()
    got = read_with_containers(root, lambda c: c.id)
    assert sorted(got) == sorted(image_of)
    assert vfs.layers is layers
    assert vfs.images is images
    assert root.stores["overlay2"].loaded()
    assert len(root.stores["overlay2"].images) == 2


def test_images_command_counts_containers_per_image(tmp_path, run):
    image_of, [broken] = damaged_two_driver_root(tmp_path)
    r = run("-r", str(tmp_path), "images", "--format", "json")
    assert r.code == 0, r.err
    counts = {(i["driver"], i["id"]): i["containers"] for i in r.json()}
    expected: dict[tuple[str, str], int] = {}
    for cid, image in image_of.items():
        config = json.loads((tmp_path / "containers" / cid / "config.v2.json").read_text())
        key = (config["Driver"], image)
        expected[key] = expected.get(key, 0) + 1
    assert {k: v for k, v in counts.items() if v} == expected
    assert f"containers/{broken}/config.v2.json" in r.err
