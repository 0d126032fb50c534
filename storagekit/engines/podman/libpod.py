"""libpod's own state, as one model whichever database holds it (BoltDB or SQLite).

podman keeps what containers-storage does not know in its static dir (``<graphroot>/libpod``):
container configs and states, pods, volumes and the runtime config it was created with. podman
< 4.8 writes ``bolt_state.db`` (:mod:`.libpod_bolt`); 4.8+ may and 5.x does write ``db.sql``
(:mod:`.libpod_sqlite`). Both store the same JSON documents (podman ``libpod/container.go``
``ContainerConfig``, ``ContainerState``; ``libpod/pod.go`` ``PodConfig``; ``libpod/volume.go``
``VolumeConfig``), so this module turns those documents into the model.

Container states (podman ``libpod/define/containerstate.go``): 0 unknown, 1 configured (shown as
``created``), 2 created, 3 running, 4 stopped, 5 paused, 6 exited, 7 removing, 8 stopping. A
copy of a live host keeps ``running`` for containers that ran while it was taken. The exit code
is ``ContainerState.exitCode`` (omitted when 0); libpod also keeps it per container in a
separate table (``exit-code`` bucket / ``ContainerExitCode``) for a while after exit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from storagekit import timefmt
from storagekit.engines.podman.common import (
    IDMapping,
    as_dict,
    as_list,
    opt_int,
    opt_str,
    parse_idmap,
    str_pairs,
    str_tuple,
)
from storagekit.model import Findings

#: podman's words for ``define.ContainerStatus`` values (``ContainerStatus.String``).
STATUS_WORDS = {
    0: "unknown",
    1: "created",
    2: "created",
    3: "running",
    4: "stopped",
    5: "paused",
    6: "exited",
    7: "removing",
    8: "stopping",
}

Backend = Literal["bolt", "sqlite"]
#: Where each backend keeps its database in the graph root.
BOLT_PATH = "libpod/bolt_state.db"
SQLITE_PATH = "libpod/db.sql"


def status_word(state: int | None) -> str:
    """``podman ps`` status word for a state number (``unknown`` for anything else)."""
    return STATUS_WORDS.get(state, "unknown") if state is not None else "unknown"


class NamedVolume(NamedTuple):
    """A named volume of a container (``ContainerConfig.namedVolumes``)."""

    name: str
    destination: str
    options: tuple[str, ...]


class SpecMount(NamedTuple):
    """A mount of the container's OCI spec (``spec.mounts``)."""

    destination: str
    type: str | None
    source: str | None
    options: tuple[str, ...]


class LibpodContainer(NamedTuple):
    """A container as libpod records it.

    A named tuple, not a frozen dataclass: made by the thousand (decoded, and rebuilt from what
    a forked worker sends back, :mod:`.libpod_plain`): 0.2 us to make against 2.7 us.

    Attributes:
        id: the container ID.
        name: ``name`` (no leading slash, unlike Docker).
        pod: ``pod`` (pod ID), ``None`` outside a pod.
        image_id: ``rootfsImageID``.
        image_name: ``rootfsImageName``.
        raw_image_name: ``RawImageName`` (as the user typed it).
        command: ``command`` (what ``podman ps`` shows).
        create_command: ``CreateCommand`` (the podman command line that made it).
        created: ``createdTime``.
        labels: ``labels`` as sorted pairs.
        named_volumes: ``namedVolumes``.
        mounts: ``spec.mounts`` of type ``bind``, in spec order (the others are podman's own
            proc, sysfs, tmpfs, devpts ... mounts, never the user's, and never shown).
        state: the state number, ``None`` when the state record is unusable.
        status: ``podman ps`` status word.
        exit_code: ``ContainerState.exitCode`` (0 when omitted), ``None`` without a state.
        recorded_exit_code: the separate exit-code record, ``None`` when absent.
        recorded_exit_time: when that record was written (BoltDB: RFC 3339 with nanoseconds;
            SQLite: whole seconds), ``None`` when absent.
        started: ``startedTime``.
        finished: ``finishedTime``.
        log_path: ``logPath`` as recorded (a host path).
        uidmap: ``idMappingsOptions.UIDMap``.
        gidmap: ``idMappingsOptions.GIDMap``.
        config_path: where the config came from (``libpod/bolt_state.db:ctr/<id>/config``).
        user_volumes: ``userVolumes``: the destinations of the mounts the user asked for, in
            the order ``podman inspect`` lists them (named volumes first).
    """

    id: str
    name: str | None
    pod: str | None
    image_id: str | None
    image_name: str | None
    raw_image_name: str | None
    command: tuple[str, ...]
    create_command: tuple[str, ...]
    created: str | None
    labels: tuple[tuple[str, str], ...]
    named_volumes: tuple[NamedVolume, ...]
    mounts: tuple[SpecMount, ...]
    state: int | None
    status: str
    exit_code: int | None
    recorded_exit_code: int | None
    recorded_exit_time: str | None
    started: str | None
    finished: str | None
    log_path: str | None
    uidmap: tuple[IDMapping, ...]
    gidmap: tuple[IDMapping, ...]
    config_path: str
    user_volumes: tuple[str, ...] = ()


