"""An xz archive's members read from the block holding them, mapped as ``xz --list`` maps it."""

from __future__ import annotations

import io
import lzma
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from storagekit.errors import SourceError
from storagekit.sources import xzseek
from storagekit.sources.tarsource import TarSource
from storagekit.sources.xzseek import XzSeeker, xz_blocks

pytestmark = pytest.mark.skipif(shutil.which("xz") is None, reason="needs xz (xz-utils)")

_BIG = {f"big{i}": random.Random(i).randbytes(300_000) * 5 for i in range(4)}  # > 1 MB: not kept


def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(30):
            info = tarfile.TarInfo(f"small/{i}")
            info.size = 10
            tf.addfile(info, io.BytesIO(b"%010d" % i))
        for name, data in _BIG.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _xz(raw: bytes, *options: str) -> bytes:
    done = subprocess.run(["xz", "-c", "-1", *options], input=raw, capture_output=True, check=True)
    return done.stdout


def _listed(path: Path) -> list[tuple[int, int]]:
    """(compressed offset, uncompressed offset) of every block, as ``xz --robot -lvv`` says."""
    out = subprocess.run(["xz", "--robot", "-lvv", str(path)], capture_output=True, text=True)
    rows = [line.split("\t") for line in out.stdout.splitlines() if line.startswith("block")]
    return [(int(row[4]), int(row[5])) for row in rows]


def _read(path: Path) -> dict[str, bytes]:
    with TarSource(path) as src:
        return {name: src.open(name).read() for name in reversed(list(_BIG))}


def test_blocks_are_where_xz_list_puts_them_and_members_read_from_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _tar()
    one = _xz(raw[: len(raw) // 2], "--block-size=131072")
    two = _xz(raw[len(raw) // 2 :], "--block-size=200000")
    padded = tmp_path / "padded.xz"  # stream padding (xz reads it; Python's lzma stops there)
    padded.write_bytes(one + bytes(8) + two)
    whole = padded.read_bytes()
    blocks = xz_blocks(lambda at, n: whole[at : at + n], len(whole))
    assert blocks is not None
    assert [(b.raw, b.out) for b in blocks] == _listed(padded)
    path = tmp_path / "a.tar.xz"
    path.write_bytes(one + two)  # two streams, as cat makes them
    whole = path.read_bytes()
    blocks = xz_blocks(lambda at, n: whole[at : at + n], len(whole))
    assert blocks is not None
    assert [(b.raw, b.out) for b in blocks] == _listed(path)
    assert len({b.stream_end for b in blocks}) == 2
    restarts: list[int] = []
    real = xzseek.XzCursor._restart

    def counted(self: xzseek.XzCursor, block: xzseek.Block) -> None:
        restarts.append(block.out)
        real(self, block)

    monkeypatch.setattr(xzseek.XzCursor, "_restart", counted)
    with TarSource(path) as src:
        starts = {name: src._index.get(name)[6] for name in _BIG}  # type: ignore[index]
    assert _read(path) == {name: _BIG[name] for name in reversed(list(_BIG))}
    # Each large member (the last first) was read from the block holding its start, and one
    # that runs into the second stream went on there.
    held = [max(b.out for b in blocks if b.out <= starts[name]) for name in reversed(list(_BIG))]
    assert held[1] == len(raw) // 2  # big2 starts in the second stream's first block
    assert starts["big1"] < len(raw) // 2 < starts["big1"] + len(_BIG["big1"])
    assert restarts == [*held[:3], len(raw) // 2, held[3]]  # big1 went on into the second


def test_one_block_reads_from_the_start_and_a_damaged_map_is_not_used(tmp_path: Path) -> None:
    raw = _tar()
    single = _xz(raw)
    path = tmp_path / "one.tar.xz"
    path.write_bytes(single)
    assert XzSeeker.of(lambda at, n: single[at : at + n], len(single), "one") is None
    assert _read(path) == {name: _BIG[name] for name in reversed(list(_BIG))}
    multi = _xz(raw, "--block-size=65536")
    assert XzSeeker.of(lambda at, n: multi[at : at + n], len(multi), "m") is not None
    for spot, value in ((-1, ord("X")), (-6, 0xFF), (-13, 0x55)):  # magic, size, index CRC
        bad = bytearray(multi)
        bad[spot] = value
        assert xz_blocks(lambda at, n, b=bytes(bad): b[at : at + n], len(bad)) is None
    padded = multi + bytes(3)  # stream padding comes in fours
    assert xz_blocks(lambda at, n: padded[at : at + n], len(padded)) is None
    # Damaged data inside a block: the block's check names it where it is read.
    blocks = xz_blocks(lambda at, n: multi[at : at + n], len(multi))
    assert blocks is not None
    bad = bytearray(multi)
    bad[blocks[3].raw + 40] ^= 0xFF
    seeker = XzSeeker(lambda at, n: bytes(bad[at : at + n]), blocks, "damaged")
    cursor = seeker.cursor()
    assert cursor.read_at(blocks[1].out, 100) == lzma.decompress(multi)[blocks[1].out :][:100]
    with pytest.raises(SourceError, match="damaged: cannot decompress"):
        cursor.read_at(blocks[3].out, 200_000)


def test_streams_with_padding_are_indexed_whole_and_trailing_data_ignored(tmp_path: Path) -> None:
    """Python's LZMAFile stopped at stream padding: a padded archive looked truncated."""
    raw = _tar()
    one, two = _xz(raw[: len(raw) // 3]), _xz(raw[len(raw) // 3 :])
    expected = {name: _BIG[name] for name in reversed(list(_BIG))}
    for name, data in {
        "padded": one + bytes(12) + two + bytes(4),
        "garbage": one + two + b"not a stream",
        "odd": one + two + bytes(3),  # not padding: trailing data
    }.items():
        path = tmp_path / f"{name}.tar.xz"
        path.write_bytes(data)
        with TarSource(path) as src:
            assert src.cut is None
            assert src.problems == []
        assert _read(path) == expected
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(one + bytes(8) + two[: len(two) // 2])
    with TarSource(cut) as src:
        assert src.cut is not None
        assert src.cut.tar_bytes < len(raw)
