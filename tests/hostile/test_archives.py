"""Archive headers and streams that lie about their sizes: bounded, one finding, no traceback."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile

import pytest

from storagekit.sources.tarsource import TarSource
from storagekit.sources.tarstream import MAX_HEADER, ArchiveLimits
from tests.rootbuilder import simple_root


def _member(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(tarfile.GNU_FORMAT) + data + bytes(-len(data) % 512)


def _lying_header(kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo("././@LongLink" if kind in (b"L", b"K") else "pax")
    info.type = kind
    info.size = size  # base-256 in the GNU format when it does not fit in octal
    return info.tobuf(tarfile.GNU_FORMAT)


@pytest.mark.parametrize("compress", [None, gzip.compress])
@pytest.mark.parametrize(
    ("kind", "size"), [(b"x", 2**31), (b"x", 2**40), (b"L", 2**40), (b"K", 2**70), (b"g", 2**70)]
)
def test_an_extended_header_claiming_gigabytes_is_not_read(tmp_path, compress, kind, size):
    body = _member("a", b"first") + _lying_header(kind, size) + b"k=v\n" * 100 + bytes(1024)
    path = tmp_path / "t.tar"
    path.write_bytes(compress(body) if compress else body)
    source = TarSource(path)
    assert source.read_bytes("a") == b"first"
    assert source.listdir("") == ["a"]
    (problem,) = source.problems
    assert problem == (
        f"archive damaged at offset 1024: a {size}-byte extended header (more than {MAX_HEADER})"
    )


def test_a_truncated_old_gnu_sparse_header(tmp_path):
    info = tarfile.TarInfo("s")
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 10
    head = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    head[482] = 1  # isextended: an extension block follows, and the archive ends instead
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(_member("a", b"x") + bytes(head) + b"0" * 100))
    source = TarSource(path)
    assert source.listdir("") == ["a"]
    assert source.problems == [
        "archive damaged at offset 1024: damaged extended or sparse header (index out of range)"
    ]


def _bomb(tmp_path, mib: int):
    body = _member("a", b"first") + _member("zeros", bytes(mib << 20)) + _member("b", b"last")
    path = tmp_path / "bomb.tar.bz2"
    path.write_bytes(bz2.compress(body + bytes(1024)))
    return path


def test_a_decompression_bomb_stops_at_the_ratio(tmp_path):
    path = _bomb(tmp_path, 16)
    size = path.stat().st_size
    source = TarSource(path, limits=ArchiveLimits(size=None, ratio=1000, floor=1 << 16))
    bound = max(1 << 16, 1000 * size)
    assert bound < 16 << 20
    assert source.limit_reached is not None
    assert source.limit_reached.startswith(f"{path}: decompression stopped after {bound} bytes")
    assert source.listdir("") == ["a", "zeros"]
    assert source.read_bytes("a") == b"first"
    assert source.problems == []
    unlimited = TarSource(path, limits=ArchiveLimits(size=None, ratio=None))
    assert unlimited.listdir("") == ["a", "b", "zeros"]
    assert unlimited.limit_reached is None


def test_a_limit_reached_is_a_finding_and_exit_status_3(tmp_path, run):
    root = tmp_path / "root"
    simple_root(root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(root, arcname=".")
        info = tarfile.TarInfo("zzz-zeros")
        info.size = 8 << 20
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    path = tmp_path / "root.tar.bz2"
    path.write_bytes(bz2.compress(buf.getvalue()))
    limit = len(buf.getvalue()) - (4 << 20)
    r = run("-r", str(path), "--archive-limit", str(limit), "containers")
    assert r.code == 3, r.err
    assert "c1" in r.out
    assert f"error: {path}: decompression stopped after {limit} bytes" in r.err
    assert r.err.rstrip().endswith("--archive-ratio raise the limits [archive-limit]")
    r = run("-r", str(path), "--archive-limit", "0", "containers")
    assert r.code == 0, r.err
    assert "archive-limit" not in r.err


def test_a_huge_extended_header_over_a_bomb(tmp_path):
    body = _member("a", b"first") + _lying_header(b"x", 2**31) + bytes(8 << 20)
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(body))
    source = TarSource(path, limits=ArchiveLimits(size=1 << 20, ratio=None))
    assert source.listdir("") == ["a"]
    assert source.problems == [
        f"archive damaged at offset 1024: a {2**31}-byte extended header (more than {MAX_HEADER})"
    ]
    assert source.limit_reached is not None
    assert source.limit_reached.startswith(f"{path}: decompression stopped after 1048576 bytes")