class Pod(NamedTuple):
    """A pod (``PodConfig``; ``PodState.InfraContainerID``).

    A named tuple, as the records above: its class costs 0.15 ms to make at import against
    some 0.8 ms for a frozen slotted dataclass, at every podman command's start.
    """

    id: str
    name: str | None
    labels: tuple[tuple[str, str], ...]
    created: str | None
    infra_container_id: str | None
    containers: tuple[str, ...]
    config_path: str


class LibpodVolume(NamedTuple):
    """A volume (``VolumeConfig``) and the containers libpod says use it (as :class:`Pod`)."""

    name: str
    driver: str | None
    labels: tuple[tuple[str, str], ...]
    options: tuple[tuple[str, str], ...]
    mount_point: str | None
    created: str | None
    anonymous: bool
    containers: tuple[str, ...]
    config_path: str


class RuntimeConfig(NamedTuple):
    """The paths and driver libpod's database was created with (``runtime-config``/DBConfig)."""

    graph_driver: str | None
    graph_root: str | None
    run_root: str | None
    static_dir: str | None
    tmp_dir: str | None
    volume_path: str | None
    os: str | None


class RawContainer(NamedTuple):
    """A container's documents as the database holds them, not yet decoded.

    A named tuple, not a frozen dataclass: made by the thousand, several times faster.

    Attributes:
        id: the container ID (checked to name one directory entry).
        read: whether its records could be read at all (else a finding says why and nothing
            is decoded: no ``ctr/<id>`` bucket, a damaged page below it).
        config: the ``ContainerConfig`` JSON text, ``None`` when absent.
        state: the ``ContainerState`` JSON text, ``None`` when absent.
        where: where the config is (``libpod/bolt_state.db:ctr/<id>/config``), blamed for it.
        state_where: where the state is.
        name: the name kept beside the config (``all-ctrs``, the ``Name`` column).
        pod: the pod kept beside the config (``pod-id``, the ``PodID`` column).
        state_number: the ``State`` column (SQLite), used when the document has no ``state``.
        exit_code: the separate exit-code record.
        exit_time: when that record was written (RFC 3339).
    """

    id: str
    read: bool
    config: bytes | str | None
    state: bytes | str | None
    where: str
    state_where: str
    name: str | None = None
    pod: str | None = None
    state_number: int | None = None
    exit_code: int | None = None
    exit_time: str | None = None


class LibpodState(NamedTuple):
    """What one libpod database holds besides its containers, which are read on demand.

    Attributes:
        backend: ``bolt`` or ``sqlite``.
        path: the database file in the graph root.
        pods, volumes, runtime: as read (small: read whole).
        rows: every container's undecoded documents when the database was read with them
            (SQLite: one query); ``None`` when they are read from the file on demand (BoltDB,
            :mod:`.libpod_read`).
    """

    backend: Backend
    path: str
    pods: tuple[Pod, ...]
    volumes: tuple[LibpodVolume, ...]
    runtime: RuntimeConfig
    rows: tuple[RawContainer, ...] | None = None


def parse_doc(
    raw: bytes | str | None,
    findings: Findings,
    where: str,
    loads: Callable[[bytes | str], Any] = json.loads,
) -> dict[str, Any] | None:
    """A JSON object from the database, or ``None`` + finding (``loads``: as ``json.loads``)."""
    if raw is None:
        findings.error("missing-record", where, "expected a JSON record, found none")
        return None
    try:
        doc = loads(raw)
    except (ValueError, RecursionError) as exc:  # also a 5,000-digit number, deep nesting
        findings.error("malformed-json", where, f"expected JSON: {exc}")
        return None
    if not isinstance(doc, dict):
        findings.error("malformed-json", where, "expected a JSON object")
        return None
    return doc


def config_name(cfg: dict[str, Any], name: str | None) -> str | None:
    """The config's ``name``, else the name kept beside it."""
    return opt_str(cfg.get("name")) or name


def _binds(mounts: object) -> tuple[SpecMount, ...]:
    """The bind mounts of a spec's ``mounts``."""
    return tuple(
        SpecMount(m["destination"], "bind", opt_str(m.get("source")), str_tuple(m.get("options")))
        for m in as_list(mounts)
        if isinstance(m, dict) and m.get("type") == "bind" and isinstance(m.get("destination"), str)
    )


