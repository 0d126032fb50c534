"""Docker's naive change detection between two full trees (vfs docker diff / SizeRw)."""

from __future__ import annotations

from storagekit.source import FileType
from storagekit.sources.memsource import MemorySource
from storagekit.union.changes import Change, Tree, changes, changes_size, directory_size

S = 1_000_000_000


def trees() -> tuple[Tree, Tree]:
    src = MemorySource()
    for top in ("old", "new"):
        src.add_dir(f"{top}/etc", mtime_ns=5 * S)
        src.add_file(f"{top}/etc/same", b"x", mtime_ns=7 * S)
        src.add_file(f"{top}/etc/touched", b"x", mtime_ns=7 * S + 123)
        src.add_dir(f"{top}/keep", mtime_ns=5 * S)
        src.add_file(f"{top}/keep/f", b"x", mtime_ns=7 * S)
    src.add_file("old/etc/gone", b"x")
    src.add_dir("old/deldir")
    src.add_file("old/deldir/a", b"x")
    # same second, one side without nanoseconds: equal for Docker
    src.add_file("new/etc/touched2", b"x", mtime_ns=7 * S)
    src.add_file("old/etc/touched2", b"x", mtime_ns=7 * S + 999)
    src.add_dir("new/etc", mtime_ns=9 * S)  # a dir's mtime alone is no change
    src.add_file("new/etc/touched", b"x", mtime_ns=8 * S)
    src.add_file("new/etc/mode", b"x", mode=0o755)
    src.add_file("old/etc/mode", b"x", mode=0o644)
    src.add_dir("new/newdir")
    src.add_file("new/newdir/a", b"12345")
    src.add_hardlink("new/newdir/b", "new/newdir/a")
    src.add_device("new/etc/dev", FileType.CHARDEV, 1, 3)
    src.add_device("old/etc/dev", FileType.CHARDEV, 1, 5)
    src.add_file("new/etc/cap", b"x", xattrs={"security.capability": b"\x01"})
    src.add_file("old/etc/cap", b"x")
    return Tree(src, "new"), Tree(src, "old")


def test_changes_follow_dockers_rules_and_order():
    new, old = trees()
    assert changes(new, old) == [
        Change("C", "/etc"),
        Change("C", "/etc/cap"),
        Change("C", "/etc/dev"),
        Change("C", "/etc/mode"),
        Change("C", "/etc/touched"),
        Change("D", "/etc/gone"),
        Change("A", "/newdir"),
        Change("A", "/newdir/a"),
        Change("A", "/newdir/b"),
        Change("D", "/deldir"),
    ]


def test_changes_size_counts_hard_links_once():
    new, old = trees()
    found = changes(new, old)
    # cap, dev (0), mode, touched: 1 byte each except dev; newdir/a and b share an inode.
    assert changes_size(new, found) == 1 + 0 + 1 + 1 + 5


def test_directory_size():
    new, _ = trees()
    assert directory_size(new.source, "new/newdir") == 5
    # six one-byte files in etc and keep, the device counts 0, a and b are one inode
    assert directory_size(new.source, "new") == 5 + 6
