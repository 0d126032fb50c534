"""The fast header readers give exactly what tarfile gives, member for member.

Every archive here is indexed three times: as storagekit reads it (runs of common members by
:mod:`~storagekit.sources.tarquick`, the rest by the Scanner's fast path or tarfile), with the
runs switched off, and with both fast readers off so that tarfile reads every header. The
indexes, their problems and cuts must be equal — on the formats tar writers produce (GNU, PAX,
ustar with prefixes, V7), on every member type, and on thousands of damaged variants (bytes
flipped in headers and records).
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path
from typing import Any

import pytest

from storagekit.sources import forkchild, tarhalves, tarquick, tarscan
from storagekit.sources.tarindex import IMPLIED, MemoryIndex
from storagekit.sources.tarsource import TarSource


def _member(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    data: bytes = b"",
    **attrs: Any,
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = attrs.pop("mtime", 1_700_000_000)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _archive(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def _variety() -> list[tuple[tarfile.TarInfo, bytes]]:
    long_dir = "d/" + "x" * 120
    return [
        _member("d", tarfile.DIRTYPE, mode=0o755),
        _member("d/a", data=b"hello\n", uid=1000, gid=1000, mode=0o640),
        _member(long_dir, tarfile.DIRTYPE),
        _member(long_dir + "/" + "y" * 90, data=b"long\n"),
        _member("d/link", tarfile.SYMTYPE, linkname="../" + "z" * 150),
        _member("d/hard", tarfile.LNKTYPE, linkname="d/a"),
        _member("d/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
        _member("d/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
        _member("d/fifo", tarfile.FIFOTYPE),
        _member("d/ünïcode", data=b"u"),
        _member("d/big-uid", data=b"b", uid=0o7777777 + 5),
        _member("d/old", tarfile.AREGTYPE, data=b"v7"),
        _member("d/cont", tarfile.CONTTYPE, data=b"c"),
        _member("../escape", data=b"e"),
        _member("d/a", data=b"replaced"),
    ]


FAST_READS: list[str] = []  # members the Scanner's fast path read
QUICK_READS: list[str] = []  # members read in runs


def _index(
    path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch, quick: bool = False
) -> tuple[Any, ...]:
    with monkeypatch.context() as patch:
        if quick:
            real_run = tarquick.quick_run

            class Stores(dict[str, Any]):
                """Records that note the members stored into them (implied parents aside)."""

                def __setitem__(self, path: str, rec: Any) -> None:
                    if rec is not IMPLIED:
                        QUICK_READS.append(path)
                    super().__setitem__(path, rec)

            def counted_run(*args: Any, **kwargs: Any) -> tuple[tarquick.Ran, int]:
                builder = kwargs["builder"]
                builder.records = Stores(builder.records)
                try:
                    return real_run(*args, **kwargs)
                finally:
                    builder.records = dict(builder.records)

            patch.setattr(tarhalves, "quick_run", counted_run)
        else:

            def no_run(*args: Any, **kwargs: Any) -> tuple[tarquick.Ran, int]:
                return tarquick.Ran(None), args[1]

            patch.setattr(tarhalves, "quick_run", no_run)
        if fast:
            real = tarscan.Scanner._fast

            def counted(self: tarscan.Scanner) -> tarscan.Member | None:
                member = real(self)
                FAST_READS.append(member.name if member else "")
                return member

            patch.setattr(tarscan.Scanner, "_fast", counted)
        else:

            def unusual(self: tarscan.Scanner) -> None:
                raise tarscan._Unusual

            patch.setattr(tarscan.Scanner, "_fast", unusual)
        try:
            src = TarSource(path)
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            return (type(exc), str(exc))
        with src:
            cut = src.cut
            index = src._index
            assert isinstance(index, MemoryIndex)
            tree = (index.records, index.kids, index.links)
            return (*tree, src.problems, cut, src.xattr_members)


def _same(tmp_path: Path, raw: bytes, monkeypatch: pytest.MonkeyPatch, name: str = "a.tar") -> Any:
    path = tmp_path / name
    path.write_bytes(raw)
    quick = _index(path, fast=True, quick=True, monkeypatch=monkeypatch)
    FAST_READS.clear()
    fast = _index(path, fast=True, monkeypatch=monkeypatch)
    slow = _index(path, fast=False, monkeypatch=monkeypatch)
    assert quick == fast
    assert fast == slow
    return quick


@pytest.mark.parametrize(
    "fmt",
    [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT],
    ids=["gnu", "pax", "ustar"],
)
def test_every_member_kind_reads_as_tarfile_reads_it(
    tmp_path: Path, fmt: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = _variety()
    if fmt == tarfile.USTAR_FORMAT:  # ustar cannot hold the long link or the large uid
        members = [m for m in members if len(m[0].linkname) < 100 and m[0].uid < 0o7777777]
    QUICK_READS.clear()
    index = _same(tmp_path, _archive(members, fmt), monkeypatch)[0]
    assert index["d/a"][4] == len(b"replaced")
    # With the runs off, all but the first member (tarfile reads it when the archive is opened)
    # took the fast path, but for the large uid that GNU tar writes in base-256.
    slow = 2 if fmt == tarfile.GNU_FORMAT else 1
    assert len(FAST_READS) == len(members) - slow
    # With them on, the directories and regular files were read in runs (the large uid is a PAX
    # record or base-256; a long link name, a PAX record or a GNU K block; the other types and
    # the unsafe name go to the Scanner).
    long_dir = "d/" + "x" * 120
    runs = ["d/a", long_dir, long_dir + "/" + "y" * 90, "d/ünïcode", "d/old", "d/cont", "d/a"]
    assert QUICK_READS == runs


def test_pax_records_sparse_files_and_global_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xattr = _member("x", data=b"1")
    xattr[0].pax_headers = {
        "SCHILY.xattr.trusted.overlay.opaque": "y",
        "mtime": "1700000000.123456789",
        "comment": "kept by tarfile, dropped here",
    }
    odd = _member("odd", data=b"2")
    odd[0].pax_headers = {"mtime": "1e3", "uid": "not a number", "size": "1"}
    vendor = _member("vendor", data=b"3")
    vendor[0].pax_headers = {"LIBARCHIVE.creationtime": "1"}
    pax = _archive([xattr, odd, vendor], tarfile.PAX_FORMAT)
    index = _same(tmp_path, pax, monkeypatch)[0]
    assert index["x"][5] == 1_700_000_000_123_456_789
    # A global header (type g) applies to every later member: tarfile reads them all.
    glob = io.BytesIO()
    with tarfile.open(
        fileobj=glob, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"uid": "7"}
    ) as tf:
        for info, data in [_member("p", data=b"1"), _member("q", data=b"2")]:
            tf.addfile(info, io.BytesIO(data))
    assert _same(tmp_path, glob.getvalue(), monkeypatch, "g.tar")[0]["q"][2] == 7


def test_gzip_stream_reads_as_tarfile_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = gzip.compress(_archive(_variety(), tarfile.PAX_FORMAT))
    _same(tmp_path, raw, monkeypatch, "a.tar.gz")
    _same(tmp_path, raw[: len(raw) * 2 // 3], monkeypatch, "cut.tar.gz")


@pytest.mark.parametrize("seed", range(4))
def test_damaged_headers_read_as_tarfile_reads_them(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    fmt = [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT][seed % 2]
    good = _archive(_variety(), fmt)
    headers = [i for i in range(0, len(good), 512) if good[i + 257 : i + 262] == b"ustar"]
    for trial in range(60):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            at = rng.choice(headers) + rng.choice([rng.randrange(512), 148, 156, 124, 0])
            raw[at] = rng.choice([0, 0x20, 0x30, 0x37, 0x38, 0x80, 0xFF, rng.randrange(256)])
        if trial % 3 == 0:  # keep the checksum right, so the damage reaches the fields
            for start in headers:
                block = raw[start : start + 512]
                total = sum(block) - sum(block[148:156]) + 256
                raw[start + 148 : start + 156] = b"%06o\0 " % min(total, 0o777777)
        _same(tmp_path, bytes(raw), monkeypatch, f"d{trial}.tar")


JOINED: list[int] = []


@pytest.fixture(autouse=True)
def _count_joins(monkeypatch: pytest.MonkeyPatch) -> None:
    """JOINED: where each piece the child sent starts (-1: none came)."""
    real = forkchild.Child.receive

    def receive(self: forkchild.Child) -> object | None:
        piece = real(self)
        JOINED.append(piece.start if isinstance(piece, tarhalves.Half) else -1)
        return piece

    monkeypatch.setattr(forkchild.Child, "receive", receive)
    JOINED.clear()


def _halves(tmp_path: Path, raw: bytes, name: str) -> tuple[Any, Any]:
    path = tmp_path / name
    path.write_bytes(raw)
    with TarSource(path, split_min=1) as split, TarSource(path, split_min=1 << 62) as one:
        a, b = split._index, one._index
        assert isinstance(a, MemoryIndex)
        assert isinstance(b, MemoryIndex)
        same = (a.records, a.kids, a.links, split.problems, split.cut)
        assert same == (b.records, b.kids, b.links, one.problems, one.cut)
        return split, one


@pytest.mark.parametrize("memory", [True, False], ids=["memory-file", "pipe"])
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_two_halves_read_as_one_reader(
    tmp_path: Path, fmt: int, memory: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child hands its reading over in a memory file, or through the pipe without one."""
    if not memory:
        monkeypatch.setattr(forkchild, "_memory_file", lambda: None)
    elif forkchild._memory_file() is None:
        pytest.skip("no memory files here")
    members = [_member(f"d{i % 7}/f{i}", data=b"x" * (i % 1500)) for i in range(600)]
    raw = _archive([_member(f"d{i}", tarfile.DIRTYPE) for i in range(7)] + members, fmt)
    _halves(tmp_path, raw, "a.tar")
    assert len(JOINED) == 2  # the child's two pieces, each joined
    assert 0 < JOINED[0] < JOINED[1]
    # Cut short in the second half, and damaged there: the child's ending is the reading's.
    _halves(tmp_path, raw[: len(raw) * 3 // 4], "cut.tar")
    damaged = bytearray(raw)
    damaged[len(raw) * 3 // 4 // 512 * 512 + 148] ^= 1
    _halves(tmp_path, bytes(damaged), "damaged.tar")


def test_a_tar_inside_a_file_is_not_taken_for_the_second_half(tmp_path: Path) -> None:
    inner = _archive([_member(f"fake{i}", data=b"y" * 700) for i in range(200)], tarfile.PAX_FORMAT)
    outer = _archive(
        [_member("a", data=b"1" * 1000), _member("layer.tar", data=inner), _member("z", data=b"2")],
        tarfile.PAX_FORMAT,
    )
    split, _ = _halves(tmp_path, outer, "outer.tar")
    assert sorted(split.listdir("")) == ["a", "layer.tar", "z"]
    assert JOINED == []  # the child started inside layer.tar; its reading was thrown away


def test_gnu_tar_time_records_with_true_and_false_lengths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = {"mtime": "1700000000.25", "atime": "1700000001.5", "ctime": "1700000002.75"}
    good = _member("t", data=b"1")
    good[0].pax_headers = dict(times)
    raw = _archive([_member("a", data=b"0"), good], tarfile.PAX_FORMAT)
    QUICK_READS.clear()
    index = _same(tmp_path, raw, monkeypatch, "good.tar")[0]
    assert index["t"][5] == 1_700_000_000_250_000_000
    assert FAST_READS == ["t"]  # with the runs off
    assert QUICK_READS == ["t"]
    # The same records with a length one too long: tarfile reads the value by the length.
    lying = bytearray(raw)
    at = lying.find(b"23 mtime=")
    assert at > 0
    lying[at : at + 2] = b"24"
    header = at // 512 * 512 - 512
    block = lying[header : header + 512]
    total = sum(block) - sum(block[148:156]) + 256
    lying[header + 148 : header + 156] = b"%06o\0 " % total
    _same(tmp_path, bytes(lying), monkeypatch, "lying.tar")


def _gnu_tar_tree(root: Path) -> None:
    """A small tree with the shapes GNU tar writes: long names, links, empty and deep dirs."""
    deep = root / "top" / ("long-directory-name-" * 4) / "sub"
    deep.mkdir(parents=True)
    (deep / ("file-with-a-rather-long-name-" * 3)).write_bytes(b"x" * 700)
    (root / "top" / "small").write_bytes(b"s")
    (root / "top" / "empty").mkdir()
    (root / "top" / "rel").symlink_to("small")
    (root / "top" / "abs").symlink_to("/etc/" + "p" * 120)
    (root / "top" / "hard").hardlink_to(root / "top" / "small")
    for i in range(40):
        (root / "top" / f"f{i:02}").write_bytes(bytes([65 + i % 26]) * (i * 37))


@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar", "posix-xattrs"])
def test_archives_gnu_tar_writes_read_as_tarfile_reads_them(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    tree = tmp_path / "tree"
    _gnu_tar_tree(tree)
    options = ["--xattrs", "--format=posix"] if fmt == "posix-xattrs" else [f"--format={fmt}"]
    out = tmp_path / "gnu.tar"
    ok = subprocess.run(["tar", *options, "-C", str(tree), "-cf", str(out), "top"], check=False)
    if ok.returncode != 0:  # ustar refuses the 120-character link target
        assert fmt == "ustar"
        subprocess.run(
            ["tar", *options, "-C", str(tree), "-cf", str(out), "--exclude=abs", "top"], check=True
        )
    raw = out.read_bytes()
    QUICK_READS.clear()
    index = _same(tmp_path, raw, monkeypatch, "same.tar")[0]
    assert index["top/rel"][7].link_target == "small"
    assert index["top/hard"][7].inode == "top/small"
    # The hard link and the long link target are the Scanner's; the rest are read in runs.
    assert "top/hard" not in QUICK_READS
    assert "top/abs" not in QUICK_READS
    assert len(QUICK_READS) == len(index) - 3 - ("top/abs" in index)  # "" and "top" too
    # Damaged variants: bytes changed in headers and PAX records, checksums kept right or not.
    rng = random.Random(fmt)
    blocks = [i for i in range(0, len(raw), 512) if raw[i + 257 : i + 262] == b"ustar"]
    for trial in range(40):
        bad = bytearray(raw)
        at = rng.choice(blocks)
        spot = rng.choice([at + rng.randrange(512), at + 512 + rng.randrange(100), at + 156])
        bad[spot] = rng.choice([0, 0x0A, 0x20, 0x2F, 0x30, 0x39, 0x3D, 0x78, 0xFF])
        if trial % 2 == 0:
            block = bad[at : at + 512]
            total = sum(block) - sum(block[148:156]) + 256
            bad[at + 148 : at + 156] = b"%06o\0 " % total
        _same(tmp_path, bytes(bad), monkeypatch, f"bad{trial}.tar")


def test_quick_runs_take_the_shapes_the_scanner_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """V7 directories, prefixes, PAX subsets and odd times, top and unsafe names."""
    v7 = _member("v7dir/", tarfile.AREGTYPE)
    frac = _member("frac", data=b"f")
    frac[0].pax_headers = {"mtime": "1700000000.5", "path": "frac-renamed/"}
    neg = _member("neg", data=b"n")
    neg[0].pax_headers = {"mtime": "-12.000000001"}
    many = _member("many", data=b"m")
    many[0].pax_headers = {"mtime": "1700000000.1234567891234"}
    eight = _member("eight", data=b"8")
    eight[0].pax_headers = {"mtime": "1700000000.73897288"}  # GNU tar drops trailing zeros
    whole = _member("whole", data=b"w")
    whole[0].pax_headers = {"mtime": "1700000000"}
    bare = _member("bare", data=b"b")  # tarfile reads it as the float 0.5: 0 seconds
    bare[0].pax_headers = {"mtime": ".5"}
    point = _member("point", data=b"p")
    point[0].pax_headers = {"mtime": "1700000000."}
    dotted = _member("./top/./x", data=b"d")
    unsafe = _member("a/../../etc/passwd", data=b"u")
    link = _member("short-link", tarfile.SYMTYPE, linkname="target")
    empty_link = _member(".", tarfile.SYMTYPE, linkname="t")
    top = _member("./", tarfile.DIRTYPE)
    members = [top, v7, frac, neg, many, eight, whole, bare, point, dotted, unsafe, link]
    members.append(empty_link)
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):  # GNU: no PAX records
        QUICK_READS.clear()
        index = _same(tmp_path, _archive(members, fmt), monkeypatch, f"q{fmt}.tar")[0]
        assert index["v7dir"][0].value == "dir"
        assert index["short-link"][7].link_target == "target"
        assert "a/../../etc/passwd" not in QUICK_READS
        assert "" not in QUICK_READS  # a symbolic link naming the top goes to the Scanner
    # tarfile wrote "frac"'s records as mtime then path, an order the runs leave to the Scanner.
    assert QUICK_READS == [
        *("v7dir", "neg", "many", "eight", "whole", "bare", "point", "top/x", "short-link")
    ]
    assert index["frac-renamed"][5] == 1_700_000_000_500_000_000
    assert index["many"][5] == 1_700_000_000_123_456_789
    assert index["neg"][5] == -12_000_000_001
    assert index["eight"][5] == 1_700_000_000_738_972_880
    assert index["whole"][5] == 1_700_000_000_000_000_000
    assert index["bare"][5] == 0
    assert index["point"][5] == 1_700_000_000_000_000_000
    assert index["top/x"][4] == 1


@pytest.fixture
def merges(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each join of a second half returned, in order."""
    real = tarhalves.merge
    made: list[bool] = []

    def counted(builder: Any, part: Any) -> bool:
        made.append(real(builder, part))
        return made[-1]

    monkeypatch.setattr(tarhalves, "merge", counted)
    return made


@pytest.mark.parametrize(
    ("tail", "joins"),
    [
        ([], True),  # the second half's members below first-half directories: implied there
        ([_member("d0", tarfile.DIRTYPE, mode=0o700)], True),  # a directory re-stated
        ([_member("../bad", data=b"p"), _member("n/x", tarfile.LNKTYPE, linkname="n/f")], True),
        ([_member("late", tarfile.LNKTYPE, linkname="d1/f1")], False),  # a first-half file
        ([_member("d2/f2", data=b"new")], False),  # a first-half file replaced
        ([_member("s/inside", data=b"i")], False),  # below a first-half symbolic link
        ([_member("d3", data=b"file now")], False),  # a first-half directory replaced
    ],
    ids=["implied", "restated", "own-links", "link-back", "replaced", "below-link", "dir-gone"],
)
def test_the_second_half_joins_as_one_reader_reads_it(
    tmp_path: Path, merges: list[bool], tail: list[Any], joins: bool
) -> None:
    head = [_member(f"d{i}", tarfile.DIRTYPE) for i in range(7)]
    head += [_member("s", tarfile.SYMTYPE, linkname="d0"), _member("../first", data=b"p")]
    files = [_member(f"d{i % 7}/f{i}", data=b"x" * (i % 1500)) for i in range(600)]
    own = [_member("n/f", data=b"own"), _member("n/g", data=b"own")]
    raw = _archive(head + files + own + tail, tarfile.PAX_FORMAT)
    split, _ = _halves(tmp_path, raw, "a.tar")
    assert merges == [True, joins]  # the first piece joins; the tail is in the second
    assert JOINED[0] > 0
    assert split.problems[0] == "'../first': unsafe member name, not indexed"


def test_many_directories_in_both_halves_join(tmp_path: Path, merges: list[bool]) -> None:
    """More than 64 paths in both halves take the dictionary way to their types."""
    dirs = [_member(f"d{i}", tarfile.DIRTYPE) for i in range(80)]
    files = [_member(f"d{i % 80}/f{i}", data=b"x" * (i % 900)) for i in range(800)]
    restated = [_member(f"d{i}", tarfile.DIRTYPE, mode=0o700) for i in range(80)]
    raw = _archive(dirs + files + restated, tarfile.PAX_FORMAT)
    split, _ = _halves(tmp_path, raw, "many.tar")
    assert merges == [True, True]  # the restated directories are in the second piece
    index = split._index
    assert isinstance(index, MemoryIndex)
    assert index.records["d79"][1] == 0o700
    assert len(index.kids["d79"]) == 10


def test_a_second_piece_that_cannot_join_is_read_here(
    tmp_path: Path, merges: list[bool]
) -> None:
    """A hard link in the child's second piece to a file in its first: read on from there."""
    files = [_member(f"d{i % 5}/f{i}", data=b"x" * (i % 1000)) for i in range(900)]
    link = _member("late-link", tarfile.LNKTYPE, linkname="d0/f600")
    tail = [_member(f"e/g{i}", data=b"y" * 10) for i in range(40)]
    raw = _archive(files + [link] + tail, tarfile.PAX_FORMAT)
    split, _ = _halves(tmp_path, raw, "link.tar")
    assert merges == [True, False]  # the first piece joined, the second was refused
    assert len(JOINED) == 2
    index = split._index
    assert isinstance(index, MemoryIndex)
    assert index.nlink("d0/f600") == 2


def test_a_child_that_fails_after_its_first_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the child read before it failed is joined; this process reads the rest."""
    real = tarhalves._read_from

    def failing(read_at: Any, start: int, stop_at: int | None = None) -> Any:
        if stop_at is None:
            raise RuntimeError("the second piece fails")
        return real(read_at, start, stop_at)

    monkeypatch.setattr(tarhalves, "_read_from", failing)
    files = [_member(f"d{i % 5}/f{i}", data=b"x" * (i % 1000)) for i in range(900)]
    _halves(tmp_path, _archive(files, tarfile.PAX_FORMAT), "fails.tar")
    assert len(JOINED) == 2
    assert JOINED[0] > 0
    assert JOINED[1] == -1


def test_no_second_process_means_one_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork that fails (a process limit) leaves the reading to this process alone."""

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(forkchild.os, "fork", no_fork)
    files = [_member(f"d{i % 5}/f{i}", data=b"x" * (i % 1000)) for i in range(900)]
    split, _ = _halves(tmp_path, _archive(files, tarfile.PAX_FORMAT), "nofork.tar")
    assert JOINED == []
    assert len(split.listdir("d1")) == 180
