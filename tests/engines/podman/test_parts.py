"""Inventory commands decode libpod's containers on two cores, the stores beside them.

The records and findings are those of one process reading everything in turn: on the sample
root, on damaged ones (a torn or half-written ``bolt_state.db``, a config that is not JSON,
a damaged page below one container, torn stores) and on SQLite's rows; whoever decodes
a slice (this process, or the worker, which sends it back as plain data); and when the worker
fails, this process reads everything again itself.
"""

from __future__ import annotations

import gc
import io
import itertools
import marshal
import mmap
import os
import sqlite3
import tarfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import storagekit.parallel
from storagekit.engines.podman import libpod_bolt, parts
from storagekit.engines.podman.common import IDMapping
from storagekit.engines.podman.engine import PodmanEngine
from storagekit.engines.podman.libpod import LibpodContainer, NamedVolume, SpecMount
from storagekit.engines.podman.libpod_plain import container, plain
from storagekit.formats.bolt import BoltDB
from storagekit.sources import open_source
from tests.engines.podman.conftest import PODMAN_NAMES, SAMPLES
from tests.engines.podman.sqlitemodel import fill

PMAP_STARTED = storagekit.parallel.pmap_started
BOLT = next(n for n in PODMAN_NAMES if "rootless" not in n)
COMMANDS: dict[str, Callable[[PodmanEngine], list[dict[str, Any]]]] = {
    "containers": lambda e: e.container_records(sizes=False),
    "images": PodmanEngine.image_records,
    "layers": PodmanEngine.layer_records,
}
TWO_CORES = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="one core: nothing is forked"
)


def answers(
    top: Path, monkeypatch: pytest.MonkeyPatch, fork: bool, command: str = "containers",
    spare: int = 2,
) -> dict[str, Any]:
    """A command's records and every finding; the tasks each read on two cores had."""
    monkeypatch.setattr(parts, "PARALLEL_BYTES", 0 if fork else 1 << 62)
    monkeypatch.setattr(libpod_bolt, "HUGE_FROM", 0)  # the samples' files are small
    monkeypatch.setattr(storagekit.parallel, "spare_cores", lambda: spare)
    calls: list[int] = []

    def pmap_started(fn: Any, items: Any, **kw: Any) -> Any:
        calls.append(len(items))
        return PMAP_STARTED(fn, items, **kw)

    monkeypatch.setattr(storagekit.parallel, "pmap_started", pmap_started)
    with open_source(str(top)) as src:
        engine = PodmanEngine(src, str(top), "")
        records = COMMANDS[command](engine)
        engine.settle()
        found = [(f.code, f.severity, f.path, f.message) for f in engine.findings.sorted()]
    return {"records": records, "findings": found, "forked": calls}


def _extract(name: str, dest: Path) -> Path:
    with tarfile.open(SAMPLES / name / "root.tar.xz") as tf:
        tf.extractall(dest, filter="fully_trusted")
    return dest


def _bolt(top: Path) -> Path:
    return top / "libpod" / "bolt_state.db"


def _ctr_page(data: bytes) -> tuple[BoltDB, bytes, int]:
    """The database, the first container's ID and its own leaf page."""
    db = BoltDB.from_bytes(data)
    victim = db.bucket(b"ctr").keys()[0]  # type: ignore[union-attr]
    return db, victim, db.bucket(b"ctr", victim)._root  # type: ignore[union-attr]


def _bad_config(top: Path) -> None:
    """One container's config no longer JSON (a ``:`` made ``;``, the pages unchanged)."""
    data = _bolt(top).read_bytes()
    db, victim, _ = _ctr_page(data)
    config = db.bucket(b"ctr", victim).get(b"config")  # type: ignore[union-attr]
    assert config is not None
    assert data.count(config) == 1
    at = data.index(config) + config.index(b":")
    _bolt(top).write_bytes(data[:at] + b";" + data[at + 1 :])


def _bad_page(top: Path) -> None:
    """The first container's own leaf page names another page."""
    data = bytearray(_bolt(top).read_bytes())
    db, _, page = _ctr_page(bytes(data))
    data[page * db.page_size : page * db.page_size + 8] = b"\xff" * 8
    _bolt(top).write_bytes(bytes(data))


