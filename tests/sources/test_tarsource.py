"""TarSource beyond the shared contract: formats, damaged and hostile archives, tar semantics
(replacement, implied directories, hard links, PAX records, sparse members) and the readers."""

from __future__ import annotations

import gzip
import io
import lzma
import os
import random
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from storagekit.errors import NotADirectoryInSourceError, SourceError, SourceNotFoundError
from storagekit.source import Entry, FileType
from storagekit.sources import open_source, tarsource
from storagekit.sources.dirsource import DirSource
from storagekit.sources.tarsource import TarSource

BIG = random.Random(7).randbytes(400_000)  # incompressible, several zstd blocks


def member(
    name: str,
    data: bytes | None = None,
    *,
    type: bytes = tarfile.REGTYPE,
    mode: int = 0o644,
    linkname: str = "",
    pax: dict[str, str] | None = None,
) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname, ti.mtime = type, mode, linkname, 1_700_000_000
    ti.pax_headers = dict(pax or {})
    if data is not None:
        ti.size = len(data)
    return ti, data


def make_tar(
    *members: tuple[tarfile.TarInfo, bytes | None], fmt: int = tarfile.PAX_FORMAT
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape"
    ) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def open_tar(tmp_path: Path, raw: bytes, name: str = "evidence.tar", **kw: int) -> TarSource:
    path = tmp_path / name
    path.write_bytes(raw)
    return TarSource(path, **kw)


# Formats and unreadable files.


@pytest.mark.parametrize(
    ("compress", "name"),
    [
        (bytes, "plain.tar.gz"),  # the name lies: magic bytes decide
        (gzip.compress, "gzip.tar"),
        (lzma.compress, "xz.bin"),
        (zstandard.ZstdCompressor().compress, "zstd"),
    ],
    ids=["tar", "gz", "xz", "zst"],
)
def test_format_is_found_by_magic_bytes(tmp_path: Path, compress, name: str) -> None:
    raw = make_tar(member("etc/hostname", b"box\n"))
    with open_tar(tmp_path, compress(raw), name) as src:
        assert src.read_bytes("etc/hostname") == b"box\n"
        assert src.problems == []
        assert src.description == str(tmp_path / name)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a tar archive (empty file)"),
        (b"\x89PNG\r\n\x1a\n" + bytes(1000), "not a tar archive (bad checksum)"),
        (bytes(300), "not a tar archive (truncated header)"),
        (
            gzip.compress(b"just text\n" * 100),
            "gzip-compressed, but not a tar archive (invalid header)",
        ),
        (b"\x1f\x8bnot really gzip", "gzip-compressed, but not a tar archive"),
    ],
    ids=["empty", "png", "short", "gzip-text", "bad-gzip"],
)
def test_not_a_tar_archive(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(SourceError) as info:
        open_tar(tmp_path, content)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'evidence.tar'}: {message}")
    assert "\n" not in text


def test_zstd_without_the_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tarsource, "ZSTD", None)
    raw = zstandard.ZstdCompressor().compress(make_tar(member("a", b"x")))
    with pytest.raises(SourceError) as info:
        open_tar(tmp_path, raw, "layer.tar.zst")
    assert (
        str(info.value)
        == f"{tmp_path / 'layer.tar.zst'} is zstd-compressed; install storagekit[zstd]"
    )


def test_what_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot open archive: No such file or directory"):
        TarSource(tmp_path / "missing.tar")
    with pytest.raises(SourceError, match="not a regular file"):
        TarSource(tmp_path)


def test_empty_archive_is_an_empty_tree(tmp_path: Path) -> None:
    with open_tar(tmp_path, make_tar()) as src:
        assert src.listdir("") == []
        assert src.problems == []


# Damaged archives: keep what can be read, say what could not.


