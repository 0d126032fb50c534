"""Fuzz targets: the tar source, tar-split, BoltDB and the JSON readers, each for a bounded time.

Each target feeds generated and mutated inputs to one reader and allows only its documented
errors (``SourceError``, ``FormatError``) or findings: any other exception is a bug. The runs
are short (a few hundred inputs) so that they belong to the normal test run; raise
``FUZZ_EXAMPLES`` for a long run (``FUZZ_EXAMPLES=100000 pytest tests/hostile/test_fuzz.py``).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storagekit.engines.docker.artefacts import parse_json
from storagekit.engines.docker.containers import read_container
from storagekit.errors import FormatError, SourceError
from storagekit.formats import tarsplit
from storagekit.formats.bolt import BoltBucket, BoltDB
from storagekit.model import Findings
from storagekit.sources.memsource import MemorySource
from storagekit.sources.tarsource import TarSource

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DATA = Path(__file__).parent.parent / "formats" / "data"


def _seed_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("a/b", b"hello"), ("a/" + "long" * 40, b"x" * 700)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.pax_headers = {"SCHILY.xattr.trusted.overlay.opaque": "y"}
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("a/l")
        link.type, link.linkname = tarfile.SYMTYPE, "../b"
        tf.addfile(link)
        hard = tarfile.TarInfo("h")
        hard.type, hard.linkname = tarfile.LNKTYPE, "a/b"
        tf.addfile(hard)
        dev = tarfile.TarInfo("a/wh")
        dev.type = tarfile.CHRTYPE
        tf.addfile(dev)
    return buf.getvalue()


SEED_TAR = _seed_tar()


def _mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with a few bytes overwritten, a slice cut out, or a tail cut off."""
    edits = st.lists(
        st.tuples(st.integers(0, len(seed) - 1), st.binary(min_size=1, max_size=16)),
        max_size=6,
    )

    def apply(args: tuple[list[tuple[int, bytes]], int, int]) -> bytes:
        changes, cut, keep = args
        data = bytearray(seed)
        for at, piece in changes:
            data[at : at + len(piece)] = piece
        return bytes(data[: max(keep, 0)] if keep < len(data) else data)[: cut or None]

    return st.tuples(edits, st.integers(0, len(seed)), st.integers(0, len(seed) + 1)).map(apply)


def _walk(source: TarSource) -> None:
    for path, entries in source.walk(""):
        for e in entries:
            if e.is_file:
                source.read_bytes(e.path, 1 << 20)
            source.xattrs(e.path)
        assert path is not None


@FUZZ
@given(data=_mutated(SEED_TAR), gz=st.booleans())
def test_fuzz_tar_source(tmp_path_factory, data, gz):
    path = tmp_path_factory.mktemp("fuzz") / "t.tar"
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    try:
        source = TarSource(path)
    except SourceError:
        return
    try:
        _walk(source)
    except SourceError:
        pass
    finally:
        source.close()


SEED_LINES = [
    b'{"type":2,"payload":"AAAA","position":0}',
    b'{"type":1,"name":"a/b","size":5,"payload":"AAAAAAAAAAA=","position":1}',
    b'{"type":1,"name_raw":"YS/C","size":0,"position":2}',
]
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(SEED_LINES),
            st.binary(max_size=80),
            _json.map(lambda v: json.dumps(v).encode()),
            st.dictionaries(
                st.sampled_from(["type", "name", "name_raw", "size", "payload", "position"]),
                _json,
                max_size=5,
            ).map(lambda v: json.dumps(v).encode()),
        ),
        max_size=6,
    )
)
def test_fuzz_tarsplit(lines):
    stream = io.BytesIO(gzip.compress(b"\n".join(lines) + b"\n"))
    try:
        for entry in tarsplit.entries(stream, "t"):
            assert isinstance(entry, tarsplit.Segment | tarsplit.FileEntry)
    except FormatError:
        pass


def _dump(bucket: BoltBucket, depth: int = 0) -> None:
    for _, value in bucket.items():
        if isinstance(value, BoltBucket) and depth < 70:
            _dump(value, depth + 1)


SEED_DB = (DATA / "small-20.10.db").read_bytes()


@FUZZ
@given(data=_mutated(SEED_DB[: 8 * 4096]))
def test_fuzz_boltdb(data):
    try:
        _dump(BoltDB.from_bytes(data, "fuzz.db").root)
    except FormatError:
        pass


CID = "a" * 64
CONFIG_KEYS = [
    "ID",
    "Name",
    "Created",
    "State",
    "Config",
    "Image",
    "Driver",
    "MountPoints",
    "HostnamePath",
    "LogPath",
    "Path",
    "Args",
    "RestartCount",
]


@FUZZ
@given(
    config=st.one_of(
        _json,
        st.dictionaries(st.sampled_from(CONFIG_KEYS), _json, max_size=8),
    ),
    raw=st.binary(max_size=64),
)
def test_fuzz_json_readers(config, raw):
    findings = Findings()
    assert parse_json(raw, "x.json", findings, what="x") is None or True
    body = json.dumps(config).encode()
    source = MemorySource.from_dict({f"containers/{CID}/config.v2.json": body})
    container = read_container(source, CID, findings)
    if container is not None:
        assert container.id == CID


@pytest.mark.parametrize("depth", [100_000])
def test_json_nesting_is_a_finding(depth):
    findings = Findings()
    assert parse_json(b"[" * depth, "x.json", findings, what="x") is None
    assert [f.code for f in findings] == ["bad-json"]
