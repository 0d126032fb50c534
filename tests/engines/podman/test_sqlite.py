"""libpod's SQLite state (``libpod/db.sql``) on a MODELLED database.

podman 4.3 cannot write ``db.sql``: :mod:`tests.engines.podman.sqlitemodel` builds one with the
schema of podman's ``libpod/sqlite_state_internal.go`` and the real JSON documents of the
podman-4.3-overlay sample's ``bolt_state.db``. The reader must then give exactly what the BoltDB
reader gives for the real file, and must never write beside the evidence.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path

import pytest

from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.libpod import LibpodContainer, LibpodState
from storagekit.engines.podman.libpod_bolt import read_bolt_state
from storagekit.engines.podman.libpod_sqlite import read_sqlite_state
from storagekit.engines.podman.root import read_root
from storagekit.model import Findings
from storagekit.source import Source
from storagekit.sources import open_source
from storagekit.sources.memsource import MemorySource
from tests.engines.podman import minroot
from tests.engines.podman.conftest import SAMPLES, libpod_containers
from tests.engines.podman.sqlitemodel import fill


@pytest.fixture(scope="module")
def bolt_bytes() -> bytes:
    with open_source(str(SAMPLES / "podman-4.3-overlay" / "root.tar.xz")) as src:
        return src.read_bytes("libpod/bolt_state.db")


Whole = tuple[LibpodState, tuple[LibpodContainer, ...]]


@pytest.fixture(scope="module")
def bolt_state(bolt_bytes: bytes) -> Whole:
    findings = Findings()
    src = MemorySource().add_file("libpod/bolt_state.db", bolt_bytes)
    state = read_bolt_state(src, findings)
    assert state is not None
    containers = libpod_containers(src, state, findings)
    assert list(findings) == []
    return state, containers


@pytest.fixture(scope="module")
def db_bytes(bolt_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("model") / "db.sql"
    with sqlite3.connect(path) as conn:
        fill(conn, bolt_bytes)
    conn.close()
    return path.read_bytes()


def same_as_bolt(source: Source, state: LibpodState | None, whole: Whole) -> None:
    """Equal to the BoltDB reading, apart from where each record was read."""
    assert state is not None
    assert (state.backend, state.path) == ("sqlite", "libpod/db.sql")
    assert state.rows is not None  # fetched with the rest: nothing is read from source later
    mine = libpod_containers(source, state)
    bolt, theirs = whole

    def strip(s: LibpodState, containers: tuple[LibpodContainer, ...]) -> tuple[object, ...]:
        return (
            tuple(
                c._replace(config_path="", recorded_exit_time=None)
                for c in containers
            ),
            tuple(p._replace(config_path="") for p in s.pods),
            tuple(v._replace(config_path="") for v in s.volumes),
            s.runtime,
        )

    assert strip(state, mine) == strip(bolt, theirs)
    # ContainerExitCode.Timestamp holds whole seconds; the BoltDB record nanoseconds
    assert [c.recorded_exit_time for c in mine] == [
        c.recorded_exit_time[:19] + "Z" if c.recorded_exit_time else None for c in theirs
    ]
    assert [c.recorded_exit_time is None for c in theirs] == [
        c.status in ("created", "running") for c in theirs
    ]
    assert {c.config_path for c in mine} == {
        f"libpod/db.sql:ContainerConfig/{c.id}" for c in theirs
    }


def snapshot(top: Path) -> list[tuple[str, int, int, int]]:
    return sorted(
        (str(p.relative_to(top)), p.stat().st_mode, p.stat().st_size, p.stat().st_mtime_ns)
        for p in [top, *top.rglob("*")]
    )


def test_directory_root_is_opened_immutable_in_place(
    tmp_path: Path, db_bytes: bytes, bolt_state: Whole, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "libpod").mkdir()
    (tmp_path / "libpod" / "db.sql").write_bytes(db_bytes)
    before = snapshot(tmp_path)

    def no_copy(*_a: object, **_k: object) -> None:
        raise AssertionError("a directory root without WAL needs no private copy")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_copy)
    findings = Findings()
    with open_source(str(tmp_path)) as src:
        same_as_bolt(src, read_sqlite_state(src, findings), bolt_state)
    assert list(findings) == []
    assert snapshot(tmp_path) == before  # no -shm, -wal or -journal beside the evidence


def test_archive_member_is_read_from_a_private_copy(
    tmp_path: Path, db_bytes: bytes, bolt_state: Whole, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "root.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("./libpod/db.sql")
        info.size = len(db_bytes)
        tf.addfile(info, io.BytesIO(db_bytes))
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(cache))
    findings = Findings()
    with open_source(str(archive)) as src:
        same_as_bolt(src, read_sqlite_state(src, findings), bolt_state)
        root = read_root(src)
    assert list(findings) == []
    assert root.libpod is not None
    assert root.libpod.backend == "sqlite"
    assert list(cache.iterdir()) == []  # the private copy is gone


def test_committed_rows_still_in_the_wal_are_seen(
    tmp_path: Path, bolt_bytes: bytes, bolt_state: Whole
) -> None:
    work, evidence = tmp_path / "work", tmp_path / "evidence"
    work.mkdir()
    (evidence / "libpod").mkdir(parents=True)
    conn = sqlite3.connect(work / "db.sql")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    fill(conn, bolt_bytes)  # committed, but only in db.sql-wal until a checkpoint
    for name in ("db.sql", "db.sql-wal"):
        shutil.copyfile(work / name, evidence / "libpod" / name)  # a copy of a live host
    conn.close()
    assert (evidence / "libpod" / "db.sql-wal").stat().st_size > 0
    before = snapshot(evidence)
    findings = Findings()
    with open_source(str(evidence)) as src:
        same_as_bolt(src, read_sqlite_state(src, findings), bolt_state)
    assert list(findings) == []
    assert snapshot(evidence) == before


def test_sqlite_is_preferred_to_bolt_and_statuses(db_bytes: bytes, bolt_bytes: bytes) -> None:
    src = minroot.build()
    src.add_file("libpod/db.sql", db_bytes).add_file("libpod/bolt_state.db", bolt_bytes)
    root = read_root(src)
    assert root.libpod is not None
    assert root.libpod.backend == "sqlite"
    got = sorted(
        (c.name, c.status, c.exit_code, c.recorded_exit_code)
        for c in libpod_containers(src, root.libpod)
    )
    assert got == [
        ("sk-basec", "exited", 0, 0),
        ("sk-created", "created", 0, None),
        ("sk-exited", "exited", 3, 3),
        ("sk-inpod", "exited", 0, 0),
        ("sk-running", "running", 0, None),
        ("sk-vol", "exited", 0, 0),
    ]
    # the model's containers are not the minimal root's: both directions are reported, once
    # libpod's containers are read (the cross-check alone reads no more than it compares)
    assert root.findings == ()
    findings = Findings()
    Inventory(src, root, findings).check_libpod()
    assert sorted({f.code for f in findings}) == ["orphan-container"]
    assert len(findings) == 7  # the six of libpod, the one of containers.json


def test_missing_table_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "db.sql"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE DBConfig(ID INTEGER)")
    conn.close()
    src = MemorySource().add_file("libpod/db.sql", path.read_bytes())
    findings = Findings()
    state = read_sqlite_state(src, findings)
    assert state is not None
    assert state.rows == ()
    assert [f.message for f in findings][:2] == [
        "ContainerState: no such table: ContainerState",
        "ContainerExitCode: no such table: ContainerExitCode",
    ]
    assert os.path.exists(path)