@pytest.mark.parametrize(
    "compress",
    [bytes, gzip.compress, lzma.compress, zstandard.ZstdCompressor().compress],
    ids=["tar", "gz", "xz", "zst"],
)
def test_truncated_archive_keeps_earlier_members(tmp_path: Path, compress) -> None:
    raw = compress(make_tar(member("a", b"first\n"), member("big", BIG), member("c", b"late\n")))
    with open_tar(tmp_path, raw[: len(raw) // 2]) as src:
        assert src.listdir("") == ["a", "big"]
        assert src.read_bytes("a") == b"first\n"
        assert src.stat("big").size == len(BIG)
        with pytest.raises(SourceError, match=r"big: data truncated \(\d+ of 400000 bytes"):
            src.open("big")
        assert src.problems == ["archive is truncated in the data of big"]


def test_archive_cut_at_a_member_boundary(tmp_path: Path) -> None:
    raw = make_tar(member("a", b"x" * 10), member("b", b"y"))
    end = 4 * 512  # two headers, two data blocks, no end-of-archive blocks
    with open_tar(tmp_path, raw[:end]) as src:
        assert src.read_bytes("b") == b"y"
        assert src.problems == ["archive ends at offset 2048 without an end marker (empty header)"]


def test_damaged_header_ends_the_readable_part(tmp_path: Path) -> None:
    raw = bytearray(make_tar(member("a", b"1"), member("b", b"2"), member("c", b"3")))
    raw[2 * 1024 + 148] ^= 0x07  # the checksum of c's header
    with open_tar(tmp_path, bytes(raw)) as src:
        assert src.listdir("") == ["a", "b"]
        assert src.problems == ["archive ends at offset 2048 without an end marker (bad checksum)"]


def test_nothing_readable_is_an_error(tmp_path: Path) -> None:
    raw = make_tar(member("a", b"1"))
    with pytest.raises(SourceError, match="not a tar archive"):
        open_tar(tmp_path, raw[:100])


def test_endless_chain_of_extended_headers(tmp_path: Path) -> None:
    info = tarfile.TarInfo("x")
    info.pax_headers = {"comment": "c"}
    pax_blocks = info.tobuf(tarfile.PAX_FORMAT)[:1024]  # an extended header and its records
    raw = make_tar(member("a", b"1"))[:1024] + pax_blocks * 2000 + bytes(1024)
    with open_tar(tmp_path, raw) as src:
        assert src.listdir("") == ["a"]
        assert len(src.problems) == 1
        assert src.problems[0].startswith("archive damaged at offset 1024: maximum recursion depth")


def test_hostile_size_in_a_compressed_stream(tmp_path: Path) -> None:
    raw = make_tar(member("a", b"1"))[:1024]
    huge = member("huge", pax={"size": str(10**15)})[0].tobuf(tarfile.PAX_FORMAT)
    with open_tar(tmp_path, gzip.compress(raw + huge + b"tiny")) as src:
        assert src.read_bytes("a") == b"1"
        assert src.stat("huge").size == 10**15
        with pytest.raises(SourceError, match=r"huge: data truncated \(4 of 1000000000000000"):
            src.open("huge")
        assert src.problems == ["archive is truncated in the data of huge"]


def test_problems_are_bounded(tmp_path: Path) -> None:
    raw = make_tar(*(member(f"../x{i}", b"") for i in range(1005)))
    with open_tar(tmp_path, raw) as src:
        assert len(src.problems) == 1001
        assert src.problems[-1] == "5 more problems are not listed"


# Hostile names and links.


def test_hostile_member_names(tmp_path: Path) -> None:
    raw = make_tar(
        member("../evil", b"!"),
        member("a/../../evil", b"!"),
        member("x", pax={"path": "nul\0name"}, data=b"!"),
        member("/abs/ok", b"1"),
        member("./dot/./y", b"2"),
        member("link", type=tarfile.LNKTYPE, linkname="../../etc/shadow"),
    )
    with open_tar(tmp_path, raw) as src:
        assert src.listdir("") == ["abs", "dot"]
        assert src.read_bytes("abs/ok") == b"1"
        assert src.read_bytes("dot/y") == b"2"
        assert src.problems == [
            "'../evil': unsafe member name, not indexed",
            "'a/../../evil': unsafe member name, not indexed",
            "'nul\\x00name': unsafe member name, not indexed",
            "link: hard link to unsafe name '../../etc/shadow', not indexed",
        ]


def test_the_top_stays_a_directory(tmp_path: Path) -> None:
    raw = make_tar(
        member("etc/hostname", b"box"),
        member("./", type=tarfile.LNKTYPE, linkname="etc/hostname"),
        member("/", type=tarfile.SYMTYPE, linkname="/etc"),
        member(".", b"a file"),
    )
    with open_tar(tmp_path, raw) as src:
        assert src.read_bytes("etc/hostname") == b"box"
        assert src.stat("").is_dir
        assert src.problems == [
            f"{name!r}: names the top but is not a directory, not indexed"
            for name in ("./", "/", ".")
        ]


def test_members_below_a_symlink_are_not_indexed(tmp_path: Path) -> None:
    raw = make_tar(
        member("x", type=tarfile.SYMTYPE, linkname="/etc"),
        member("x/passwd", b"planted\n"),
        member("y", type=tarfile.SYMTYPE, linkname="../../.."),
    )
    with open_tar(tmp_path, raw) as src:
        assert src.problems == ["'x/passwd': x is not a directory, not indexed"]
        with pytest.raises(NotADirectoryInSourceError):
            src.stat("x/passwd")
        assert src.stat("y").link_target == "../../.."
        assert src.resolve("y") == ""
        with pytest.raises(SourceNotFoundError):  # resolved inside the archive: no etc/ there
            src.resolve("x/passwd")


# Tar semantics.


def test_later_members_replace_earlier_ones(tmp_path: Path) -> None:
    raw = make_tar(
        member("f", b"old"),
        member("f", b"new"),
        member("d", type=tarfile.DIRTYPE, mode=0o700),
        member("d/child", b"kept"),
        member("d", type=tarfile.DIRTYPE, mode=0o750),  # re-stated: keeps its children
        member("e", type=tarfile.DIRTYPE),
        member("e/x", b"gone"),
        member("e", b"now a file"),
        member("g", b"was a file"),
        member("g", type=tarfile.DIRTYPE),
    )
    with open_tar(tmp_path, raw) as src:
        assert src.read_bytes("f") == b"new"
        assert src.stat("d").mode == 0o750
        assert src.listdir("d") == ["child"]
        assert src.read_bytes("e") == b"now a file"
        assert not src.exists("e/x")
        assert src.stat("g").is_dir
        assert src.listdir("") == ["d", "e", "f", "g"]
        assert src.problems == ["e: a later member replaces a directory of 1 entries"]


def test_implied_directories(tmp_path: Path) -> None:
    raw = make_tar(member("a/b/c", b"deep"), member(".", type=tarfile.DIRTYPE, mode=0o700))
    with open_tar(tmp_path, raw) as src:
        assert src.stat("a") == Entry("a", FileType.DIR, 0o755, 0, 0, 0, 0, 1, "a")
        assert src.listdir("a") == ["b"]
        assert [top for top, _ in src.walk()] == ["", "a", "a/b"]
        assert src.stat("").mode == 0o700  # "./" re-states the top
        assert src.problems == []


def test_hard_links(tmp_path: Path) -> None:
    raw = make_tar(
        member("a", b"v1", mode=0o755),
        member("b", type=tarfile.LNKTYPE, linkname="a", mode=0o600),
        member("c", type=tarfile.LNKTYPE, linkname="./b"),  # a link to a link
        member("a", b"v2"),  # replaces the name a; b and c keep the first file
        member("d", type=tarfile.DIRTYPE),
        member("e", type=tarfile.LNKTYPE, linkname="d"),
        member("f", type=tarfile.LNKTYPE, linkname="nowhere"),
    )
    with open_tar(tmp_path, raw) as src:
        b, c, a = src.stat("b"), src.stat("c"), src.stat("a")
        assert (b.inode, c.inode, b.nlink, c.nlink, b.mode) == ("a", "a", 2, 2, 0o755)
        assert src.read_bytes("c") == b"v1"
        assert (src.read_bytes("a"), a.nlink, a.mode) == (b"v2", 1, 0o644)
        assert a.inode not in ("a", b.inode)
        assert src.problems == [
            "e: hard link to a directory 'd', not indexed",
            "f: hard link to a missing member 'nowhere', not indexed",
        ]


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ("1700000000.123456789", 1_700_000_000_123_456_789),
        ("1.5", 1_500_000_000),
        ("-1.5", -1_500_000_000),
        ("1.1234567891", 1_123_456_789),  # beyond nanoseconds: truncated
        ("12", 12_000_000_000),
        ("inf", 0),
        ("soon", 0),
    ],
)
def test_pax_mtime_keeps_nanoseconds(tmp_path: Path, value: str, ns: int) -> None:
    with open_tar(tmp_path, make_tar(member("f", b"", pax={"mtime": value}))) as src:
        assert src.stat("f").mtime_ns == ns


