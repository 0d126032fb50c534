"""libpod's SQLite state: ``<graphroot>/libpod/db.sql`` (podman >= 4.8 optional, 5.x default).

Tables (podman ``libpod/sqlite_state_internal.go``, ``sqliteInitTables``; columns are named
``ID``/``JSON`` in 5.x and ``Id``/``Json`` in 4.8, and SQLite matches them case-insensitively)::

    DBConfig(ID, SchemaVersion, OS, StaticDir, TmpDir, GraphRoot, RunRoot, GraphDriver, VolumeDir)
    IDNamespace(ID)
    ContainerConfig(ID, Name, PodID, JSON)       ContainerState(ID, State, ExitCode, JSON)
    ContainerExecSession(ID, ContainerID)         ContainerDependency(ID, DependencyID)
    ContainerVolume(ContainerID, VolumeName)      ContainerExitCode(ID, Timestamp, ExitCode)
    PodConfig(ID, Name, JSON)                     PodState(ID, InfraContainerID, JSON)
    VolumeConfig(Name, StorageID, JSON)           VolumeState(Name, JSON)

The ``JSON`` columns hold the same documents as the BoltDB state (:mod:`.libpod`).

Evidence is never written: a database in a directory root is opened through a
``file:...?mode=ro&immutable=1`` URI (no lock, no ``-shm``, no journal). podman runs the
database in WAL mode, and ``immutable`` would ignore a ``db.sql-wal`` left by a live host; when
one is present, or when the database is an archive member, the file (and its WAL) are copied
into a private temporary directory and opened there, so that committed transactions still in
the WAL are seen.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import Any

from storagekit.engines.podman.common import safe_id
from storagekit.engines.podman.libpod import (
    SQLITE_PATH,
    LibpodState,
    LibpodVolume,
    Pod,
    RawContainer,
    RuntimeConfig,
    make_pod,
    make_volume,
    parse_doc,
)
from storagekit.errors import SourceError
from storagekit.model import Findings
from storagekit.source import Source, SubSource
from storagekit.sources.dirsource import DirSource

PATH = SQLITE_PATH


def host_path(source: Source, path: str) -> str | None:
    """The host path of ``path`` when ``source`` is a directory on the host (else ``None``).

    ``path`` must be a regular file as the source sees it (no symlink on the way).
    """
    if not source.is_file(path):
        return None
    while isinstance(source, SubSource):
        path = f"{source.prefix}/{path}"
        source = source.parent
    if isinstance(source, DirSource):
        return os.path.join(source.root, path)
    return None


@contextmanager
def open_readonly(source: Source, path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the SQLite file ``path`` of the evidence (see module doc).

    Raises:
        SourceError: the file cannot be read.
        sqlite3.Error: it is not a usable database.
    """
    wal = f"{path}-wal"
    has_wal = source.is_file(wal) and source.stat(wal).size > 0
    direct = None if has_wal else host_path(source, path)
    if direct is not None:
        uri = f"file:{urllib.parse.quote(direct)}?mode=ro&immutable=1"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            yield conn
        return
    with tempfile.TemporaryDirectory(prefix="storagekit-sqlite-") as tmp:
        copy = os.path.join(tmp, "db.sql")
        for src, dest in ((path, copy), (wal, copy + "-wal")):
            if src == wal and not has_wal:
                continue
            with open(dest, "wb") as out:
                source.copy_file(src, source.stat(src).size, out.write)
        uri = f"file:{urllib.parse.quote(copy)}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            yield conn


def _rows(conn: sqlite3.Connection, sql: str, findings: Findings) -> list[tuple[Any, ...]]:
    try:
        return list(conn.execute(sql))
    except sqlite3.Error as exc:
        findings.error("bad-libpod-state", PATH, f"{sql.split(' FROM ')[-1]}: {exc}")
        return []


