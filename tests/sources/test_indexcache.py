"""Archive indexes kept between runs: the same answers, never trusted blindly.

Every test opens an archive twice through an :class:`IndexCache` in a temporary directory: the
first opening reads the archive and keeps its index, the second starts from the kept index. The
two must answer alike in everything a Source says — entries, hard links, xattrs, file contents,
problems and where a damaged archive is cut — and a kept index that is damaged, tampered with,
or made for another archive or other options is ignored, with the archive read again.
"""

from __future__ import annotations

import gzip
import os
import sqlite3
import tarfile
from pathlib import Path
from typing import Any

import pytest

from storagekit.errors import SourceError
from storagekit.source import FileType, Source
from storagekit.sources import tarsource
from storagekit.sources.indexcache import IndexCache, default_dir
from storagekit.sources.tarsource import TarSource
from storagekit.sources.tarstream import ArchiveLimits
from tests.sources.test_tarsource import BIG, make_tar, member


def _archive() -> bytes:
    return make_tar(
        member("d", type=tarfile.DIRTYPE, mode=0o755),
        member("d/a", b"hello\n", pax={"SCHILY.xattr.user.tag": "\udcff\x00bin"}),
        member("d/hard", type=tarfile.LNKTYPE, linkname="d/a"),
        member("d/link", type=tarfile.SYMTYPE, linkname="../etc/passwd"),
        member("d/o", type=tarfile.DIRTYPE, pax={"SCHILY.xattr.trusted.overlay.opaque": "y"}),
        member("d/o/big", BIG),
        member("d/fifo", type=tarfile.FIFOTYPE),
        member("../evil", b"x"),
        member("d/a", b"replaced\n"),
        member("top/ünï", b"u", pax={"mtime": "1700000000.5"}),
    )


def _describe(src: Source) -> list[Any]:
    out: list[Any] = []

    def read(path: str) -> bytes | str:
        try:
            return src.read_bytes(path)
        except SourceError as exc:
            return str(exc)

    def walk(path: str) -> None:
        for e in src.scandir(path):
            data = read(e.path) if e.type is FileType.FILE else None
            out.append((e, src.xattrs(e.path), data))
            if e.type is FileType.DIR:
                walk(e.path)

    walk("")
    return [out, list(src.paths_in_order()), src.problems, src.cut, src.xattrs_recorded]


def _open(path: Path, cache: IndexCache, **kw: Any) -> TarSource:
    return TarSource(path, cache=cache, **kw)


@pytest.fixture
def cache(tmp_path: Path) -> IndexCache:
    return IndexCache(str(tmp_path / "cache"))


@pytest.mark.parametrize("compress", [bytes, gzip.compress], ids=["tar", "gz"])
def test_second_opening_answers_from_the_kept_index(
    tmp_path: Path, cache: IndexCache, compress: Any
) -> None:
    path = tmp_path / "evidence.tar"
    path.write_bytes(compress(_archive()))
    before = path.stat()
    with _open(path, cache) as first:
        assert not first.from_cache
        expected = _describe(first)
    with _open(path, cache) as second:
        assert second.from_cache
        assert _describe(second) == expected
    assert expected[2] == ["'../evil': unsafe member name, not indexed"]
    # The evidence is untouched and nothing was written beside it.
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert sorted(os.listdir(tmp_path)) == ["cache", "evidence.tar"]
    assert [n[-4:] for n in os.listdir(tmp_path / "cache")] == [".idx"]


def test_damaged_archive_keeps_its_problems_and_cut(tmp_path: Path, cache: IndexCache) -> None:
    raw = gzip.compress(_archive())
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(raw[: len(raw) * 2 // 3])
    with _open(path, cache) as first:
        expected = _describe(first)
        assert first.cut is not None
    with _open(path, cache) as second:
        assert second.from_cache
        assert _describe(second) == expected


def test_a_changed_archive_or_other_limits_are_indexed_afresh(
    tmp_path: Path, cache: IndexCache
) -> None:
    path = tmp_path / "evidence.tar"
    path.write_bytes(_archive())
    _open(path, cache).close()
    raw = bytearray(_archive())
    raw[-2048] ^= 1  # same size, one byte changed in the end-of-archive padding
    stamp = path.stat().st_mtime_ns
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stamp, stamp))  # even with the same modification time
    with _open(path, cache) as again:
        assert not again.from_cache
    with _open(path, cache, limits=ArchiveLimits(size=1 << 30)) as other:
        assert not other.from_cache
    with _open(path, cache) as kept:
        assert kept.from_cache