def test_binary_xattr_values_come_back_as_bytes(tmp_path: Path) -> None:
    values = {
        "trusted.overlay.origin": b"\x00\xfb\x21\x00\x01\x80\xff\xfe",
        "user.utf8": "caf\u00e9".encode(),
        "user.empty": b"",
    }
    pax = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in values.items()}
    with open_tar(tmp_path, make_tar(member("f", b"", pax=pax))) as src:
        assert src.xattrs("f") == values


def test_gnu_tar_xattrs_and_whiteout(tmp_path: Path) -> None:
    tree = tmp_path / "layer"
    (tree / "dir").mkdir(parents=True)
    subprocess.run(
        ["setfattr", "-n", "trusted.overlay.opaque", "-v", "y", "dir"], cwd=tree, check=True
    )
    subprocess.run(["mknod", "x", "c", "0", "0"], cwd=tree, check=True)
    archive = tmp_path / "layer.tar"
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "-C", str(tree), "-cf", str(archive), "."],
        check=True,
    )
    with TarSource(archive) as src:
        assert src.xattrs("dir") == {"trusted.overlay.opaque": b"y"}
        x = src.stat("x")
        assert (x.type, x.rdev) == (FileType.CHARDEV, (0, 0))
        assert src.problems == []


def test_unsupported_types_and_contiguous_files(tmp_path: Path) -> None:
    raw = make_tar(
        member("vol", type=tarfile.GNUTYPE_LONGNAME.replace(b"L", b"V"), data=b""),
        member("cont", b"contiguous", type=tarfile.CONTTYPE),
    )
    with open_tar(tmp_path, raw) as src:
        assert src.read_bytes("cont") == b"contiguous"
        assert src.problems == ["vol: unsupported member type b'V', not indexed"]


