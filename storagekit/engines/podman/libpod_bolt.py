"""libpod's BoltDB state: ``<graphroot>/libpod/bolt_state.db`` (podman < 4.8, and later).

Older installations keep it after upgrades; podman 5 still reads it when no ``db.sql`` exists.

Buckets (podman ``libpod/boltdb_state.go``, ``boltdb_state_internal.go``)::

    all-ctrs/<id> = name                  allPods/<id> = name        allVolumes/<name> = name
    ctr/<id>/{config, state, pod-id?, dependencies/, netns?, networks/?}
    exit-code/<id> = decimal text         exit-code-time-stamp/<id> = RFC 3339 text
    pod/<id>/{config, state, containers/<ctr-id> = name}
    vol/<name>/{config, state, vol-dependencies/<ctr-id>}
    id-registry, name-registry, ns-registry, volume-ctrs, exec
    runtime-config/{graph-driver-name, graph-root, run-root, static-dir, tmp-dir, volume-path, os}

``config`` and ``state`` values are the JSON documents :mod:`.libpod` describes. A copy of a
live host may be torn: :mod:`storagekit.formats.bolt` falls back to the other meta page, and a
damaged page becomes a finding while the readable buckets are still read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from storagekit import timefmt
from storagekit.engines.podman.common import safe_id
from storagekit.engines.podman.libpod import (
    LibpodContainer,
    LibpodState,
    LibpodVolume,
    Pod,
    RuntimeConfig,
    make_container,
    make_pod,
    make_volume,
    parse_doc,
)
from storagekit.errors import FormatError, SourceError
from storagekit.formats.bolt import BoltBucket, BoltDB
from storagekit.model import Findings
from storagekit.source import Source

PATH = "libpod/bolt_state.db"
#: Largest state file read into memory.
MAX_DB = 1 << 30

T = TypeVar("T")


def _text(value: bytes | BoltBucket | None) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _guard(findings: Findings, where: str, fn: Callable[[], T], default: T) -> T:
    """Run ``fn``; a damaged page inside it is a finding and gives ``default``."""
    try:
        return fn()
    except FormatError as exc:
        findings.error("bad-libpod-state", where, f"damaged BoltDB page: {exc.message}")
        return default


def _names(bucket: BoltBucket | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in bucket.items() if bucket is not None else ():
        k = _text(key)
        if k is not None:
            out[k] = _text(value) or ""
    return out


def _sub(bucket: BoltBucket | None, *names: bytes) -> BoltBucket | None:
    for name in names:
        if bucket is None:
            return None
        bucket = bucket.bucket(name)
    return bucket


def _ctr_values(
    ctr: BoltBucket | None, key: bytes
) -> tuple[bytes | None, bytes | None, str | None] | None:
    """``config``, ``state`` and ``pod-id`` of ``ctr/<key>``, ``None`` without that bucket."""
    b = _sub(ctr, key)
    if b is None:
        return None
    return b.get(b"config"), b.get(b"state"), _text(b.get(b"pod-id"))


def _containers(db: BoltDB, findings: Findings) -> list[LibpodContainer]:
    ctr = db.bucket(b"ctr")
    exit_codes = _names(db.bucket(b"exit-code"))
    exit_times = _names(db.bucket(b"exit-code-time-stamp"))
    names = _names(db.bucket(b"all-ctrs"))
    out = []
    for raw_id in sorted(set(names) | set(_names(ctr))):
        cid = safe_id(raw_id, findings, PATH, "libpod container ID")
        if cid is None:
            continue
        where = f"{PATH}:ctr/{cid}"
        # a damaged page below one container's bucket loses that container only
        damaged: tuple[bytes | None, bytes | None, str | None] | None = (None, None, None)
        raw = _guard(findings, where, partial(_ctr_values, ctr, cid.encode()), damaged)
        if raw is None:
            findings.error("missing-record", where, "listed in all-ctrs but has no ctr bucket")
        config = state = None
        pod_id = None
        if raw is not None and raw is not damaged:
            raw_config, raw_state, pod_id = raw
            config = parse_doc(raw_config, findings, f"{where}/config")
            state = parse_doc(raw_state, findings, f"{where}/state")
        code = exit_codes.get(cid)
        out.append(
            make_container(
                cid,
                config,
                state,
                int(code) if code is not None and code.lstrip("-").isdigit() else None,
                f"{where}/config",
                name=names.get(cid) or None,
                pod=pod_id,
                recorded_exit_time=timefmt.normalize(exit_times.get(cid)),
            )
        )
    return out


def _pods(db: BoltDB, findings: Findings) -> list[Pod]:
    pod = db.bucket(b"pod")
    out = []
    for raw_id, name in sorted((_names(db.bucket(b"allPods")) | _names(pod)).items()):
        pid = safe_id(raw_id, findings, PATH, "libpod pod ID")
        if pid is None:
            continue
        where = f"{PATH}:pod/{pid}"
        b = _sub(pod, pid.encode())
        config = parse_doc(b.get(b"config") if b else None, findings, f"{where}/config")
        state = parse_doc(b.get(b"state") if b else None, findings, f"{where}/state")
        members = tuple(_names(_sub(b, b"containers")))
        out.append(make_pod(pid, config, state, members, f"{where}/config", name=name or None))
    return out


def _volumes(db: BoltDB, findings: Findings) -> list[LibpodVolume]:
    vol = db.bucket(b"vol")
    out = []
    for name in sorted(set(_names(db.bucket(b"allVolumes"))) | set(_names(vol))):
        where = f"{PATH}:vol/{name}"
        b = _sub(vol, name.encode())
        config = parse_doc(b.get(b"config") if b else None, findings, f"{where}/config")
        users = tuple(_names(_sub(b, b"vol-dependencies")))
        out.append(make_volume(name, config, users, f"{where}/config"))
    return out


def _runtime(db: BoltDB) -> RuntimeConfig:
    rc = _names(db.bucket(b"runtime-config"))
    return RuntimeConfig(
        graph_driver=rc.get("graph-driver-name"),
        graph_root=rc.get("graph-root"),
        run_root=rc.get("run-root"),
        static_dir=rc.get("static-dir"),
        tmp_dir=rc.get("tmp-dir"),
        volume_path=rc.get("volume-path"),
        os=rc.get("os"),
    )


def read_bolt_state(source: Source, findings: Findings, path: str = PATH) -> LibpodState | None:
    """Read libpod's BoltDB state; ``None`` (and a finding) when it is absent or unusable."""
    try:
        size = source.stat(path).size
        file = source.open(path)
    except SourceError:
        return None
    with file:  # only the pages the walk visits are read, never the whole file
        try:
            db = BoltDB.from_file(file, size, path)
        except FormatError as exc:
            findings.error("bad-libpod-state", path, f"not a usable BoltDB file: {exc.message}")
            return None
        empty = RuntimeConfig(None, None, None, None, None, None, None)
        return LibpodState(
            backend="bolt",
            path=path,
            containers=tuple(_guard(findings, path, lambda: _containers(db, findings), [])),
            pods=tuple(_guard(findings, path, lambda: _pods(db, findings), [])),
            volumes=tuple(_guard(findings, path, lambda: _volumes(db, findings), [])),
            runtime=_guard(findings, path, lambda: _runtime(db), empty),
        )
