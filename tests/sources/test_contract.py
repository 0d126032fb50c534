"""One contract suite for every Source: the same tree as a directory, as tar archives (Python
tarfile in PAX format: plain, gzip, xz, bzip2, zstd, and gzip read without the small-file cache;
GNU tar --xattrs), as a MemorySource, and as a SubSource of each. Where implementations
legitimately differ (directory sizes, allocation, nlink of directories, inode form) the
expectation is spelled out per implementation.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zstandard

from storagekit.errors import (
    LinkLoopError,
    NotADirectoryInSourceError,
    SourceError,
    SourceNotFoundError,
    UnsafePathError,
)
from storagekit.source import Entry, FileType, Source
from storagekit.sources.dirsource import DirSource
from storagekit.sources.memsource import MemorySource
from storagekit.sources.tarsource import TarSource

T = 1_600_000_000_123_456_789  # mtimes carry nanoseconds
ORIGIN = b"\x00\xfb\x21\x00\x01\x80\xff\xfe"  # an overlayfs file handle: not UTF-8
SH = b"\x7fELF" + bytes(range(256)) * 12
PASSWD = b"root:x:0:0:root:/root:/bin/sh\n"
SUB = "wrap/inner"


@dataclass(frozen=True)
class Node:
    path: str
    type: FileType | None  # None: a hard link to `target`
    mode: int
    uid: int = 0
    gid: int = 0
    mtime_ns: int = T
    data: bytes = b""
    target: str | None = None
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] = field(default_factory=dict)


def d(path, mode=0o755, **kw):
    return Node(path, FileType.DIR, mode, **kw)


def f(path, data, mode=0o644, **kw):
    return Node(path, FileType.FILE, mode, data=data, **kw)


def ln(path, target):
    return Node(path, FileType.SYMLINK, 0o777, target=target, mtime_ns=T + 1)


TREE = (
    d("", mtime_ns=T + 9),
    d("bin"),
    f("bin/sh", SH, 0o755),
    Node("bin/ash", None, 0o600, target="bin/sh"),  # a link header's own mode is not the file's
    Node("bin/busybox", None, 0o600, target="bin/sh"),
    f("bin/su", b"su\n", 0o4755),
    d("dev"),
    Node("dev/null", FileType.CHARDEV, 0o666, rdev=(1, 3)),
    Node("dev/sda", FileType.BLOCKDEV, 0o660, gid=6, rdev=(240, 0)),  # experimental major
    Node("dev/initctl", FileType.FIFO, 0o600),
    d("etc"),
    f("etc/hostname", b"evidence\n"),
    f("etc/passwd", PASSWD),
    f("etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o640, gid=42),
    f("etc/motd-\u00fc", b"a UTF-8 name\n"),
    f("etc/latin-\udce9", b"a Latin-1 name\n"),  # the byte 0xe9: not UTF-8
    d("home"),
    d("home/user", 0o700, uid=1000, gid=1000),
    f("home/user/notes", b"", 0o600, uid=1000, gid=1000, mtime_ns=-1_500_000_000),
    ln("home/user/passwd", "../../../../etc/passwd"),
    d("opaque", xattrs={"trusted.overlay.opaque": b"y"}),
    Node("opaque/gone", FileType.CHARDEV, 0o000, rdev=(0, 0)),  # an overlay whiteout
    d("tmp", 0o1777),
    d("usr"),
    d("usr/lib"),
    f(
        "usr/lib/os-release",
        b"ID=evidence\n",
        xattrs={"user.comment": b"hello", "trusted.overlay.origin": ORIGIN},
    ),
    ln("abs", "/usr/lib"),
    ln("rel", "usr/lib"),
    ln("escape", "../../.."),
    ln("hostile", "/etc"),
    ln("loop1", "loop2"),
    ln("loop2", "loop1"),
)
NODES = {n.path: n for n in TREE}
SH_NAMES = ("bin/ash", "bin/busybox", "bin/sh")
DIRS_IN_WALK_ORDER = [
    "",
    "bin",
    "dev",
    "etc",
    "home",
    "home/user",
    "opaque",
    "tmp",
    "usr",
    "usr/lib",
]
KINDS = ("dir", "tar", "tar.gz", "tar.xz", "tar.bz2", "tar.zst", "tar.gz-nocache", "gnutar", "mem")
COMPRESS = {
    "tar": bytes,
    "tar.gz": gzip.compress,
    "tar.xz": lzma.compress,
    "tar.bz2": bz2.compress,
    "tar.zst": zstandard.ZstdCompressor().compress,
}


def real(n: Node) -> Node:
    """The node a hard link names."""
    return NODES[n.target] if n.type is None and n.target else n


def join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def build_dir(root: Path) -> None:
    for n in TREE:
        p = os.path.join(root, n.path)
        if n.type is FileType.DIR:
            os.makedirs(p, exist_ok=True)
        elif n.type is FileType.FILE:
            Path(p).write_bytes(n.data)
        elif n.type is FileType.SYMLINK:
            os.symlink(n.target, p)
        elif n.type in (FileType.CHARDEV, FileType.BLOCKDEV):
            kind = stat.S_IFCHR if n.type is FileType.CHARDEV else stat.S_IFBLK
            os.mknod(p, kind | 0o600, os.makedev(*n.rdev))
        elif n.type is FileType.FIFO:
            os.mkfifo(p)
        else:
            os.link(os.path.join(root, n.target), p)
        if n.type not in (None, FileType.SYMLINK):
            os.chown(p, n.uid, n.gid)  # before chmod: chown clears set-id bits
            os.chmod(p, n.mode)
        for name, value in n.xattrs.items():
            os.setxattr(p, name, value, follow_symlinks=False)
    for n in reversed(TREE):  # children before their directories
        if n.type is not None:
            p = os.path.join(root, n.path)
            os.utime(p, ns=(n.mtime_ns, n.mtime_ns), follow_symlinks=False)


def tar_bytes(prefix: str) -> bytes:
    """The tree as a PAX archive written by Python's tarfile ("wrap/" stays implied)."""
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"
    ) as tf:
        for n in TREE:
            ti = tarfile.TarInfo(join(prefix, n.path) or ".")
            ti.mode, ti.uid, ti.gid = n.mode, n.uid, n.gid
            sec, ns = divmod(abs(n.mtime_ns), 10**9)
            ti.mtime = sec if n.mtime_ns >= 0 else -sec
            ti.pax_headers = {"mtime": f"{'-' if n.mtime_ns < 0 else ''}{sec}.{ns:09d}"}
            for name, value in n.xattrs.items():
                ti.pax_headers[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
            data = None
            if n.type is FileType.FILE:
                ti.size, data = len(n.data), io.BytesIO(n.data)
            elif n.type is None:
                ti.type, ti.linkname = tarfile.LNKTYPE, join(prefix, n.target)
            else:
                ti.type = {
                    FileType.DIR: tarfile.DIRTYPE,
                    FileType.SYMLINK: tarfile.SYMTYPE,
                    FileType.CHARDEV: tarfile.CHRTYPE,
                    FileType.BLOCKDEV: tarfile.BLKTYPE,
                    FileType.FIFO: tarfile.FIFOTYPE,
                }[n.type]
                ti.linkname = n.target or ""
                ti.devmajor, ti.devminor = n.rdev or (0, 0)
            tf.addfile(ti, data)
    return buf.getvalue()


def build_mem(prefix: str) -> MemorySource:
    src = MemorySource("memory")
    for n in TREE:
        p, meta = join(prefix, n.path), (n.mode, n.uid, n.gid, n.mtime_ns)
        if n.type is FileType.DIR:
            src.add_dir(p, *meta, xattrs=n.xattrs)
        elif n.type is FileType.FILE:
            src.add_file(p, n.data, *meta, xattrs=n.xattrs)
        elif n.type is FileType.SYMLINK:
            src.add_symlink(p, n.target, *meta)
        elif n.type in (FileType.CHARDEV, FileType.BLOCKDEV):
            src.add_device(p, n.type, *n.rdev, *meta)
        elif n.type is FileType.FIFO:
            src.add_fifo(p, *meta)
        else:
            src.add_hardlink(p, join(prefix, n.target))
    return src


def gnu_tar(base: Path, out: Path, what: str) -> None:
    cmd = ["tar", "--xattrs", "--xattrs-include=*", "--sort=name", "--format=posix"]
    subprocess.run([*cmd, "-C", str(base), "-cf", str(out), what], check=True)


@pytest.fixture(scope="session")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every on-disk form of the tree, at the top ("base") and below "sub/wrap/inner"."""
    top = tmp_path_factory.mktemp("evidence")
    for variant, prefix in (("base", ""), ("sub", SUB)):
        host = top / "dir" / variant / prefix
        host.mkdir(parents=True)
        build_dir(host)
        raw = tar_bytes(prefix)
        for kind, compress in COMPRESS.items():
            (top / f"{variant}.{kind}").write_bytes(compress(raw))
        gnu_tar(top / "dir" / variant, top / f"{variant}.gnutar", "." if not prefix else "wrap")
    return top


@dataclass
class Case:
    kind: str
    sub: bool
    source: Source
    host: Path  # where the tree is on the host (for the directory source)

    @property
    def tarlike(self) -> bool:
        return self.kind not in ("dir", "mem")

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(os.path.join(self.host, path))


@pytest.fixture(
    scope="module",
    params=[(k, s) for s in (False, True) for k in KINDS],
    ids=lambda p: ("sub-" if p[1] else "") + p[0],
)
def case(request: pytest.FixtureRequest, evidence: Path) -> Iterator[Case]:
    kind, sub = request.param
    variant, prefix = ("sub", SUB) if sub else ("base", "")
    host = evidence / "dir" / variant / prefix
    if kind == "dir":
        src: Source = DirSource(evidence / "dir" / variant)
    elif kind == "mem":
        src = build_mem(prefix)
    elif kind == "tar.gz-nocache":
        src = TarSource(evidence / f"{variant}.tar.gz", cache_member_limit=0)
    else:
        src = TarSource(evidence / f"{variant}.{kind}")
    if kind not in ("dir", "mem"):
        assert src.problems == []  # type: ignore[attr-defined]
    view = src.sub(prefix) if sub else src
    yield Case(kind, sub, view, host)
    view.close()


# Expectations that differ per implementation.


def expected_inode(case: Case, path: str) -> object:
    if case.kind == "dir":
        s = case.lstat(path)
        return (s.st_dev, s.st_ino)
    if path in SH_NAMES:  # the first member (GNU tar sorted by name: bin/ash comes first)
        path = "bin/ash" if case.kind == "gnutar" else "bin/sh"
    return join(SUB if case.sub else "", path)


def expected_nlink(case: Case, n: Node) -> int:
    if n.type is FileType.DIR:
        if case.kind == "dir":  # "." and ".." of every subdirectory
            return 2 + sum(
                1
                for m in TREE
                if m.type is FileType.DIR and m.path.rpartition("/")[0] == n.path and m.path
            )
        return 1  # a tar and a MemorySource cannot tell
    return 3 if n.path in SH_NAMES else 1


def expected_size(case: Case, n: Node) -> int:
    n = real(n)
    if n.type is FileType.FILE:
        return len(n.data)
    if n.type is FileType.SYMLINK:
        return len(os.fsencode(n.target))
    if n.type is FileType.DIR and case.kind == "dir":
        return case.lstat(n.path).st_size
    return 0


# The contract.


def test_stat_every_entry(case: Case) -> None:
    src = case.source
    for n in TREE:
        e = src.stat(n.path)
        want = real(n)
        assert (e.path, e.name) == (n.path, n.path.rpartition("/")[2])
        assert e.type is want.type, n.path
        assert (e.mode, e.uid, e.gid, e.mtime_ns) == (
            want.mode,
            want.uid,
            want.gid,
            want.mtime_ns,
        ), n.path
        assert e.size == expected_size(case, n), n.path
        assert e.rdev == want.rdev
        assert e.link_target == (want.target if want.type is FileType.SYMLINK else None)
        assert e.nlink == expected_nlink(case, n), n.path
        assert e.inode == expected_inode(case, n.path), n.path
        if case.kind == "dir":
            assert e.allocated == case.lstat(n.path).st_blocks * 512
        else:
            assert e.allocated is None


def test_hard_links_share_identity(case: Case) -> None:
    entries = [case.source.stat(p) for p in SH_NAMES]
    assert len({e.inode for e in entries}) == 1
    assert [e.nlink for e in entries] == [3, 3, 3]
    assert [case.source.read_bytes(p) for p in SH_NAMES] == [SH] * 3
    assert case.source.stat("bin/su").inode != entries[0].inode


def test_whiteouts_and_opaque_markers(case: Case) -> None:
    src = case.source
    gone = src.stat("opaque/gone")
    assert (gone.type, gone.rdev, gone.mode) == (FileType.CHARDEV, (0, 0), 0)
    assert src.xattrs("opaque") == {"trusted.overlay.opaque": b"y"}
    assert src.trusted_xattrs_visible is True


def test_xattrs(case: Case) -> None:
    src = case.source
    assert src.xattrs("usr/lib/os-release") == {
        "user.comment": b"hello",
        "trusted.overlay.origin": ORIGIN,
    }
    for path in ("", "etc", "etc/hostname", "abs", "dev/null", "opaque/gone", "bin/ash"):
        assert src.xattrs(path) == {}, path
    with pytest.raises(SourceNotFoundError):
        src.xattrs("missing")


def test_scandir_and_listdir(case: Case) -> None:
    src = case.source
    for n in TREE:
        if n.type is not FileType.DIR:
            continue
        children = sorted(m.path for m in TREE if m.path and m.path.rpartition("/")[0] == n.path)
        scanned = {e.path: e for e in src.scandir(n.path)}
        assert sorted(scanned) == children, n.path
        assert scanned == {p: src.stat(p) for p in children}
        assert src.listdir(n.path) == sorted(p.rpartition("/")[2] for p in children)


def test_scandir_refuses_non_directories(case: Case) -> None:
    src = case.source
    for path in ("etc/hostname", "abs", "dev/null"):
        with pytest.raises(NotADirectoryInSourceError):
            list(src.scandir(path))
    with pytest.raises(SourceNotFoundError):
        list(src.scandir("missing"))


def test_listdir_refuses_non_directories(case: Case) -> None:
    for path in ("etc/hostname", "abs", "dev/null"):
        with pytest.raises(NotADirectoryInSourceError):
            case.source.listdir(path)
    with pytest.raises(SourceNotFoundError):
        case.source.listdir("missing")


def test_open_and_read(case: Case) -> None:
    src = case.source
    for n in TREE:
        if real(n).type is FileType.FILE:
            data = real(n).data
            assert src.read_bytes(n.path) == data, n.path
            assert src.read_bytes(n.path, limit=5) == data[:5]
            with src.open(n.path) as fh:
                assert fh.read(3) + fh.read() == data
    assert src.read_text("etc/hostname") == "evidence\n"
    assert src.read_bytes("bin/sh", limit=10_000) == SH


@pytest.mark.parametrize(
    "path",
    ["", "etc", "abs", "home/user/passwd", "dev/null", "dev/sda", "dev/initctl", "opaque/gone"],
)
def test_open_refuses_everything_but_regular_files(case: Case, path: str) -> None:
    with pytest.raises(SourceError):
        case.source.open(path)


def test_missing_paths(case: Case) -> None:
    src = case.source
    for path in ("missing", "etc/missing", "missing/deeper"):
        with pytest.raises(SourceNotFoundError) as info:
            src.stat(path)
        assert isinstance(info.value, FileNotFoundError)
        with pytest.raises(SourceNotFoundError):
            src.open(path)
        assert not src.exists(path)
    with pytest.raises(NotADirectoryInSourceError):
        src.stat("etc/hostname/x")
    with pytest.raises(NotADirectoryInSourceError):
        src.open("etc/hostname/x")


def test_symlink_components_are_not_followed(case: Case) -> None:
    src = case.source
    for path in ("hostile/passwd", "abs/os-release", "rel/os-release", "escape/etc/hostname"):
        with pytest.raises(NotADirectoryInSourceError):
            src.stat(path)
        with pytest.raises(NotADirectoryInSourceError):
            src.open(path)
        with pytest.raises(SourceError):
            src.xattrs(path)
        assert not src.exists(path)
    assert not src.is_dir("abs")
    assert not src.is_file("home/user/passwd")
    assert src.is_dir("usr/lib")
    assert src.is_file("etc/passwd")


def test_paths_are_normalised_and_dotdot_refused(case: Case) -> None:
    src = case.source
    assert src.stat("/etc//hostname").path == "etc/hostname"
    assert src.stat("./etc/.").path == "etc"
    assert src.stat("/").path == ""
    for path in ("..", "../etc", "etc/../etc/passwd", "etc/\0"):
        with pytest.raises(UnsafePathError):
            src.stat(path)
        with pytest.raises(UnsafePathError):
            src.open(path)
        with pytest.raises(UnsafePathError):
            list(src.scandir(path))


def test_resolve_stays_inside(case: Case) -> None:
    src = case.source
    assert src.resolve("home/user/passwd") == "etc/passwd"
    assert src.read_bytes(src.resolve("home/user/passwd")) == PASSWD  # never the host's
    assert src.resolve("hostile/passwd") == "etc/passwd"
    assert src.resolve("abs/os-release") == "usr/lib/os-release"
    assert src.resolve("rel/os-release") == "usr/lib/os-release"
    assert src.resolve("abs/missing") == "usr/lib/missing"
    assert src.resolve("escape") == ""
    assert src.resolve("escape/etc/hostname") == "etc/hostname"
    assert src.resolve("../../etc/./passwd") == "etc/passwd"
    assert src.readlink("abs") == "/usr/lib"
    with pytest.raises(SourceError):
        src.readlink("etc/hostname")
    with pytest.raises(NotADirectoryInSourceError):
        src.resolve("etc/hostname/x")
    with pytest.raises(SourceNotFoundError):
        src.resolve("missing/x")


def test_link_loops(case: Case) -> None:
    for path in ("loop1", "loop2/x"):
        with pytest.raises(LinkLoopError):
            case.source.resolve(path)
    with pytest.raises(LinkLoopError):
        case.source.resolve("rel/os-release", hops=0)


def test_walk_order(case: Case) -> None:
    walked = list(case.source.walk())
    assert [top for top, _ in walked] == DIRS_IN_WALK_ORDER
    for top, entries in walked:
        assert [e.path for e in entries] == sorted(
            m.path for m in TREE if m.path and m.path.rpartition("/")[0] == top
        )
    assert [top for top, _ in case.source.walk("home")] == ["home", "home/user"]


def test_top(case: Case) -> None:
    top = case.source.stat("")
    assert (top.path, top.type, top.mode, top.mtime_ns) == ("", FileType.DIR, 0o755, T + 9)
    assert (top.is_dir, top.is_file, top.is_symlink) == (True, False, False)


# Evidence is never modified.


def snapshot(path: Path) -> dict[str, tuple[object, ...]]:
    """lstat (atime included), content hash and xattrs of every node, read with O_NOATIME."""
    out: dict[str, tuple[object, ...]] = {}
    pending = [str(path)]
    while pending:
        p = pending.pop()
        s = os.lstat(p)
        digest = None
        if stat.S_ISREG(s.st_mode):
            fd = os.open(p, os.O_RDONLY | os.O_NOATIME)
            with os.fdopen(fd, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        elif stat.S_ISDIR(s.st_mode):
            fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
            try:
                pending.extend(os.path.join(p, name) for name in os.listdir(fd))
            finally:
                os.close(fd)
        xattrs = {
            k: os.getxattr(p, k, follow_symlinks=False)
            for k in os.listxattr(p, follow_symlinks=False)
        }
        out[p] = (
            s.st_mode, s.st_ino, s.st_nlink, s.st_uid, s.st_gid, s.st_size, s.st_rdev,
            s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns, digest, sorted(xattrs.items()),
        )  # fmt: skip
    return out


def read_everything(src: Source) -> None:
    for top, entries in src.walk():
        src.listdir(top)
        src.xattrs(top)
        for e in entries:
            src.stat(e.path)
            src.xattrs(e.path)
            if e.is_file:
                src.read_bytes(e.path)
            elif e.is_symlink:
                try:
                    src.resolve(e.path)
                except LinkLoopError:
                    pass


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.xz", "tar.bz2", "tar.zst", "gnutar"])
def test_archives_are_never_modified(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / "evidence"
    if kind == "gnutar":
        (tmp_path / "tree").mkdir()
        build_dir(tmp_path / "tree")
        gnu_tar(tmp_path / "tree", archive, ".")
    else:
        archive.write_bytes(COMPRESS[kind](tar_bytes("")))
    os.utime(archive, ns=(T, T))  # an old atime: relatime would update it on any normal read
    before = snapshot(archive)
    for limit in (0, 1 << 20):  # with and without the small-file cache
        with TarSource(archive, cache_member_limit=limit) as src:
            read_everything(src)
    assert snapshot(archive) == before


def without_atime(
    snap: dict[str, tuple[object, ...]], *kinds: int
) -> dict[str, tuple[object, ...]]:
    return {p: v[:7] + v[8:] if stat.S_IFMT(v[0]) in kinds else v for p, v in snap.items()}


def test_directory_is_never_modified(tmp_path: Path) -> None:
    build_dir(tmp_path)
    before = snapshot(tmp_path)
    with DirSource(tmp_path) as src:
        read_everything(src)
    # Everything is unchanged, atimes of files and directories included, except the atimes of
    # symlinks: readlink(2) updates them on a relatime mount and no flag prevents it (only a
    # noatime or read-only mount of the evidence does).
    assert without_atime(snapshot(tmp_path), stat.S_IFLNK) == without_atime(before, stat.S_IFLNK)


def test_entries_are_plain_values(case: Case) -> None:
    e = case.source.stat("etc/hostname")
    assert isinstance(e, Entry)
    assert e == case.source.stat("etc/hostname")