def test_gnu_long_names(tmp_path: Path) -> None:
    long = "d/" + "n" * 150
    raw = make_tar(
        member(long, b"x"),
        member("l", type=tarfile.SYMTYPE, linkname="t" * 200),
        fmt=tarfile.GNU_FORMAT,
    )
    with open_tar(tmp_path, raw) as src:
        assert src.read_bytes(long) == b"x"
        assert src.readlink("l") == "t" * 200
        assert src.stat("l").size == 200


# Sparse members.


def make_sparse(path: Path) -> bytes:
    with open(path, "wb") as fh:
        fh.truncate(3 << 20)
        for offset, data in ((0, b"head"), ((1 << 20) + 5, b"middle"), ((3 << 20) - 4, b"tail")):
            fh.seek(offset)
            fh.write(data)
    return path.read_bytes()


@pytest.mark.parametrize("fmt", ["gnu", "posix"])  # old GNU 'S' members; PAX sparse 1.0
@pytest.mark.parametrize("compress", [None, "gzip"])
def test_gnu_sparse_members(tmp_path: Path, fmt: str, compress: str | None) -> None:
    (tmp_path / "t").mkdir()
    content = make_sparse(tmp_path / "t" / "sparse")
    archive = tmp_path / "s.tar"
    cmd = ["tar", "--sparse", f"--format={fmt}", "-C", str(tmp_path / "t"), "-cf", str(archive)]
    subprocess.run([*cmd, "sparse"], check=True)
    if compress:
        archive.write_bytes(gzip.compress(archive.read_bytes()))
    for limit in (0, 4 << 20):  # re-streamed, then cached
        with TarSource(archive, cache_member_limit=limit) as src:
            assert src.stat("sparse").size == 3 << 20
            assert src.read_bytes("sparse") == content
            with src.open("sparse") as fh:
                fh.seek((1 << 20) + 3)
                assert fh.read(10) == b"\0\0middle\0\0"
            assert src.problems == []