#: Go's zero time as ``encoding/json`` writes it (``finishedTime`` of a container that never
#: ended): :func:`timefmt.normalize` gives ``None`` for it, here without its regular expressions.
ZERO_TIME = "0001-01-01T00:00:00Z"


def _time(value: object) -> str | None:
    return None if value == ZERO_TIME else timefmt.normalize(value)


def make_container(
    cid: str,
    config: dict[str, Any] | None,
    state: dict[str, Any] | None,
    recorded_exit_code: int | None,
    config_path: str,
    *,
    name: str | None = None,
    pod: str | None = None,
    recorded_exit_time: str | None = None,
) -> LibpodContainer:
    """Build a :class:`LibpodContainer` from the config and state documents.

    Made a thousand times a command: the helpers of :mod:`.common` are called only where they
    can change a value (a helper of an empty or absent value gives ``()``, which is put
    directly: ``str_pairs``, ``parse_idmap``, ``as_list`` of anything false is empty), an
    exact ``str`` needs no ``opt_str``, and the tuple is made positionally.
    """
    get = config.get if config else _EMPTY.get
    spec = get("spec")
    ids = get("idMappingsOptions")
    if ids.__class__ is not dict:
        ids = as_dict(ids)
    if state is not None:
        state_no = state.get("state")
        if state_no.__class__ is not int:
            state_no = opt_int(state_no)
        exit_code = state.get("exitCode")
        exit_code = (exit_code if exit_code.__class__ is int else opt_int(exit_code)) or 0
        started, finished = _time(state.get("startedTime")), _time(state.get("finishedTime"))
    else:
        state_no = exit_code = started = finished = None
    labels, volumes = get("labels"), get("namedVolumes")
    uidmap, gidmap = ids.get("UIDMap"), ids.get("GIDMap")
    return _new(
        LibpodContainer,
        (
            cid,
            _str(get("name")) or name,
            _str(get("pod")) or pod,
            _str(get("rootfsImageID")),
            _str(get("rootfsImageName")),
            _str(get("RawImageName")),
            str_tuple(get("command")),
            str_tuple(get("CreateCommand")),
            _time(get("createdTime")),
            str_pairs(labels) if labels else (),
            _named_volumes(volumes) if volumes else (),
            _binds(spec.get("mounts")) if isinstance(spec, dict) else (),
            state_no,
            status_word(state_no),
            exit_code,
            recorded_exit_code,
            recorded_exit_time,
            started,
            finished,
            _str(get("logPath")),
            parse_idmap(uidmap) if uidmap else (),
            parse_idmap(gidmap) if gidmap else (),
            config_path,
            str_tuple(get("userVolumes")),
        ),
    )


_EMPTY: dict[str, Any] = {}
_new = tuple.__new__


def _str(value: object) -> str | None:
    """:func:`.common.opt_str`, a call cheaper."""
    return value if value.__class__ is str and value else opt_str(value)


def _named_volumes(volumes: object) -> tuple[NamedVolume, ...]:
    return tuple(
        NamedVolume(v["volumeName"], str(v.get("dest", "")), str_tuple(v.get("options")))
        for v in as_list(volumes)
        if isinstance(v, dict) and isinstance(v.get("volumeName"), str)
    )


def make_pod(
    pid: str,
    config: dict[str, Any] | None,
    state: dict[str, Any] | None,
    containers: tuple[str, ...],
    config_path: str,
    *,
    name: str | None = None,
) -> Pod:
    """Build a :class:`Pod` from its config and state documents."""
    cfg = config or {}
    return Pod(
        id=pid,
        name=opt_str(cfg.get("name")) or name,
        labels=str_pairs(cfg.get("labels")),
        created=timefmt.normalize(cfg.get("created")),
        infra_container_id=opt_str((state or {}).get("InfraContainerID")),
        containers=tuple(sorted(containers)),
        config_path=config_path,
    )


def make_volume(
    name: str, config: dict[str, Any] | None, containers: tuple[str, ...], config_path: str
) -> LibpodVolume:
    """Build a :class:`LibpodVolume` from its config document."""
    cfg = config or {}
    return LibpodVolume(
        name=name,
        driver=opt_str(cfg.get("volumeDriver")),
        labels=str_pairs(cfg.get("labels")),
        options=str_pairs(cfg.get("volumeOptions")),
        mount_point=opt_str(cfg.get("mountPoint")),
        created=timefmt.normalize(cfg.get("createdAt")),
        anonymous=cfg.get("isAnon") is True,
        containers=tuple(sorted(containers)),
        config_path=config_path,
    )
