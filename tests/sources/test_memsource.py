"""MemorySource beyond the shared contract: the builders and what they refuse."""

from __future__ import annotations

import pytest

from storagekit.errors import SourceError, SourceNotFoundError, UnsafePathError
from storagekit.source import Entry, FileType
from storagekit.sources.memsource import MemorySource


def test_builders_chain_and_create_parents() -> None:
    src = (
        MemorySource("layer")
        .add_file("a/b/c", b"deep", mode=0o600, uid=1, gid=2, mtime_ns=5)
        .add_symlink("a/l", "../x")
        .add_fifo("p")
        .add_socket("s")
        .add_device("w", FileType.CHARDEV, 0, 0)
    )
    assert src.description == "layer"
    assert src.stat("a") == Entry("a", FileType.DIR, 0o755, 0, 0, 0, 0, 1, "a")
    assert src.stat("a/b/c") == Entry("a/b/c", FileType.FILE, 0o600, 1, 2, 4, 5, 1, "a/b/c")
    assert src.stat("a/l").size == 4  # len("../x"), as lstat says
    assert src.listdir("") == ["a", "p", "s", "w"]
    assert (src.stat("w").rdev, src.stat("w").mode) == ((0, 0), 0o600)
    assert src.stat("s").type is FileType.SOCKET
    with pytest.raises(SourceError, match="s: not a regular file"):
        src.open("s")


def test_from_dict() -> None:
    src = MemorySource.from_dict(
        {"etc": None, "etc/hostname": b"box\n", "etc/mtab": "/proc/mounts"}
    )
    assert src.read_bytes("etc/hostname") == b"box\n"
    assert src.readlink("etc/mtab") == "/proc/mounts"
    assert src.is_dir("etc")


def test_restating_and_replacing() -> None:
    src = MemorySource().add_file("d/keep", b"1").add_dir("d", mode=0o700, mtime_ns=9)
    assert (src.stat("d").mode, src.stat("d").mtime_ns, src.listdir("d")) == (0o700, 9, ["keep"])
    src.add_dir("", mode=0o750)
    assert src.stat("").mode == 0o750
    src.add_file("d", b"now a file")
    assert src.read_bytes("d") == b"now a file"
    assert not src.exists("d/keep")
    src.add_file("d", b"again")
    assert src.read_bytes("d") == b"again"


def test_hard_links() -> None:
    src = (
        MemorySource()
        .add_file("a", b"v1", mode=0o755)
        .add_hardlink("b", "a")
        .add_hardlink("c", "b")
    )
    assert [src.stat(p).nlink for p in "abc"] == [3, 3, 3]
    assert {src.stat(p).inode for p in "abc"} == {"a"}
    assert src.stat("c").mode == 0o755
    src.add_file("a", b"v2")  # a new file under the first name
    assert (src.read_bytes("b"), src.stat("b").nlink, src.stat("b").inode) == (b"v1", 2, "a")
    assert (src.read_bytes("a"), src.stat("a").nlink) == (b"v2", 1)
    assert src.stat("a").inode != "a"
    src.add_hardlink("b", "b")  # a name re-linked to itself changes nothing
    assert src.stat("b").nlink == 2


def test_what_the_builders_refuse() -> None:
    src = MemorySource().add_file("f", b"").add_dir("d")
    with pytest.raises(ValueError, match="f is not a directory"):
        src.add_file("f/x", b"")
    with pytest.raises(ValueError, match="cannot hard-link a directory"):
        src.add_hardlink("h", "d")
    with pytest.raises(SourceNotFoundError):
        src.add_hardlink("h", "missing")
    with pytest.raises(ValueError, match="CHARDEV or BLOCKDEV"):
        src.add_device("x", FileType.FIFO, 1, 1)
    with pytest.raises(ValueError, match="top of a source is a directory"):
        src.add_file("", b"")
    with pytest.raises(UnsafePathError):
        src.add_file("../escape", b"")
    assert src.listdir("") == ["d", "f"]


def test_trusted_xattrs_can_be_hidden() -> None:
    xattrs = {"trusted.overlay.opaque": b"y", "user.note": b"n"}
    assert MemorySource().add_dir("o", xattrs=xattrs).xattrs("o") == xattrs
    hidden = MemorySource(trusted_xattrs_visible=False).add_dir("o", xattrs=xattrs)
    assert hidden.trusted_xattrs_visible is False
    assert hidden.xattrs("o") == {"user.note": b"n"}


def test_data_is_copied_and_readers_are_independent() -> None:
    data = bytearray(b"original")
    src = MemorySource().add_file("f", data)
    data[:] = b"changed!"
    with src.open("f") as one, src.open("f") as two:
        assert one.read(4) == b"orig"
        assert two.read() == b"original"
