"""Tests for the BoltDB reader against files written by a real dockerd (see data/README.md)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import struct
from pathlib import Path

import pytest

from storagekit.errors import FormatError
from storagekit.formats.bolt import BoltBucket, BoltDB

DATA = Path(__file__).parent / "data"
P = 4096
MAGIC = 0xED0CDAED
ANON_LAST = b"28c9d1e2e0e834084d24d82f88411c9ebcb3b4c9f18ce2976399b897d0e01a3f"


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) % 2**64
    return h


@pytest.fixture(scope="module")
def volumes_db() -> bytes:
    return gzip.decompress((DATA / "volumes-20.10.db.gz").read_bytes())


@pytest.fixture(scope="module")
def small_db() -> bytes:
    return (DATA / "small-20.10.db").read_bytes()


def expected(name: str) -> list[dict[str, object]]:
    return json.loads((DATA / name).read_text())["volumes"]


def dump(bucket: BoltBucket) -> dict[bytes, object]:
    """Read a whole bucket tree, so that every page it reaches is parsed."""
    return {k: dump(v) if isinstance(v, BoltBucket) else v for k, v in bucket.items()}


def header(data: bytes | bytearray, pgid: int) -> tuple[int, int, int, int]:
    return struct.unpack_from("<QHHI", data, pgid * P)


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def set_meta(data: bytes, index: int, *, txid: int, resum: bool = True, order: str = "<") -> bytes:
    buf = bytearray(data)
    meta = index * P + 16
    struct.pack_into(order + "Q", buf, meta + 48, txid)
    if resum:
        struct.pack_into(order + "Q", buf, meta + 56, fnv1a64(bytes(buf[meta : meta + 56])))
    return bytes(buf)


def expect_error(data: bytes, message: str, offset: int | None) -> FormatError:
    with pytest.raises(FormatError) as info:
        dump(BoltDB.from_bytes(data, "volumes/metadata.db").root)
    assert info.value.path == "volumes/metadata.db"
    assert message in info.value.message, info.value.message
    assert info.value.offset == offset
    return info.value


# --- ground truth: the engine's own answers ----------------------------------------------------


def test_real_volumes_db_matches_engine(volumes_db: bytes) -> None:
    db = BoltDB.from_bytes(volumes_db)
    assert (db.page_size, db.txid, db.byte_order) == (4096, 306, "little")
    assert db.root.keys() == [b"volumes"]
    assert db.root.sequence == 0
    volumes = db.bucket(b"volumes")
    assert volumes is not None
    assert volumes.sequence == 0
    want = expected("volumes-20.10.expected.json")
    assert len(want) == 301
    assert volumes.keys() == [v["Name"].encode() for v in want]  # type: ignore[union-attr]
    got = [json.loads(value) for _, value in volumes.items()]  # type: ignore[arg-type]
    assert got == want
    assert volumes.get(b"tmpvol") == (
        b'{"Name":"tmpvol","Driver":"local","Labels":null,'
        b'"Options":{"device":"tmpfs","o":"size=1m","type":"tmpfs"}}'
    )
    big = volumes.get(b"bigvol")
    assert big is not None
    assert len(big) == 9069
    assert json.loads(big)["Labels"] == {"big": "x" * 9000}


def test_real_volumes_db_exercises_branch_and_overflow_pages(volumes_db: bytes) -> None:
    # The fixture must keep covering what it was made for: the volumes bucket (page 16) is a
    # branch page, and bigvol lives on leaf page 18 with two overflow pages.
    root_leaf = header(volumes_db, 21)
    assert root_leaf == (21, 0x02, 1, 0)
    assert header(volumes_db, 16) == (16, 0x01, 13, 0)
    assert header(volumes_db, 18) == (18, 0x02, 4, 2)
    assert BoltDB.from_bytes(volumes_db).bucket(b"volumes", b"bigvol") is None


def test_small_db_inline_bucket(small_db: bytes) -> None:
    db = BoltDB.from_bytes(small_db, "volumes/metadata.db")
    assert (db.page_size, db.txid) == (4096, 5)
    # volumes is inline: bucket header root 0, the embedded leaf page follows at value offset 16
    assert small_db[2 * P + 0x30 : 2 * P + 0x40] == bytes(15) + b"\x02"
    volumes = db.bucket(b"volumes")
    assert volumes is not None
    assert [(k, json.loads(v)) for k, v in volumes.items()] == [  # type: ignore[arg-type]
        (v["Name"].encode(), v)  # type: ignore[union-attr]
        for v in expected("small-20.10.expected.json")
    ]
    assert volumes.get(b"small-b") == (
        b'{"Name":"small-b","Driver":"local","Labels":{"env":"test","owner":"alice"},'
        b'"Options":null}'
    )
    assert volumes.get(b"missing") is None
    assert volumes.bucket(b"small-a") is None
    assert db.root.get(b"volumes") is None  # a bucket has no plain value
    assert db.bucket(b"volumes", b"small-a") is None
    assert db.bucket(b"nope", b"volumes") is None
    assert db.bucket() is db.root


# --- meta selection ------------------------------------------------------------------------


def test_meta_0_damaged_uses_meta_1(volumes_db: bytes) -> None:
    db = BoltDB.from_bytes(patched(volumes_db, 16, "<I", 0))  # also exercises the page probe
    assert (db.page_size, db.txid) == (4096, 305)
    newest = BoltDB.from_bytes(volumes_db).bucket(b"volumes")
    assert newest is not None
    older = db.bucket(b"volumes")
    assert older is not None
    assert set(newest.keys()) - set(older.keys()) == {ANON_LAST}  # the last volume created
    assert len(older.keys()) == 300


def test_meta_1_damaged_uses_meta_0(small_db: bytes) -> None:
    db = BoltDB.from_bytes(patched(small_db, P + 16, "<I", 0))
    assert db.txid == 4
    assert db.bucket(b"volumes").keys() == [b"small-a"]  # type: ignore[union-attr]


def test_both_metas_damaged(small_db: bytes) -> None:
    data = patched(patched(small_db, 16, "<I", 0), P + 16, "<I", 0x12345678)
    err = expect_error(data, "no valid meta page (meta 0: bad magic 00000000;", 0)
    assert "at 4096: bad magic 78563412" in err.message


def test_meta_version_and_checksum_are_checked(small_db: bytes) -> None:
    wrong_version = patched(small_db, P + 20, "<I", 3)
    assert BoltDB.from_bytes(wrong_version).txid == 4
    bad_sum = set_meta(small_db, 1, txid=9, resum=False)
    assert BoltDB.from_bytes(bad_sum).txid == 4
    both = set_meta(patched(small_db, 20, "<I", 1), 1, txid=9, resum=False)
    expect_error(both, "meta 0: version 1, expected 2; meta 1 at 4096: checksum mismatch", 0)


def test_meta_with_highest_txid_wins(small_db: bytes) -> None:
    newer0 = set_meta(small_db, 0, txid=7)  # meta 0 (root page 3: only small-a) is now newer
    db = BoltDB.from_bytes(newer0)
    assert db.txid == 7
    assert db.bucket(b"volumes").keys() == [b"small-a"]  # type: ignore[union-attr]
    tie = set_meta(small_db, 0, txid=5)  # bbolt keeps meta 0 on a tie
    assert BoltDB.from_bytes(tie).bucket(b"volumes").keys() == [b"small-a"]  # type: ignore[union-attr]
    assert BoltDB.from_bytes(small_db).bucket(b"volumes").keys() == [b"small-a", b"small-b"]  # type: ignore[union-attr]


# --- damage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "message", "offset"),
    [
        (0, "meta 0: truncated at 0 bytes", 0),
        (70, "meta 0: truncated at 70 bytes", 0),
        (P + 50, "page 21 lies beyond the end of the file (4146 bytes)", 32),  # meta 0 still valid
        (21 * P, "page 21 lies beyond the end of the file (86016 bytes)", 32),
        (21 * P + 15, "page 21 lies beyond the end of the file (86031 bytes)", 32),
        (21 * P + 16, "page 21 with 0 overflow pages runs past the end of the file", 21 * P + 12),
    ],
)
def test_truncated(volumes_db: bytes, size: int, message: str, offset: int) -> None:
    expect_error(volumes_db[:size], message, offset)


def test_truncation_never_crashes(volumes_db: bytes) -> None:
    full = dump(BoltDB.from_bytes(volumes_db).root)
    for size in range(0, len(volumes_db), 1531):
        try:
            got = dump(BoltDB.from_bytes(volumes_db[:size]).root)
        except FormatError:
            continue
        assert size >= 22 * P  # pages past 21 are free or unused: the tree is still whole
        assert got == full


def test_branch_element_beyond_file(volumes_db: bytes) -> None:
    elem = 16 * P + 16 + 3 * 16  # fourth branch element of the volumes bucket's root page
    expect_error(
        patched(volumes_db, elem + 8, "<Q", 10_000), "page 10000 lies beyond the end", elem
    )
    expect_error(
        patched(volumes_db, elem + 8, "<Q", 30), "page 30 is beyond the high-water mark 27", elem
    )


def test_page_referencing_itself(volumes_db: bytes) -> None:
    elem = 16 * P + 16 + 3 * 16
    expect_error(
        patched(volumes_db, elem + 8, "<Q", 16), "bucket 'volumes': page 16 is reached twice", elem
    )


@pytest.mark.parametrize(
    ("target", "message", "offset"),
    [
        (17, "page 17 has flags 0x10, expected branch (0x1) or leaf (0x2)", 17 * P + 8),
        (1, "page 1 has flags 0x4, expected branch (0x1) or leaf (0x2)", P + 8),
        (19, "page 19 identifies itself as page 8680820740569200760", 19 * P),
    ],
)
def test_branch_element_to_wrong_page(
    volumes_db: bytes, target: int, message: str, offset: int
) -> None:
    expect_error(patched(volumes_db, 16 * P + 16 + 8, "<Q", target), message, offset)


def test_leaf_element_beyond_page(volumes_db: bytes) -> None:
    elem = 2 * P + 16 + 5 * 16
    data = patched(volumes_db, elem + 4, "<I", P)
    expect_error(
        data, "leaf element 5 data [12384, 12455) runs past its page (ends at 12288)", elem
    )


def test_element_headers_beyond_page(volumes_db: bytes) -> None:
    data = patched(volumes_db, 2 * P + 10, "<H", 300)  # count: 300 headers cannot fit in a page
    expect_error(
        data,
        "bucket 'volumes': 300 leaf element headers do not fit in the page at 8192",
        2 * P + 10,
    )


def test_inline_bucket_damage(small_db: bytes) -> None:
    inline = 2 * P + 0x37  # volumes' bucket header is at 0x2027, its embedded page at +16
    expect_error(
        patched(small_db, inline + 8, "<H", 0x01),
        "inline bucket b'volumes' page has flags 0x1, expected leaf (0x2)",
        inline + 8,
    )
    expect_error(
        patched(small_db, inline + 10, "<H", 9),
        "bucket 'volumes': leaf element 2 data [2069974483, 4479303258) runs past its page "
        "(ends at 8463)",
        inline + 16 + 2 * 16,
    )
    expect_error(
        patched(small_db, inline + 10, "<H", 20),
        f"bucket 'volumes': 20 leaf element headers do not fit in the page at {inline} "
        "(ends at 8463)",
        inline + 10,
    )


def test_bucket_rooted_in_its_parent(small_db: bytes) -> None:
    data = patched(small_db, 2 * P + 0x27, "<Q", 2)  # volumes' root = page 2, the root bucket's
    expect_error(
        data, "root bucket: bucket b'volumes' has root page 2 of an enclosing", 2 * P + 0x27
    )


def test_random_corruption_is_format_error_or_data(volumes_db: bytes) -> None:
    rng = random.Random(1234)
    structural = [off for pg in (16, 21, 2, 18) for off in range(pg * P, pg * P + 16 * 14)]
    errors = 0
    for _ in range(60):
        buf = bytearray(volumes_db)
        for off in rng.sample(structural, 3):
            buf[off] = rng.randrange(256)
        try:
            dump(BoltDB.from_bytes(bytes(buf)).root)
        except FormatError:
            errors += 1
    assert errors > 30


# --- hand-built files: nesting, depth, byte order ---------------------------------------------


def leaf(
    pgid: int, items: list[tuple[bytes, bytes, int]], order: str = "<", overflow: int = 0
) -> bytes:
    """A leaf page: header, 16-byte element headers, then keys and values."""
    head, data = struct.pack(order + "QHHI", pgid, 0x02, len(items), overflow), b""
    for i, (key, value, flags) in enumerate(items):
        pos = 16 * (len(items) - i) + len(data)  # relative to the element header itself
        head += struct.pack(order + "IIII", flags, pos, len(key), len(value))
        data += key + value
    return head + data


def branch(pgid: int, children: list[tuple[bytes, int]]) -> bytes:
    head, data = struct.pack("<QHHI", pgid, 0x01, len(children), 0), b""
    for i, (key, child) in enumerate(children):
        head += struct.pack("<IIQ", 16 * (len(children) - i) + len(data), len(key), child)
        data += key
    return head + data


def bucket(
    root: int, sequence: int = 0, inline: list[tuple[bytes, bytes, int]] | None = None
) -> bytes:
    return struct.pack("<QQ", root, sequence) + (leaf(0, inline) if inline is not None else b"")


def build(pages: dict[int, bytes], *, page_size: int = 512, order: str = "<") -> bytes:
    count = max(pgid + -(-len(body) // page_size) for pgid, body in pages.items())
    buf = bytearray(page_size * count)
    for i in (0, 1):
        struct.pack_into(order + "QHHI", buf, i * page_size, i, 0x04, 0, 0)
        meta = struct.pack(
            order + "IIIIQQQQQ", MAGIC, 2, page_size, 0, 2, 5, 0xFFFF_FFFF_FFFF_FFFF, count, 10 + i
        )
        buf[i * page_size + 16 : i * page_size + 80] = meta + struct.pack(
            order + "Q", fnv1a64(meta)
        )
    for pgid, body in pages.items():
        buf[pgid * page_size : pgid * page_size + len(body)] = body
    return bytes(buf)


def test_nested_buckets_sequences_and_empty_pages() -> None:
    data = build(
        {
            2: leaf(2, [(b"a", bucket(3, sequence=7), 1), (b"b", bucket(0, 1, inline=[]), 1)]),
            3: branch(3, [(b"", 4), (b"k", 5)]),
            4: leaf(4, []),  # an empty leaf page
            5: leaf(
                5,
                [
                    (b"k1", b"v1", 0),
                    (b"sub", bucket(0, 2, inline=[(b"x", b"1", 0)]), 1),
                    (b"\xff", b"", 0),
                ],
            ),
        }
    )
    db = BoltDB.from_bytes(data)
    assert (db.page_size, db.txid, db.root.sequence) == (512, 11, 5)
    assert dump(db.root) == {b"a": {b"k1": b"v1", b"sub": {b"x": b"1"}, b"\xff": b""}, b"b": {}}
    a = db.bucket(b"a")
    assert a is not None
    assert a.sequence == 7
    assert db.bucket(b"a", b"sub").sequence == 2  # type: ignore[union-attr]
    assert a.get(b"\xff") == b""
    assert a.keys() == [b"k1", b"sub", b"\xff"]


def test_overflow_page() -> None:
    value = bytes(range(256)) * 3  # 768 bytes: the leaf needs a second 512-byte page
    good = build({2: leaf(2, [(b"k", value, 0)], overflow=1)})
    assert BoltDB.from_bytes(good).root.get(b"k") == value
    expect_error(
        good[: 3 * 512 + 100],
        "page 2 with 1 overflow pages runs past the end of the file (1636 bytes)",
        2 * 512 + 12,
    )
    no_overflow = build({2: leaf(2, [(b"k", value, 0)]), 3: b""})
    expect_error(
        no_overflow,
        "root bucket: leaf element 0 data [1056, 1825) runs past its page (ends at 1536)",
        1040,
    )


def test_keys_out_of_order() -> None:
    data = build({2: leaf(2, [(b"b", b"", 0), (b"a", b"", 0)])})
    expect_error(data, "root bucket: key b'a' is out of order", 2 * 512 + 16 + 32 + 1)


@pytest.mark.parametrize(("levels", "ok"), [(64, True), (65, False)])
def test_tree_depth_limit(levels: int, ok: bool) -> None:
    pages = {2 + i: branch(2 + i, [(b"", 3 + i)]) for i in range(levels)}
    pages[2 + levels] = leaf(2 + levels, [(b"k", b"v", 0)])
    data = build(pages)
    if ok:
        assert dump(BoltDB.from_bytes(data).root) == {b"k": b"v"}
    else:
        expect_error(data, "root bucket: B+tree deeper than 64 at page 67", (2 + 64) * 512 + 16)


@pytest.mark.parametrize(("levels", "ok"), [(64, True), (65, False)])
def test_bucket_nesting_limit(levels: int, ok: bool) -> None:
    pages = {2 + i: leaf(2 + i, [(b"n", bucket(3 + i), 1)]) for i in range(levels)}
    pages[2 + levels] = leaf(2 + levels, [])
    db = BoltDB.from_bytes(build(pages))
    if ok:
        assert db.bucket(*[b"n"] * levels).keys() == []  # type: ignore[union-attr]
    else:
        with pytest.raises(FormatError, match="buckets nest deeper than 64"):
            db.bucket(*[b"n"] * levels)


def test_bucket_cycle() -> None:
    data = build({2: leaf(2, [(b"a", bucket(3), 1)]), 3: leaf(3, [(b"a", bucket(3), 1)])})
    expect_error(
        data, "bucket 'a': bucket b'a' has root page 3 of an enclosing bucket", 3 * 512 + 33
    )


def to_big_endian(data: bytes) -> bytes:
    """Byte-swap every structure of a little-endian file that a reader reaches."""
    buf = bytearray(data)

    def swap(off: int, fmt: str) -> tuple[int, ...]:
        values = struct.unpack_from("<" + fmt, buf, off)
        struct.pack_into(">" + fmt, buf, off, *values)
        return values

    def swap_leaf(start: int) -> None:
        count = swap(start, "QHHI")[2]
        for i in range(count):
            at = start + 16 + 16 * i
            flags, pos, ksize, _ = swap(at, "IIII")
            if flags & 1:
                root, _ = swap(at + pos + ksize, "QQ")
                swap_leaf(at + pos + ksize + 16 if root == 0 else root * P)

    for m in (0, 1):
        swap(m * P, "QHHI")
        root = swap(m * P + 16, "IIIIQQQQQ")[4]
        struct.pack_into(">Q", buf, m * P + 72, fnv1a64(bytes(buf[m * P + 16 : m * P + 72])))
        swap_leaf(root * P)
    return bytes(buf)


def test_big_endian(small_db: bytes) -> None:
    big = to_big_endian(small_db)
    db = BoltDB.from_bytes(big)
    assert (db.byte_order, db.page_size, db.txid) == ("big", 4096, 5)
    assert dump(db.root) == dump(BoltDB.from_bytes(small_db).root)
    older = BoltDB.from_bytes(patched(big, P + 16, ">I", 0))  # meta 1 gone: meta 0, txid 4
    assert (older.txid, older.bucket(b"volumes").keys()) == (4, [b"small-a"])  # type: ignore[union-attr]


def test_big_endian_built() -> None:
    data = build({2: leaf(2, [(b"k", b"v", 0)], order=">")}, order=">")
    assert dump(BoltDB.from_bytes(data).root) == {b"k": b"v"}


def test_fixture_provenance(volumes_db: bytes, small_db: bytes) -> None:
    readme = (DATA / "README.md").read_text()
    assert f"{hashlib.sha256(volumes_db).hexdigest()}  volumes-20.10.db" in readme
    assert f"{hashlib.sha256(small_db).hexdigest()}  small-20.10.db" in readme


def _dump(bucket: BoltBucket) -> object:
    return {k: _dump(v) if isinstance(v, BoltBucket) else v for k, v in bucket.items()}


def test_read_page_by_page_equals_read_whole(volumes_db: bytes) -> None:
    import io

    paged = BoltDB.from_file(io.BytesIO(volumes_db), len(volumes_db), "volumes.db")
    assert _dump(paged.root) == _dump(BoltDB.from_bytes(volumes_db).root)


def test_a_process_that_did_not_open_the_file_reads_its_own(volumes_db: bytes) -> None:
    """After a fork the file offset would be shared: the child reopens before its first read."""
    import io

    from storagekit.formats.pagedfile import PagedFile

    opened: list[io.BytesIO] = []

    def reopen() -> io.BytesIO:
        opened.append(io.BytesIO(volumes_db))
        return opened[-1]

    first = io.BytesIO(volumes_db)
    paged = PagedFile(first, len(volumes_db), "volumes.db", reopen)
    assert paged[0:16] == volumes_db[0:16]
    assert opened == []
    paged._pid = -1  # as in a forked child: the file was opened by another process
    assert paged[1 << 16 : (1 << 16) + 16] == volumes_db[1 << 16 : (1 << 16) + 16]
    assert len(opened) == 1
    assert paged._file is opened[0]
    paged._blocks.clear()
    assert paged[16:32] == volumes_db[16:32]  # read again, from the file of its own
    assert len(opened) == 1
    assert len(volumes_db) > (1 << 16) + 16


def _read_once_tree(bucket: BoltBucket) -> dict[bytes, object]:
    """Every bucket read with ``read_once``: the tree :func:`dump` gives."""
    return {
        k: _read_once_tree(v) if isinstance(v, BoltBucket) else v
        for k, v in bucket.read_once().items()
    }


def test_read_once_gives_the_entries_and_keeps_none(volumes_db: bytes, small_db: bytes) -> None:
    for data in (volumes_db, small_db):
        fresh = BoltDB.from_bytes(data).root
        assert _read_once_tree(fresh) == dump(BoltDB.from_bytes(data).root)
        assert fresh._entries is None  # nothing kept: read again from the file on each call
        assert fresh.read_once() is not fresh.read_once()
        kept = BoltDB.from_bytes(data).root
        entries = dict(kept.items())
        assert kept.read_once() == entries
        assert kept.read_once() is kept._entries  # kept already: that dict


def test_read_once_raises_as_items_does(volumes_db: bytes) -> None:
    rng = random.Random(99)
    structural = [off for pg in (16, 21, 2, 18) for off in range(pg * P, pg * P + 16 * 14)]
    for _ in range(40):
        buf = bytearray(volumes_db)
        for off in rng.sample(structural, 3):
            buf[off] = rng.randrange(256)
        outcomes = []
        for read in (dump, _read_once_tree):
            try:
                outcomes.append(read(BoltDB.from_bytes(bytes(buf)).root))
            except FormatError as exc:
                outcomes.append((exc.message, exc.offset))
        assert outcomes[0] == outcomes[1]