def _kept(cache: IndexCache) -> Path:
    (name,) = os.listdir(cache.directory)
    return Path(cache.directory) / name


@pytest.mark.parametrize(
    "damage",
    [
        b"not a database at all",
        b"",
        "UPDATE meta SET value = 'other' WHERE name = 'format'",
        "UPDATE meta SET value = '{}' WHERE name = 'facts'",
    ],
    ids=["garbage", "empty", "format", "facts"],
)
def test_an_unusable_kept_index_is_ignored_and_replaced(
    tmp_path: Path, cache: IndexCache, damage: bytes | str
) -> None:
    path = tmp_path / "evidence.tar"
    path.write_bytes(_archive())
    with _open(path, cache) as first:
        expected = _describe(first)
    kept = _kept(cache)
    if isinstance(damage, bytes):
        kept.write_bytes(damage)
    else:
        with sqlite3.connect(kept) as db:
            db.execute(damage)
    with _open(path, cache) as second:
        assert not second.from_cache
        assert _describe(second) == expected
    with _open(path, cache) as third:  # a sound index was written in its place
        assert third.from_cache


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE member SET name = CAST('../../etc' AS BLOB) WHERE name = CAST('a' AS BLOB)",
        "UPDATE member SET name = CAST('x/y' AS BLOB) WHERE name = CAST('fifo' AS BLOB)",
        "UPDATE member SET kind = 99 WHERE name = CAST('link' AS BLOB)",
        "UPDATE member SET mode = 99999 WHERE name = CAST('a' AS BLOB)",
        "UPDATE member SET offset = -5 WHERE name = CAST('big' AS BLOB)",
        "UPDATE member SET size = 'lots' WHERE name = CAST('big' AS BLOB)",
        "UPDATE member SET extra = '{\"x\": 5}' WHERE name = CAST('o' AS BLOB)",
        "UPDATE member SET extra = 'nonsense' WHERE name = CAST('a' AS BLOB)",
        "UPDATE link SET names = 0",
        "DROP TABLE blob",
    ],
)
def test_a_tampered_row_makes_the_archive_read_again(
    tmp_path: Path, cache: IndexCache, tamper: str
) -> None:
    path = tmp_path / "evidence.tar.gz"
    path.write_bytes(gzip.compress(_archive()))
    with _open(path, cache) as first:
        expected = _describe(first)
    kept = _kept(cache)
    with sqlite3.connect(kept) as db:
        db.execute(tamper)
    with _open(path, cache) as second:
        assert second.from_cache  # sound at first sight ...
        assert _describe(second) == expected  # ... then read from the archive after all
        assert not second.from_cache
    assert not kept.exists()


def test_cli_keeps_the_index_outside_the_evidence(
    tmp_path: Path, run: Any, monkeypatch: Any
) -> None:
    sample = Path(__file__).resolve().parents[2] / "sample_roots" / "overlay2-20.10" / "root.tar.xz"
    evidence = tmp_path / "evidence" / "root.tar.xz"
    evidence.parent.mkdir()
    evidence.write_bytes(sample.read_bytes())
    cache_dir = tmp_path / "cache"
    first = run("--cache-dir", str(cache_dir), "-r", str(evidence), "images", "--format", "json")
    assert first.code == 0
    assert len(os.listdir(cache_dir)) == 1

    def no_reading(*args: Any) -> None:
        raise AssertionError("the archive was read again")

    monkeypatch.setattr(tarsource.TarSource, "_build", no_reading)
    second = run("--cache-dir", str(cache_dir), "-r", str(evidence), "images", "--format", "json")
    assert (second.code, second.out, second.err) == (first.code, first.out, first.err)
    monkeypatch.undo()
    none = tmp_path / "none"
    assert run("--no-cache", "--cache-dir", str(none), "-r", str(evidence), "images").code == 0
    assert not none.exists()
    beside = run("--cache-dir", str(evidence.parent), "-r", str(evidence), "images")
    assert beside.code == 2
    assert "nothing is written beside the evidence" in beside.err
    assert os.listdir(evidence.parent) == ["root.tar.xz"]


def test_the_user_cache_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    assert default_dir() == "/var/cache/someone/storagekit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as XDG says
    monkeypatch.setenv("HOME", "/home/someone")
    assert default_dir() == "/home/someone/.cache/storagekit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "not-absolute")
    assert default_dir() is None  # never a cache in the current directory