def test_inconsistent_sparse_map(tmp_path: Path) -> None:
    pax = {"GNU.sparse.map": "10,5,0,5", "GNU.sparse.size": "20"}
    good = {"GNU.sparse.map": "0,3,10,2", "GNU.sparse.size": "12"}
    raw = make_tar(member("bad", b"0123456789", pax=pax), member("good", b"abcde", pax=good))
    with open_tar(tmp_path, raw) as src:
        assert src.read_bytes("good") == b"abc" + bytes(7) + b"de"
        with pytest.raises(SourceError, match="bad: inconsistent sparse map"):
            src.open("bad")


# Readers.


@pytest.mark.parametrize("compressed", [False, True])
def test_readers_seek_and_are_independent(tmp_path: Path, compressed: bool) -> None:
    raw = make_tar(member("a", b"0123456789"), member("big", BIG))
    raw = gzip.compress(raw) if compressed else raw
    with open_tar(tmp_path, raw, cache_member_limit=0) as src:
        with src.open("big") as one, src.open("a") as two:
            assert one.read(4) == BIG[:4]
            assert two.read(4) == b"0123"
            one.seek(-3, os.SEEK_END)
            assert one.read() == BIG[-3:]
            one.seek(50_000)  # backwards: a compressed stream is reopened
            assert (one.read(5), one.tell()) == (BIG[50_000:50_005], 50_005)
            assert two.read() == b"456789"
        src.close()
        with pytest.raises(SourceError, match="archive is closed"):
            src.open("a")


def test_small_file_cache_budget(tmp_path: Path) -> None:
    files = {f"f{i}": bytes([i]) * 100 for i in range(10)}
    raw = gzip.compress(make_tar(*(member(name, data) for name, data in files.items())))
    with open_tar(tmp_path, raw, cache_limit=250) as src:
        assert {name: src.read_bytes(name) for name in files} == files


# The factory.


def test_open_source(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "a.tar").write_bytes(make_tar(member("x", b"1")))
    os.mkfifo(tmp_path / "pipe")
    with open_source(str(tmp_path / "tree")) as src:
        assert isinstance(src, DirSource)
    with open_source(str(tmp_path / "a.tar")) as src:
        assert isinstance(src, TarSource)
        assert src.read_bytes("x") == b"1"
    for path, why in (
        (tmp_path / "missing", "cannot open evidence: No such file or directory"),
        (tmp_path / "pipe", "evidence must be a directory or a tar archive"),
        (Path("/dev/null"), "evidence must be a directory or a tar archive"),
    ):
        with pytest.raises(SourceError) as info:
            open_source(str(path))
        assert str(info.value) == f"{path}: {why}"
        assert not isinstance(info.value, SourceNotFoundError)
