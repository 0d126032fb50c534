"""A MODELLED libpod SQLite state (``libpod/db.sql``), made from a real BoltDB state.

podman 4.3 (the podman available here) cannot write ``db.sql``; podman >= 4.8 can and 5.x does
by default. This module writes one the way podman 5 lays it out: the ``CREATE TABLE`` statements
are copied from podman's ``libpod/sqlite_state_internal.go`` (``sqliteInitTables``), and the rows
are the real JSON documents of a real ``bolt_state.db`` made by podman 4.3.1 (the podman-4.3
sample roots), inserted as ``SQLiteState.addContainer``/``addPod``/``addVolume`` insert them
(``libpod/sqlite_state.go``). What is modelled: the file itself (SQLite's own page layout, as
Python's sqlite3 writes it) and the ``ContainerExitCode.Timestamp`` seconds; the documents are
podman's.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from storagekit.formats.bolt import BoltBucket, BoltDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS DBConfig(
        ID            INTEGER PRIMARY KEY NOT NULL,
        SchemaVersion INTEGER NOT NULL,
        OS            TEXT    NOT NULL,
        StaticDir     TEXT    NOT NULL,
        TmpDir        TEXT    NOT NULL,
        GraphRoot     TEXT    NOT NULL,
        RunRoot       TEXT    NOT NULL,
        GraphDriver   TEXT    NOT NULL,
        VolumeDir     TEXT    NOT NULL,
        CHECK (ID IN (1))
);
CREATE TABLE IF NOT EXISTS IDNamespace(
        ID TEXT PRIMARY KEY NOT NULL
);
CREATE TABLE IF NOT EXISTS ContainerConfig(
        ID              TEXT    PRIMARY KEY NOT NULL,
        Name            TEXT    UNIQUE NOT NULL,
        PodID           TEXT,
        JSON            TEXT    NOT NULL,
        FOREIGN KEY (ID)    REFERENCES IDNamespace(ID)    DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (ID)    REFERENCES ContainerState(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (PodID) REFERENCES PodConfig(ID)
);
CREATE TABLE IF NOT EXISTS ContainerState(
        ID       TEXT    PRIMARY KEY NOT NULL,
        State    INTEGER NOT NULL,
        ExitCode INTEGER,
        JSON     TEXT    NOT NULL,
        FOREIGN KEY (ID) REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED,
        CHECK (ExitCode BETWEEN -1 AND 255)
);
CREATE TABLE IF NOT EXISTS ContainerExecSession(
        ID          TEXT PRIMARY KEY NOT NULL,
        ContainerID TEXT NOT NULL,
        FOREIGN KEY (ContainerID) REFERENCES ContainerConfig(ID)
);
CREATE TABLE IF NOT EXISTS ContainerDependency(
        ID           TEXT NOT NULL,
        DependencyID TEXT NOT NULL,
        PRIMARY KEY (ID, DependencyID),
        FOREIGN KEY (ID)           REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (DependencyID) REFERENCES ContainerConfig(ID),
        CHECK (ID <> DependencyID)
);
CREATE TABLE IF NOT EXISTS ContainerVolume(
        ContainerID TEXT NOT NULL,
        VolumeName  TEXT NOT NULL,
        PRIMARY KEY (ContainerID, VolumeName),
        FOREIGN KEY (ContainerID) REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (VolumeName)  REFERENCES VolumeConfig(Name)
);
CREATE TABLE IF NOT EXISTS ContainerExitCode(
        ID        TEXT    PRIMARY KEY NOT NULL,
        Timestamp INTEGER NOT NULL,
        ExitCode  INTEGER NOT NULL,
        CHECK (ExitCode BETWEEN -1 AND 255)
);
CREATE TABLE IF NOT EXISTS PodConfig(
        ID              TEXT    PRIMARY KEY NOT NULL,
        Name            TEXT    UNIQUE NOT NULL,
        JSON            TEXT    NOT NULL,
        FOREIGN KEY (ID) REFERENCES IDNamespace(ID) DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (ID) REFERENCES PodState(ID)    DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS PodState(
        ID               TEXT PRIMARY KEY NOT NULL,
        InfraContainerID TEXT,
        JSON             TEXT NOT NULL,
        FOREIGN KEY (ID)               REFERENCES PodConfig(ID)       DEFERRABLE INITIALLY DEFERRED,
        FOREIGN KEY (InfraContainerID) REFERENCES ContainerConfig(ID) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS VolumeConfig(
        Name            TEXT    PRIMARY KEY NOT NULL,
        StorageID       TEXT,
        JSON            TEXT    NOT NULL,
        FOREIGN KEY (Name) REFERENCES VolumeState(Name) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS VolumeState(
        Name TEXT PRIMARY KEY NOT NULL,
        JSON TEXT NOT NULL,
        FOREIGN KEY (Name) REFERENCES VolumeConfig(Name) DEFERRABLE INITIALLY DEFERRED
);
"""


