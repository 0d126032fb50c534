"""Damaged and hostile containerd roots through the engine: a finding each, never a traceback."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from storagekit.engine import Engine
from storagekit.engines.containerd.engine import ContainerdEngine
from storagekit.errors import SourceError
from storagekit.formats.containerd import put_uvarint
from tests.engines.containerd.builders import Root, bolt, digest

OVL = "io.containerd.snapshotter.v1.overlayfs"


def _engine(r: Root) -> ContainerdEngine:
    return ContainerdEngine(r.source(), "<memory>", "")


def _everything(engine: Engine) -> dict[str, object]:
    """Every command's records; a view of every container and image that has one."""
    out: dict[str, object] = {
        "containers": engine.container_records(sizes=True),
        "images": engine.image_records(),
        "layers": engine.layer_records(),
        "orphans": engine.orphan_records(),
        "df": engine.df_record(verbose=True),
        "audit": engine.audit_record(),
        "verify": engine.verify_records(None),
    }
    for obj in [*engine.containers.values(), *engine.images]:
        out[f"chain {obj.id}"] = engine.chain_record(obj)
        try:
            view = engine.view(obj)
            out[f"ls {obj.id}"] = list(view.walk(""))
        except SourceError as exc:
            out[f"ls {obj.id}"] = str(exc)
    return out


def _codes(engine: Engine) -> set[str]:
    return {f.code for f in engine.findings}


def _cycle(r: Root) -> None:
    # c1's parent is the layer, the layer's parent is c1.
    r.ns[b"snapshots"][b"overlayfs"][r.diff.encode()][b"parent"] = b"c1"  # type: ignore[index]


def _deep(r: Root) -> None:
    snaps = r.ns[b"snapshots"][b"overlayfs"]  # type: ignore[index]
    parent = r.diff
    for n in range(1000):
        key = f"deep{n}"
        snaps[key.encode()] = {b"name": f"default/{10 + n}/{key}".encode(),  # type: ignore[index]
                               b"parent": parent.encode()}
        r.snaps[f"default/{10 + n}/{key}".encode()] = {
            b"id": put_uvarint(10 + n), b"kind": b"\x03",
            b"parent": f"default/{9 + n if n else 1}/{parent}".encode()}
        r.files[f"{OVL}/snapshots/{10 + n}/fs"] = None
        parent = key
    r.ns[b"containers"][b"c1"][b"snapshotKey"] = b"deep-top"  # type: ignore[index]
    snaps[b"deep-top"] = {b"name": b"default/2000/deep-top",  # type: ignore[index]
                          b"parent": parent.encode()}
    r.snaps[b"default/2000/deep-top"] = {b"id": put_uvarint(2000), b"kind": b"\x02",
                                         b"parent": f"default/1009/{parent}".encode()}
    r.files[f"{OVL}/snapshots/2000/fs"] = None


def _escape(r: Root) -> None:
    r.ns[b"containers"][b"c1"][b"snapshotKey"] = b"../../../etc"  # type: ignore[index]


def _missing_dir(r: Root) -> None:
    del r.files[f"{OVL}/snapshots/2/fs"]


def _manifest_gone(r: Root) -> None:
    del r.blobs[digest(r.manifest)]


def _truncated_blob(r: Root) -> None:
    r.blobs[digest(r.layer)] = r.layer[:4]


def _unknown_snapshotter(r: Root) -> None:
    r.ns[b"containers"][b"c1"][b"snapshotter"] = b"stargz"  # type: ignore[index]


def _torn(r: Root) -> None:
    data = bytearray(bolt(r.meta))
    data[4096 + 16] ^= 0xFF  # the newest meta page's magic
    r.meta_db = bytes(data)