def _seconds(value: object) -> str | None:
    """``ContainerExitCode.Timestamp`` (Unix seconds, ``time.Now().Unix()``) as RFC 3339."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 40:
        return None
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _containers(conn: sqlite3.Connection, findings: Findings) -> list[RawContainer]:
    """Every container's row, its documents not decoded yet (:mod:`.libpod_read`)."""
    q = "SELECT ID, State, JSON FROM ContainerState"
    states = {r[0]: (r[1], r[2]) for r in _rows(conn, q, findings)}
    q = "SELECT ID, ExitCode, Timestamp FROM ContainerExitCode"
    codes = {r[0]: (r[1], r[2]) for r in _rows(conn, q, findings)}
    out = []
    q = "SELECT ID, Name, PodID, JSON FROM ContainerConfig ORDER BY ID"
    for raw_id, name, pod, raw in _rows(conn, q, findings):
        cid = safe_id(raw_id, findings, PATH, "libpod container ID")
        if cid is None:
            continue
        number, raw_state = states.get(cid, (None, None))
        code, stamp = codes.get(cid, (None, None))
        out.append(
            RawContainer(
                cid,
                True,
                raw,
                raw_state,
                f"{PATH}:ContainerConfig/{cid}",
                f"{PATH}:ContainerState/{cid}",
                name=name if isinstance(name, str) else None,
                pod=pod if isinstance(pod, str) and pod else None,
                state_number=number if isinstance(number, int) else None,
                exit_code=code if isinstance(code, int) else None,
                exit_time=_seconds(stamp),
            )
        )
    return out


def _pods(conn: sqlite3.Connection, findings: Findings) -> list[Pod]:
    states = {r[0]: r[1] for r in _rows(conn, "SELECT ID, JSON FROM PodState", findings)}
    members: dict[str, list[str]] = {}
    q = "SELECT ID, PodID FROM ContainerConfig WHERE PodID IS NOT NULL"
    for cid, pod in _rows(conn, q, findings):
        members.setdefault(pod, []).append(cid)
    out = []
    for raw_id, name, raw in _rows(
        conn, "SELECT ID, Name, JSON FROM PodConfig ORDER BY ID", findings
    ):
        pid = safe_id(raw_id, findings, PATH, "libpod pod ID")
        if pid is None:
            continue
        where = f"{PATH}:PodConfig/{pid}"
        config = parse_doc(raw, findings, where)
        state = parse_doc(states.get(pid), findings, f"{PATH}:PodState/{pid}")
        out.append(make_pod(pid, config, state, tuple(members.get(pid, ())), where, name=name))
    return out


def _volumes(conn: sqlite3.Connection, findings: Findings) -> list[LibpodVolume]:
    users: dict[str, list[str]] = {}
    for cid, vol in _rows(conn, "SELECT ContainerID, VolumeName FROM ContainerVolume", findings):
        users.setdefault(vol, []).append(cid)
    out = []
    for name, raw in _rows(conn, "SELECT Name, JSON FROM VolumeConfig ORDER BY Name", findings):
        if not isinstance(name, str):
            continue
        where = f"{PATH}:VolumeConfig/{name}"
        out.append(
            make_volume(name, parse_doc(raw, findings, where), tuple(users.get(name, ())), where)
        )
    return out


def _runtime(conn: sqlite3.Connection, findings: Findings) -> RuntimeConfig:
    q = "SELECT GraphDriver, GraphRoot, RunRoot, StaticDir, TmpDir, VolumeDir, OS FROM DBConfig"
    rows = _rows(conn, q, findings)
    if not rows:
        return RuntimeConfig(None, None, None, None, None, None, None)
    vals = [v if isinstance(v, str) else None for v in rows[0]]
    return RuntimeConfig(*vals)


def read_sqlite_state(source: Source, findings: Findings, path: str = PATH) -> LibpodState | None:
    """Read libpod's SQLite state; ``None`` (and a finding) when it is absent or unusable."""
    if not source.exists(path):
        return None
    try:
        with open_readonly(source, path) as conn:
            _rows_or_fail = conn.execute("SELECT name FROM sqlite_master").fetchall()
            del _rows_or_fail
            rows = tuple(_containers(conn, findings))
            return LibpodState(
                backend="sqlite",
                path=path,
                pods=tuple(_pods(conn, findings)),
                volumes=tuple(_volumes(conn, findings)),
                runtime=_runtime(conn, findings),
                rows=rows,
            )
    except sqlite3.Error as exc:
        findings.error("bad-libpod-state", path, f"not a usable SQLite database: {exc}")
    except (SourceError, OSError) as exc:
        findings.error("unreadable-file", path, f"cannot read: {exc}")
    return None
