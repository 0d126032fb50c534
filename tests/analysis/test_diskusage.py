"""Measured disk usage equals ``du -s -B1``; areas, hard links, sparse files, tar roots."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from storagekit.analysis.diskusage import path_usage
from storagekit.engines.docker.df import measured as measure
from storagekit.engines.docker.root import DockerRoot
from storagekit.source import Source
from storagekit.sources.dirsource import DirSource
from tests.conftest import NAMES
from tests.rootbuilder import simple_root

AREAS = ("layers", "containers", "volumes", "image_metadata", "build_cache", "other")
needs_du = pytest.mark.skipif(shutil.which("du") is None, reason="needs GNU du")


def du(path: Path) -> int:
    out = subprocess.run(["du", "-s", "-B1", str(path)], check=True, capture_output=True)
    return int(out.stdout.split()[0])


def blocks(*paths: Path) -> int:
    """Allocated bytes of the given entries themselves (no recursion)."""
    return sum(os.lstat(p).st_blocks * 512 for p in paths)


def tree_blocks(top: Path, seen: set[tuple[int, int]] | None = None) -> int:
    """Allocated bytes below ``top`` (itself included), multi-named files once."""
    seen = set() if seen is None else seen
    total = 0
    for dirpath, dirnames, filenames in os.walk(top):
        total += blocks(Path(dirpath))
        for name in filenames + [d for d in dirnames if os.path.islink(Path(dirpath, d))]:
            s = os.lstat(Path(dirpath, name))
            if s.st_nlink > 1:
                if (s.st_dev, s.st_ino) in seen:
                    continue
                seen.add((s.st_dev, s.st_ino))
            total += s.st_blocks * 512
    return total


def tree_apparent(top: Path) -> int:
    """Content bytes below ``top``: sizes of non-directories, multi-named files once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames + [d for d in dirnames if os.path.islink(Path(dirpath, d))]:
            s = os.lstat(Path(dirpath, name))
            if (s.st_dev, s.st_ino) not in seen:
                seen.add((s.st_dev, s.st_ino))
                total += s.st_size
    return total


@needs_du
@pytest.mark.parametrize("name", NAMES)
def test_total_equals_du_on_sample_roots(name, extracted):
    if name not in extracted:
        pytest.skip("extracting a root with device nodes and xattrs needs root")
    with DockerRoot.open(str(extracted[name])) as root:
        m = measure(root)
    assert m["allocation_known"] is True
    assert m["total"] == du(extracted[name])
    assert m["total"] == sum(m[a] for a in AREAS)
    assert m["apparent"]["total"] == sum(m["apparent"][a] for a in AREAS)
    assert m["layers"] > m["image_metadata"] > 0


def test_tar_root_has_apparent_sizes_only(extracted):
    name = "overlay2-20.10"
    archive = Path(__file__).resolve().parents[2] / "sample_roots" / name / "root.tar.xz"
    with DockerRoot.open(str(archive)) as root:
        m = measure(root)
    assert m["allocation_known"] is False
    assert all(m[a] is None for a in (*AREAS, "total"))
    if name in extracted:  # a tar records apparent sizes exactly as the directory has them
        with DockerRoot.open(str(extracted[name])) as root:
            assert measure(root)["apparent"] == m["apparent"]