CASES: dict[str, tuple[Callable[[Root], None], str]] = {
    "parent cycle": (_cycle, "broken-chain"),
    "1000-deep chain": (_deep, ""),
    "key leaving the root": (_escape, "broken-chain"),
    "missing snapshot directory": (_missing_dir, "missing-snapshot-dir"),
    "manifest gone": (_manifest_gone, "missing-blob"),
    "truncated blob": (_truncated_blob, "blob-size-mismatch"),
    "unknown snapshotter": (_unknown_snapshotter, "broken-chain"),
    "torn meta.db": (_torn, "torn-database"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_root_is_a_finding_and_the_rest_is_read(case: str) -> None:
    mutate, code = CASES[case]
    r = Root()
    mutate(r)
    engine = _engine(r)
    out = _everything(engine)
    assert out["images"] is not None
    if code:
        assert code in _codes(engine), sorted(_codes(engine))
    if case == "1000-deep chain":
        c = next(iter(engine.containers.values()))
        assert len(engine.container_records(sizes=False)[0]["layer_dirs"]) == 1002
        assert engine.view(c).exists("etc/hello")


def test_save_refuses_an_image_without_manifest() -> None:
    r = Root()
    _manifest_gone(r)
    engine = _engine(r)
    assert engine.images == []  # no config: the image cannot be named by ID
    assert engine.image_records()[0]["id"] is None
    assert io.BytesIO().getvalue() == b""


def _cri(r: Root, status: bytes) -> None:
    r.ns[b"containers"][b"c1"][b"labels"] = {  # type: ignore[index]
        b"io.cri-containerd.kind": b"container"}
    r.files["io.containerd.grpc.v1.cri/containers/c1/status"] = status


def test_cri_status_gives_state_exit_code_and_times() -> None:
    r = Root()
    _cri(r, b'{"Version":"v1","Status":{"Pid":0,"CreatedAt":1700000000000000000,'
            b'"StartedAt":1700000001500000000,"FinishedAt":1700000002000000000,'
            b'"ExitCode":137,"Reason":"OOMKilled"}}')
    (rec,) = _engine(r).container_records(sizes=False)
    assert (rec["status"], rec["exit_code"]) == ("exited", 137)
    assert (rec["started"], rec["finished"]) == ("2023-11-14T22:13:21.5Z", "2023-11-14T22:13:22Z")


def test_cri_status_damaged_is_a_finding() -> None:
    r = Root()
    _cri(r, b'{"Version":"v1","Status":')
    engine = _engine(r)
    (rec,) = engine.container_records(sizes=False)
    assert rec["status"] == "unknown"
    assert "bad-cri-status" in _codes(engine)


@pytest.mark.parametrize(
    ("status", "state", "exit_code", "messages"),
    [
        (None, "unknown", None,
         ["the container's CRI directory holds no readable status file"]),
        (b"", "unknown", None,
         ["CRI status is not readable: Expecting value: line 1 column 1 (char 0)"]),
        (b"[" * 100_000 + b"]" * 100_000, "unknown", None,
         ["CRI status is not readable: maximum recursion depth exceeded while decoding a JSON "
          "array from a unicode string"]),
        (b'{"Version":"v1","Status":{"CreatedAt":"x","StartedAt":1e30,"FinishedAt":-5,'
         b'"ExitCode":true}}', "unknown", None,
         ["CRI status: CreatedAt is 'x', not Unix nanoseconds",
          "CRI status: ExitCode is True, not an integer",
          "CRI status: FinishedAt is -5, not Unix nanoseconds",
          "CRI status: StartedAt is 1e+30, not Unix nanoseconds"]),
        (b'{"Status":{"CreatedAt":1700000000000000000,"StartedAt":' + b"9" * 40 + b"}}",
         "created", None,
         [f"CRI status: StartedAt {'9' * 40} is out of range"]),
    ],
    ids=["missing", "empty", "deep", "wrong-types", "out-of-range"],
)
def test_cri_status_missing_or_garbled_is_a_finding_not_a_traceback(
    status: bytes | None, state: str, exit_code: int | None, messages: list[str]
) -> None:
    """Its container directory is listed: a status file absent, not JSON, or holding values
    the CRI plugin never writes is a ``bad-cri-status`` finding; what is readable is used."""
    r = Root()
    _cri(r, status or b"")
    if status is None:
        del r.files["io.containerd.grpc.v1.cri/containers/c1/status"]
        r.files["io.containerd.grpc.v1.cri/containers/c1"] = None
    engine = _engine(r)
    (rec,) = engine.container_records(sizes=False)
    assert (rec["status"], rec["exit_code"]) == (state, exit_code)
    assert sorted((f.code, f.path, f.message) for f in engine.findings
                  if f.code == "bad-cri-status") == [
        ("bad-cri-status", "io.containerd.grpc.v1.cri/containers/c1/status", m) for m in messages]
