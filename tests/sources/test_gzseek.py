"""Random reads from a gzip archive start from the nearest restart point and give its bytes."""

from __future__ import annotations

import gzip
import random
import zlib

import pytest

from storagekit.errors import SourceError
from storagekit.sources import gzseek
from storagekit.sources.gzseek import GzipSeeker


@pytest.fixture(autouse=True)
def _small_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gzseek, "SPACING", 100_000)


def _data(n: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    words = [f"w{i} ".encode() for i in range(300)]
    return b"".join(rng.choice(words) if i % 5 else rng.randbytes(7) for i in range(n))


def _seeker(raw: bytes) -> GzipSeeker:
    return GzipSeeker(lambda at, n: raw[at : at + n], len(raw), "test.gz")


@pytest.mark.parametrize(
    "make",
    [
        lambda d: gzip.compress(d),
        lambda d: gzip.compress(d[:300_000], mtime=0) + gzip.compress(d[300_000:]) + bytes(1024),
        lambda d: b"\x1f\x8b\x08\x1e" + bytes(6) + b"\x03\x00xyz" + b"name\0" + b"comment\0"
        + b"\0\0" + zlib.compress(d)[2:-4] + bytes(8),
    ],
    ids=["one member", "two members and padding", "extra, name, comment, header crc"],
)  # fmt: skip
def test_reads_at_any_offset_equal_the_decompressed_bytes(make) -> None:
    data = _data(200_000)  # about 800 kB
    seeker = _seeker(make(data))
    cursor = seeker.cursor()
    rng = random.Random(5)
    for _ in range(60):
        at = rng.randrange(len(data))
        n = rng.randrange(1, 50_000)
        assert cursor.read_at(at, n) == data[at : at + n]
    assert cursor.read_at(len(data) - 10, 100) == data[-10:]
    assert cursor.read_at(len(data), 10) == b""
    assert len(seeker._outs) > 4  # restart points were kept along the way


def test_a_read_far_ahead_starts_from_a_kept_point() -> None:
    data = _data(200_000)
    seeker = _seeker(gzip.compress(data))
    assert seeker.cursor().read_at(len(data) - 5, 5) == data[-5:]  # one pass, points kept
    fresh = seeker.cursor()
    reads: list[int] = []
    real = seeker._read_at
    seeker._read_at = lambda at, n: reads.append(at) or real(at, n)  # type: ignore[func-returns-value]
    assert fresh.read_at(len(data) - 5, 5) == data[-5:]
    assert min(reads) > seeker._points[-2].raw  # nothing read before the last point but one


def test_damaged_data_is_a_source_error() -> None:
    raw = bytearray(gzip.compress(_data(50_000)))
    raw[10] = 0xFF  # the first block's type is 3, which deflate reserves
    with pytest.raises(SourceError, match="test.gz: cannot decompress: .*invalid block type"):
        _seeker(bytes(raw)).cursor().read_at(0, 10)


def test_a_cut_stream_ends_where_the_data_ends() -> None:
    data = _data(100_000)
    raw = gzip.compress(data)
    got = _seeker(raw[: len(raw) // 2]).cursor().read_at(0, len(data))
    assert 0 < len(got) < len(data)
    assert got == data[: len(got)]
