"""DirSource never opens what is not a regular file, and walks sizes like the generic walker."""

from __future__ import annotations

import os

import pytest

from storagekit.errors import SourceError
from storagekit.source import Source
from storagekit.sources.dirsource import DirSource


def spy_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths ``os.open`` is given from now on, in order."""
    opened: list[str] = []
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        opened.append(os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return opened


def test_device_nodes_are_never_opened(tmp_path, monkeypatch):
    os.mknod(tmp_path / "cache-id", 0o600 | 0o020000, os.makedev(1, 3))  # char 1:3
    (tmp_path / "diff").write_text("sha256:x")
    source = DirSource(tmp_path)
    opened = spy_opens(monkeypatch)
    with pytest.raises(SourceError, match="not a regular file"):
        source.read_bytes("cache-id")
    with pytest.raises(SourceError, match="not a regular file"):
        source.open("cache-id")
    contents, present = source.read_small_files("", ("cache-id", "diff"), 100)
    assert contents == {"diff": b"sha256:x"}
    assert present == {"cache-id", "diff"}
    assert "cache-id" not in opened


def test_fast_size_walk_equals_the_generic_walk(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "f").write_bytes(b"x" * 5000)
    os.link(tmp_path / "a" / "f", tmp_path / "a" / "b" / "hard")
    os.symlink("../f", tmp_path / "a" / "b" / "link")
    (tmp_path / "a" / "b" / "c" / "g").write_bytes(b"")
    os.mkfifo(tmp_path / "a" / "fifo")
    for i in range(300):  # wide: more subdirectories than one would keep open
        (tmp_path / "w" / f"d{i}").mkdir(parents=True)
        (tmp_path / "w" / f"d{i}" / "x").write_bytes(b"12")
    source = DirSource(tmp_path)
    fast = sorted(source.file_sizes(""), key=repr)
    generic = sorted(Source.file_sizes(source, ""), key=repr)
    assert fast == generic
    assert len(fast) == 5 + 300
    assert sum(size for _, size, _ in fast) == 5000 * 2 + 4 + 600
    before = len(os.listdir("/proc/self/fd"))
    walker = source.file_sizes("w")
    next(walker)
    walker.close()  # abandoned half-way: no descriptor leaks
    assert len(os.listdir("/proc/self/fd")) == before


def test_files_below_scanned_directories_are_read_in_one_call(tmp_path, monkeypatch):
    (tmp_path / "containers" / "real").mkdir(parents=True)
    (tmp_path / "containers" / "real" / "config.v2.json").write_text("{}")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "config.v2.json").write_text("secret")
    os.symlink(outside, tmp_path / "containers" / "linked")
    source = DirSource(tmp_path)
    assert source.subdirs("containers") == (["real"], ["linked"])
    opened = spy_opens(monkeypatch)
    assert source.read_bytes("containers/real/config.v2.json") == b"{}"
    assert opened == ["containers/real/config.v2.json"]  # no descriptor of containers/real
    # A link is no scanned directory: it is walked component by component and refused.
    with pytest.raises(SourceError, match="not a directory"):
        source.read_bytes("containers/linked/config.v2.json")
    assert "containers/linked/config.v2.json" not in opened


def test_files_past_the_first_read_are_read_whole(tmp_path: os.PathLike[str]) -> None:
    """Beyond the first 64 KiB read a file is read again in one piece: all of it, or the limit."""
    data = bytes(range(256)) * 1000 + b"tail"  # 256,004 bytes
    top = os.path.join(tmp_path, "root")
    os.makedirs(os.path.join(top, "d"))
    with open(os.path.join(top, "d", "big"), "wb") as f:
        f.write(data)
    with DirSource(top) as src:
        assert src.read_bytes("d/big") == data
        assert src.read_bytes("d/big", limit=65_536) == data[:65_536]
        assert src.read_bytes("d/big", limit=100_000) == data[:100_000]
        assert src.read_bytes("d/big", limit=1 << 30) == data
        assert src.listdir("d") == ["big"]
        assert src.read_bytes("d/big") == data  # now through a listed directory