def _torn(top: Path) -> None:
    """The file cut in the middle of its pages, as a copy of a file being written."""
    data = _bolt(top).read_bytes()
    _bolt(top).write_bytes(data[: len(data) // 2 // 4096 * 4096])


def _half_written(top: Path) -> None:
    """The newer meta page of a copy taken while a transaction was committing: torn."""
    data = bytearray(_bolt(top).read_bytes())
    # the meta follows the page header: txid at 48, checksum at 56 (bbolt common/meta.go)
    txids = [int.from_bytes(data[at + 48 : at + 56], "little") for at in (16, 4096 + 16)]
    at = 4096 * txids.index(max(txids)) + 16
    data[at + 56 : at + 64] = b"\0" * 8
    _bolt(top).write_bytes(bytes(data))


def _stores(top: Path) -> None:
    """A truncated containers.json and a layer record's parent gone."""
    path = top / "overlay-containers" / "containers.json"
    path.write_bytes(path.read_bytes()[:-40])
    layers = top / "overlay-layers" / "layers.json"
    layers.write_text(layers.read_text().replace('"parent":"', '"parent":"00', 1))


def _sqlite(top: Path) -> None:
    """libpod's state in ``db.sql`` (podman 5's), made from the sample's BoltDB state."""
    with sqlite3.connect(top / "libpod" / "db.sql") as conn:
        fill(conn, _bolt(top).read_bytes())
    conn.close()


DAMAGE: dict[str, Callable[[Path], None] | None] = {
    "whole": None,
    "bad-config": _bad_config,
    "bad-page": _bad_page,
    "torn": _torn,
    "half-written": _half_written,
    "stores": _stores,
    "sqlite": _sqlite,
}


def _damaged(tmp_path: Path, damage: str) -> Path:
    top = _extract(BOLT, tmp_path / "root")
    hurt = DAMAGE[damage]
    if hurt is not None:
        hurt(top)
    return top


@TWO_CORES
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_two_cores_answer_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, command: str
) -> None:
    top = _damaged(tmp_path, damage)
    one = answers(top, monkeypatch, fork=False, command=command)
    two = answers(top, monkeypatch, fork=True, command=command)
    assert bool(one["findings"]) is (damage not in ("whole", "sqlite", "half-written"))
    assert one["forked"] == []
    assert len(two["forked"]) == 1
    assert two == {**one, "forked": two["forked"]}


@TWO_CORES
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_stores_are_read_here_while_the_worker_decodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Each store file is read once, by this process: never by the worker, never sent."""
    from storagekit.engines.podman import root

    top = _damaged(tmp_path, "whole")
    log = tmp_path / "readers"
    for name in ("read_layers", "read_images", "read_containers"):
        real = getattr(root, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            with log.open("a") as out:  # the worker's memory is not this process's
                out.write(f"{_name} {os.getpid()}\n")
            return _real(*args)

        monkeypatch.setattr(root, name, spy)
    two = answers(top, monkeypatch, fork=True, command=command)
    assert len(two["forked"]) == 1
    readers = sorted(log.read_text().split("\n")[:-1])
    me = os.getpid()
    assert readers == [f"read_containers {me}", f"read_images {me}", f"read_layers {me}"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("damage", ["whole", "bad-config", "bad-page"])
def test_slices_sent_back_as_plain_data_answer_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, command: str
) -> None:
    top = _damaged(tmp_path, damage)
    one = answers(top, monkeypatch, fork=False, command=command)
    # every slice decoded as a worker decodes it: sent back with marshal, rebuilt here
    monkeypatch.setattr(parts, "os", types.SimpleNamespace(getpid=itertools.count().__next__))
    sent: list[int] = []
    real = marshal.loads

    def loads(data: bytes) -> Any:
        sent.append(len(data))
        return real(data)

    monkeypatch.setattr(parts, "marshal", types.SimpleNamespace(dumps=marshal.dumps, loads=loads))
    two = answers(top, monkeypatch, fork=True, command=command, spare=1)  # all done here
    assert len(sent) == 6  # six containers: six slices
    assert two == {**one, "forked": two["forked"]}


@TWO_CORES
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_worker_that_fails_leaves_everything_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    top = _damaged(tmp_path, "bad-config")
    one = answers(top, monkeypatch, fork=False, command=command)
    parent = os.getpid()
    with open_source(str(top)) as src:
        kind = type(src)
    real = kind.after_fork

    def after_fork(self: Any) -> None:
        if os.getpid() != parent:
            raise OSError("the worker could not reopen the evidence")
        real(self)

    monkeypatch.setattr(kind, "after_fork", after_fork)
    two = answers(top, monkeypatch, fork=True, command=command)
    assert len(two["forked"]) == 1
    assert two == {**one, "forked": two["forked"]}


def test_plain_data_gives_the_same_containers() -> None:
    ids = IDMapping(0, 100000, 65536)
    c = LibpodContainer(
        id="a" * 64, name="caf\udcc3", pod=None, image_id="b" * 64, image_name="img",
        raw_image_name=None, command=("sh", "-c"), create_command=(), created="2024-01-01",
        labels=(("k", "v"),), named_volumes=(NamedVolume("v", "/d", ("ro",)),),
        mounts=(SpecMount("/m", "bind", None, ()),), state=3, status="running",
        exit_code=10**40, recorded_exit_code=-1, recorded_exit_time=None, started=None,
        finished=None, log_path="/l", uidmap=(ids,), gidmap=(ids, ids),
        config_path="libpod/bolt_state.db:ctr/x/config",
    )  # fmt: skip
    back = container(marshal.loads(marshal.dumps(plain(c))))
    assert back == c
    assert repr(back) == repr(c)  # each nested record its own named tuple again


def test_slices_cover_every_container_once() -> None:
    assert parts.slices(0) == []
    assert parts.slices(3) == [parts.Slice(0, 1), parts.Slice(1, 2), parts.Slice(2, 3)]
    assert parts.slices(1000)[:2] == [parts.Slice(0, 62), parts.Slice(62, 125)]
    assert [s.stop - s.start for s in parts.slices(20)] == [1, 1, 1, 2] * 4


@pytest.mark.parametrize("damage", ["whole", "torn", "bad-page", "bad-config"])
@pytest.mark.parametrize("how", ["mapped", "anonymous", "read"])
def test_the_database_mapped_or_read_answers_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, how: str
) -> None:
    top = _damaged(tmp_path, damage)
    one = answers(top, monkeypatch, fork=False)  # paged through the file (it is small)
    real = libpod_bolt.map_file
    kinds: list[str] = []

    def map_file(file: Any, size: int) -> Any:
        got = real(file, size) if how == "mapped" else None
        kinds.append(type(got).__name__)
        return got

    monkeypatch.setattr(libpod_bolt, "map_file", map_file)
    if how == "read":
        monkeypatch.delattr(mmap, "MADV_HUGEPAGE", raising=False)
    two = answers(top, monkeypatch, fork=True, spare=1)  # read whole, all done here
    assert two == {**one, "forked": two["forked"]}
    assert kinds == ["mmap" if how == "mapped" else "NoneType"]


def test_only_a_file_of_the_system_at_its_start_is_mapped(tmp_path: Path) -> None:
    top = _extract(BOLT, tmp_path / "root")
    data = _bolt(top).read_bytes()
    with tarfile.open(tmp_path / "root.tar", "w") as tf:
        tf.add(top, arcname=".")
    with open_source(str(top)) as src, src.open("libpod/bolt_state.db") as file:
        mapped = libpod_bolt.map_file(file, len(data) + 4096)  # a stale, bigger size: the file's
        assert mapped is not None
        assert mapped[:] == data
        mapped.close()
        assert libpod_bolt.map_file(file, 0) is None
        file.read(1)
        assert libpod_bolt.map_file(file, len(data)) is None  # not at its start
    with open_source(str(tmp_path / "root.tar")) as src, src.open("libpod/bolt_state.db") as file:
        assert libpod_bolt.map_file(file, len(data)) is None  # a member: a window on the archive
    assert libpod_bolt.map_file(io.BytesIO(data), len(data)) is None


@pytest.mark.parametrize("before", ["enabled", "frozen", "disabled"])
def test_the_collector_is_paused_for_the_read_and_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    top = _damaged(tmp_path, "whole")
    seen: list[bool] = []
    real = parts._read

    def read(*args: Any) -> None:
        seen.append(gc.isenabled())
        real(*args)

    monkeypatch.setattr(parts, "_read", read)
    enabled = gc.isenabled()
    gc.unfreeze()
    try:
        if before == "frozen":
            gc.freeze()  # as the program's entry point does once the evidence is open
        if before == "disabled":
            gc.disable()
        frozen = gc.get_freeze_count()
        one = answers(top, monkeypatch, fork=True, spare=1)
        assert seen == [False]
        assert gc.isenabled() is (before != "disabled")
        if before == "frozen":
            assert gc.get_freeze_count() > frozen  # what was read is frozen too
        else:
            assert gc.get_freeze_count() == frozen == 0
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
    assert one == {**answers(top, monkeypatch, fork=False), "forked": one["forked"]}