def _kv(bucket: BoltBucket | None) -> dict[str, str]:
    if bucket is None:
        return {}
    return {k.decode(): v.decode() for k, v in bucket.items() if isinstance(v, bytes)}


def _sub(db: BoltDB, *names: str) -> BoltBucket:
    b = db.bucket(*(n.encode() for n in names))
    assert b is not None
    return b


def _get(b: BoltBucket, key: str) -> str:
    v = b.get(key.encode())
    assert v is not None
    return v.decode()


def fill(conn: sqlite3.Connection, bolt: bytes) -> None:
    """Create podman's tables in ``conn`` and insert the documents of the BoltDB ``bolt``."""
    db = BoltDB.from_bytes(bolt)
    conn.executescript(SCHEMA)
    rc = _kv(db.bucket(b"runtime-config"))
    conn.execute(
        "INSERT INTO DBConfig VALUES (1, 1, ?, ?, ?, ?, ?, ?, ?)",
        (
            rc["os"],
            rc["static-dir"],
            rc["tmp-dir"],
            rc["graph-root"],
            rc["run-root"],
            rc["graph-driver-name"],
            rc["volume-path"],
        ),
    )
    stamps = _kv(db.bucket(b"exit-code-time-stamp"))
    for cid, code in _kv(db.bucket(b"exit-code")).items():
        when = datetime.fromisoformat(stamps[cid][:26] + "+00:00")
        conn.execute(
            "INSERT INTO ContainerExitCode VALUES (?, ?, ?)",
            (cid, int(when.timestamp()), int(code)),
        )
    for cid, name in _kv(db.bucket(b"all-ctrs")).items():
        b = _sub(db, "ctr", cid)
        config, state = _get(b, "config"), _get(b, "state")
        st = json.loads(state)
        conn.execute("INSERT INTO IDNamespace VALUES (?)", (cid,))
        conn.execute(
            "INSERT INTO ContainerConfig VALUES (?, ?, ?, ?)",
            (cid, name, json.loads(config).get("pod") or None, config),
        )
        conn.execute(
            "INSERT INTO ContainerState VALUES (?, ?, ?, ?)",
            (cid, st["state"], st.get("exitCode", 0), state),
        )
    for pid, name in _kv(db.bucket(b"allPods")).items():
        b = _sub(db, "pod", pid)
        state = _get(b, "state")
        conn.execute("INSERT INTO IDNamespace VALUES (?)", (pid,))
        conn.execute("INSERT INTO PodConfig VALUES (?, ?, ?)", (pid, name, _get(b, "config")))
        conn.execute(
            "INSERT INTO PodState VALUES (?, ?, ?)",
            (pid, json.loads(state).get("InfraContainerID") or None, state),
        )
    for name in _kv(db.bucket(b"allVolumes")):
        b = _sub(db, "vol", name)
        conn.execute("INSERT INTO VolumeConfig VALUES (?, NULL, ?)", (name, _get(b, "config")))
        conn.execute("INSERT INTO VolumeState VALUES (?, ?)", (name, _get(b, "state")))
        for cid in _kv(b.bucket(b"vol-dependencies")):
            conn.execute("INSERT INTO ContainerVolume VALUES (?, ?)", (cid, name))
    conn.commit()
