"""One walk sizes the marks too: each mark's figures equal walking it alone, and it is not
walked again; ``df`` walks a writable layer, a volume and an orphan once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import storagekit.analysis.diskusage as diskusage
from storagekit.analysis.diskusage import Areas, apparent_size, measure, path_usage, walk_tally
from storagekit.engines.docker.records import df_record
from storagekit.engines.docker.root import DockerRoot
from storagekit.model import Findings
from storagekit.sources.dirsource import DirSource
from tests.rootbuilder import simple_root

AREAS = Areas(("layers", "other"), {"layers": "layers"})


class CountingSource(DirSource):
    """A directory source that records which directories are walked for sizes."""

    walked: list[str]

    def file_sizes(
        self, path: str = "", *, dirs: bool = False, linked_only: bool = False
    ) -> Iterator[tuple[object, int, int | None]]:
        self.walked.append(path)
        return super().file_sizes(path, dirs=dirs, linked_only=linked_only)


def counting(top: Path) -> CountingSource:
    source = CountingSource(top)
    source.walked = []
    return source


def serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diskusage, "workers_for", lambda n, s, min_chunk=None: 1)
    monkeypatch.setattr("storagekit.parallel.workers_for", lambda n, s, min_chunk=None: 1)


def tree(top: Path, subtrees: int) -> list[str]:
    """A tree with marks at several depths, hard links inside, across and out of them."""
    deep = top / "layers" / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"d" * 7000)
    (deep / "g").mkdir()
    (deep / "g" / "h").write_bytes(b"h" * 10)
    os.link(deep / "f", deep / "g" / "twice")  # twice inside the mark: counted once
    os.link(deep / "f", top / "layers" / "a" / "outside")  # also outside the mark
    for i in range(subtrees):
        d = top / "layers" / f"s{i:03}" / "diff" / "x"
        d.mkdir(parents=True)
        (d / "f").write_bytes(b"z" * (i + 1))
    (top / "layers" / "s000" / "diff" / "file-mark").write_bytes(b"q" * 3)
    os.symlink("s001", top / "layers" / "via-link")
    return [
        "layers/a/b/c/d/e",  # deeper than the split goes
        "layers/a/b",  # a mark holding another
        "layers/s000/diff",
        "layers/s001/diff/x",
        "layers/s000/diff/file-mark",  # a file: walked alone, as before
        "layers/via-link/diff",  # below a link: never reached
        "layers/missing",
        "/layers/s002/diff/",  # slashes as a caller may write them
    ]


@pytest.mark.parametrize("subtrees", [3, 400])  # 400: enough for the forked workers
def test_marks_equal_walking_each_alone(tmp_path, subtrees):
    marks = tree(tmp_path, subtrees)
    alone = {m: walk_tally(DirSource(tmp_path), m).totals() for m in marks}
    plain = measure(DirSource(tmp_path), AREAS, Findings())
    source = counting(tmp_path)
    assert measure(source, AREAS, Findings(), marks) == plain
    source.walked.clear()
    for mark in marks:
        assert diskusage.tally(source, mark).totals() == alone[mark]
    walked_again = ["layers/s000/diff/file-mark", "layers/via-link/diff", "layers/missing"]
    assert source.walked == walked_again
    assert alone["layers/a/b/c/d/e"] == (
        sum(
            os.lstat(p).st_blocks * 512
            for p in (
                tmp_path / "layers/a/b/c/d/e",
                tmp_path / "layers/a/b/c/d/e/f",
                tmp_path / "layers/a/b/c/d/e/g",
                tmp_path / "layers/a/b/c/d/e/g/h",
            )
        ),
        7010,
    )
    assert apparent_size(source, "layers/a/b") == 7010
    assert path_usage(source, "layers/a/b/c/d/e") == alone["layers/a/b/c/d/e"]


def test_marks_equal_serial_and_parallel(tmp_path, monkeypatch):
    marks = tree(tmp_path, 400)
    parallel = counting(tmp_path)
    measure(parallel, AREAS, Findings(), marks)
    serial(monkeypatch)
    one = counting(tmp_path)
    measure(one, AREAS, Findings(), marks)
    for mark in marks:
        assert diskusage.tally(one, mark) == diskusage.tally(parallel, mark)


def test_df_walks_each_writable_layer_volume_and_orphan_once(tmp_path, monkeypatch):
    b, _, cid = simple_root(tmp_path)
    mount = b.built.containers[cid]
    rw = tmp_path / "overlay2" / mount / "diff"
    (rw / "new").write_bytes(b"n" * 1234)
    (tmp_path / "volumes" / "v1" / "_data").mkdir(parents=True)
    (tmp_path / "volumes" / "v1" / "_data" / "f").write_bytes(b"v" * 99)
    orphan = tmp_path / "overlay2" / ("e" * 64)
    (orphan / "diff").mkdir(parents=True)
    (orphan / "diff" / "left").write_bytes(b"o" * 5)
    with DockerRoot.open(str(tmp_path)) as root:
        before = df_record(root, verbose=True)
    serial(monkeypatch)  # every walk in this process, where it is counted
    source = counting(tmp_path)
    after = df_record(DockerRoot(source), verbose=True)
    assert after == before
    rw_path = f"overlay2/{mount}/diff"
    assert source.walked.count(rw_path) == 1
    assert source.walked.count("volumes/v1/_data") == 1
    # The orphan is a union of pieces: the layout's marks go down to its diff/ (an orphan is
    # known only once the metadata has been read, while the walk runs).
    assert source.walked.count(f"overlay2/{'e' * 64}/diff") == 1
    # Nothing is walked twice, whole or as part of a larger subtree.
    walked = sorted(source.walked)
    assert len(set(walked)) == len(walked)
    assert not [(a, b) for a in walked for b in walked if b.startswith(f"{a}/")]
    files = [Path(d, n) for d, _, names in os.walk(rw) for n in names]
    assert [i["size_rw"] for i in after["containers"]["items"]] == [
        sum(p.lstat().st_size for p in files)
    ]
    assert (rw / "new") in files
    assert after["volumes"]["items"] == [{"name": "v1", "size": 99, "links": 0}]
    assert [o["paths"] for o in after["orphans"]["items"] if o["kind"] == "orphan-driver-dir"] == [
        [f"overlay2/{'e' * 64}"]
    ]