@needs_du
def test_hard_links_across_areas_and_a_sparse_file(tmp_path):
    b, image, cid = simple_root(tmp_path)
    mount = b.built.containers[cid]
    layer_file = tmp_path / "overlay2" / mount / "diff" / "big"
    layer_file.write_bytes(b"L" * 100_000)
    vol = tmp_path / "volumes" / "v1" / "_data"
    vol.mkdir(parents=True)
    os.link(layer_file, vol / "same-as-layer")  # one inode, in layers and in volumes
    os.link(layer_file, tmp_path / "overlay2" / mount / "diff" / "again")
    sparse = tmp_path / "containers" / cid / "sparse.log"
    with open(sparse, "wb") as f:
        f.seek(50_000_000)
        f.write(b"end")
    (tmp_path / "engine-id").write_text("x" * 36)
    (tmp_path / "buildkit").mkdir()
    (tmp_path / "buildkit" / "cache.db").write_bytes(b"b" * 9000)

    with DockerRoot.open(str(tmp_path)) as root:
        m = measure(root)
    assert m["total"] == du(tmp_path)
    # the hard-linked file counts once, in the first area (layers), not in volumes
    assert m["layers"] == tree_blocks(tmp_path / "overlay2")
    assert m["volumes"] == blocks(tmp_path / "volumes", tmp_path / "volumes" / "v1", vol)
    assert m["containers"] == tree_blocks(tmp_path / "containers")
    assert m["image_metadata"] == tree_blocks(tmp_path / "image")
    assert m["build_cache"] == tree_blocks(tmp_path / "buildkit")
    assert m["other"] == blocks(tmp_path, tmp_path / "engine-id")
    # sparse: 50 MB apparent, a block or two allocated
    assert os.lstat(sparse).st_blocks * 512 < 1_000_000
    assert m["apparent"]["containers"] > 50_000_000 > m["containers"]
    assert m["apparent"]["volumes"] == 0
    assert m["apparent"]["build_cache"] == 9000
    assert m["apparent"]["other"] == 36
    # content bytes: the 100 kB file once, the builder's files, link and lower files, l/ links
    assert m["apparent"]["layers"] == tree_apparent(tmp_path / "overlay2") > 100_000


def test_parallel_split_gives_the_same_figures(tmp_path, monkeypatch):
    b, image, cid = simple_root(tmp_path)
    for i in range(400):  # enough subtrees for the workers
        d = tmp_path / "overlay2" / f"{i:064x}" / "diff"
        d.mkdir(parents=True)
        (d / "f").write_bytes(b"z" * (i + 1))
    os.link(tmp_path / "overlay2" / f"{1:064x}" / "diff" / "f", tmp_path / "containers" / "h")
    with DockerRoot.open(str(tmp_path)) as root:
        fast = measure(root)
    import storagekit.analysis.diskusage as diskusage

    monkeypatch.setattr(diskusage, "workers_for", lambda n, s, *more: 1)
    monkeypatch.setattr("storagekit.parallel.workers_for", lambda n, s, *more: 1)
    with DockerRoot.open(str(tmp_path)) as root:
        serial = measure(root)
    assert fast == serial
    if shutil.which("du"):
        assert fast["total"] == du(tmp_path)


def test_size_walk_with_directories_equals_the_generic_walk(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "f").write_bytes(b"x" * 5000)
    os.link(tmp_path / "a" / "f", tmp_path / "a" / "b" / "hard")
    os.symlink("../f", tmp_path / "a" / "b" / "link")
    os.mkfifo(tmp_path / "a" / "fifo")
    source = DirSource(tmp_path)
    for kwargs in ({}, {"dirs": True}, {"dirs": True, "linked_only": True}):
        fast = list(source.file_sizes("a", **kwargs))
        generic = list(Source.file_sizes(source, "a", **kwargs))
        assert sum(s for _, s, _ in fast) == sum(s for _, s, _ in generic)
        assert sum(a or 0 for _, _, a in fast) == sum(a or 0 for _, _, a in generic)
        linked = {i for i, _, _ in fast if i is not None}
        assert linked == {i for i, _, _ in generic if i is not None}
    fast = list(source.file_sizes("a", dirs=True, linked_only=True))
    assert len({i for i, _, _ in fast if i is not None}) == 1  # only the hard-linked file
    assert list(source.file_sizes("a/f", dirs=True)) == []  # not a directory


def test_path_usage_of_files_dirs_and_nothing(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"y" * 10)
    source = DirSource(tmp_path)
    assert path_usage(source, "d/f") == (blocks(tmp_path / "d" / "f"), 10)
    assert path_usage(source, "d") == (blocks(tmp_path / "d", tmp_path / "d" / "f"), 10)
    assert path_usage(source, "missing") == (0, 0)
    archive = tmp_path / "t.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(tmp_path / "d", arcname="d")
    from storagekit.sources import open_source

    with open_source(str(archive)) as tar:
        assert path_usage(tar, "d") == (None, 10)
