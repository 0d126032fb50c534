"""The fast listing and archiving of union views against the generic paths, in one process
and spread over forked workers; tar headers against tarfile's; the ordered fork stream."""

from __future__ import annotations

import io
import os
import random
import tarfile
from pathlib import Path

import pytest

from storagekit import jsontext
from storagekit.engines.docker.root import DockerRoot
from storagekit.engines.docker.views import container_view, image_view
from storagekit.errors import StoragekitError
from storagekit.parallel import WorkerError
from storagekit.sources.dirsource import DirSource
from storagekit.union import forkstream, recover
from storagekit.union import stream as unionout
from storagekit.union.mounted import MountedView
from storagekit.union.tarheader import header
from storagekit.union.view import UnionView
from tests.conftest import NAMES
from tests.rootbuilder import simple_root


def reference_header(name, kind, mode, uid, gid, size, mtime, link="", rdev=None) -> bytes:
    fields = {"type": kind, "mode": mode, "uid": uid, "gid": gid, "size": size}
    fields |= {"mtime": mtime, "linkname": link}
    if rdev:
        fields |= {"devmajor": rdev[0], "devminor": rdev[1]}
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _read_back(blocks: bytes) -> tuple:
    """The member ``tarfile`` reads from header blocks (a name that is not UTF-8 included)."""
    import io

    with tarfile.open(fileobj=io.BytesIO(blocks + bytes(1 << 20)), errors="surrogateescape") as t:
        m = t.next()
        assert m is not None
        return (m.name, m.type, m.mode, m.uid, m.gid, m.size, m.mtime, m.linkname, m.devmajor,
                m.devminor)  # fmt: skip


def test_tar_headers_equal_tarfile():
    """Byte for byte what tarfile writes, but for a name that is not UTF-8: the same member
    without the ``hdrcharset=BINARY`` record GNU tar warns about."""
    rng = random.Random(7)
    names = ["a", "d/x", "é/ü", "x" * 100, "y" * 101, "a/" * 50, "bad\udcff", "\x7fctl", 'q"\\']
    links = ["", "t", "../../etc/shadow", "/", "z" * 100, "z" * 101, "ü", "\udcfe"]
    numbers = [0, 1, 8**7 - 1, 8**7, 8**11 - 1, 8**11, 1_700_000_000, -1]
    kinds = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE]
    kinds += [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE]
    checked = 0
    for name in names:
        for kind in kinds:
            for link in links:
                for _ in range(4):
                    uid, gid, size = (rng.choice(numbers[:-1]) for _ in range(3))
                    mode, mtime = rng.choice([0o644, 0o4755, 0o7777]), rng.choice(numbers)
                    rdev = (rng.choice([0, 8, 8**7]), 3) if kind in (b"3", b"4") else None
                    args = (name, kind, mode, uid, gid, size, mtime, link, rdev)
                    try:
                        expected = reference_header(*args)
                    except ValueError:
                        continue  # tarfile cannot write it either
                    if b"hdrcharset=BINARY" in expected:
                        assert _read_back(header(*args)) == _read_back(expected), args
                        assert b"hdrcharset" not in header(*args)
                    else:
                        assert header(*args) == expected, args
                    checked += 1
    assert checked > 1000


@pytest.fixture
def forked(monkeypatch):
    """Spread every listing over forked workers, whatever its size."""
    monkeypatch.setattr(forkstream, "MIN_STEPS", 0)
    monkeypatch.setattr(unionout, "SPLIT_DEPTH", 1)
    monkeypatch.setattr(unionout, "FAN_OUT", 2)


def plan_of(n: int, fail_at: int = -1, error: type[Exception] = StoragekitError):
    def render(i: int):
        if i == fail_at:
            raise error("step failed")
        yield [f"a{i}"]
        yield [f"b{i}", f"c{i}"]

    def plan():
        for i in range(n):
            yield i % 3 == 0, lambda i=i: render(i)

    return plan


def test_forkstream_keeps_the_order(forked, tmp_path):
    source = DirSource(tmp_path)
    got: list[str] = []
    forkstream.stream(plan_of(40), got.extend, source)
    assert got == [f"{p}{i}" for i in range(40) for p in "abc"]
    with pytest.raises(StoragekitError, match="step failed"):
        forkstream.stream(plan_of(40, fail_at=9), got.extend, source)
    with pytest.raises(WorkerError, match="ZeroDivisionError"):
        forkstream.stream(plan_of(40, fail_at=12, error=ZeroDivisionError), got.extend, source)


def views(root: DockerRoot) -> list[UnionView]:
    """Every container's view, and the views of the images with the most layers."""
    found = [container_view(root, c) for c in root.containers.values()]
    deepest = sorted(root.images, key=lambda i: (-len(i.diff_ids), i.id))[:2]
    return found + [image_view(root, i) for i in deepest]


def generic_ls(view: UnionView, deleted: bool) -> str:
    out = io.StringIO()
    jsontext.stream_json(recover.list_view(view, "", True, deleted), out.write)
    return out.getvalue()


def fast_ls(view: UnionView, deleted: bool) -> str:
    out = io.StringIO()
    unionout.list_json(view, "", True, deleted, out.write)
    return out.getvalue()


def tars(view: UnionView, top: str = "") -> tuple[bytes, str, bytes, str]:
    """(fast tar, its manifest, generic tar, its manifest) of ``top``."""
    results = []
    for subject in (view, MountedView(view, [])):  # a MountedView takes the generic path
        out, manifest = io.BytesIO(), io.StringIO()
        recover.extract_tar(subject, top, out, manifest, layer_of=subject.layer_of)
        results += [out.getvalue(), manifest.getvalue()]
    return results[0], results[1], results[2], results[3]


def check_view(view: UnionView) -> None:
    for deleted in (False, True):
        assert fast_ls(view, deleted) == generic_ls(view, deleted)
    fast, fast_manifest, generic, generic_manifest = tars(view)
    assert fast == generic
    assert fast_manifest == generic_manifest


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_fast_paths_equal_generic(name, parallel, sample, request):
    if parallel:
        request.getfixturevalue("forked")
    with DockerRoot.open(sample(name)) as root:
        for view in views(root):
            check_view(view)


def test_hard_links_across_workers(forked, tmp_path: Path):
    b, image, cid = simple_root(tmp_path / "root")
    top = next((tmp_path / "root" / "overlay2").glob("*/diff/f1"))
    for sub in ("a/x", "b/y", "c/z"):
        (top.parent / sub).mkdir(parents=True)
    (top.parent / "a" / "x" / "first").write_bytes(b"linked\n")
    os.link(top.parent / "a" / "x" / "first", top.parent / "b" / "y" / "second")
    os.link(top.parent / "a" / "x" / "first", top.parent / "c" / "z" / "third")
    with DockerRoot.open(str(tmp_path / "root")) as root:
        view = image_view(root, root.images[0])
        check_view(view)
        fast = tars(view)[0]
    with tarfile.open(fileobj=io.BytesIO(fast)) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert members["a/x/first"].isfile()
    assert members["b/y/second"].linkname == "a/x/first"
    assert members["c/z/third"].linkname == "a/x/first"
