"""Containers: ``containers/<id>/config.v2.json``.

``config.v2.json`` is Go's ``container.Container`` serialised with default field names: ``ID``,
``Name`` (with a leading ``/``), ``Image`` (image ID), ``Config`` (``Image`` is what the user
typed), ``State`` (``Running``, ``Paused``, ``Restarting``, ``Dead``, ``ExitCode``, ``StartedAt``,
``FinishedAt``), ``Driver``, ``MountPoints`` (destination -> mount point; ``--tmpfs`` mounts
live in ``hostconfig.json`` ``Tmpfs`` instead, as ``docker inspect`` shows them). The status is
derived as ``State.State()`` does. An offline reader sees the state of the last checkpoint:
after a crash ``Running`` stays true although nothing runs. ``NetworkSettings.Ports``
(``"80/tcp"`` -> host bindings or ``null``) is what ``docker ps`` lists as PORTS: the daemon
fills it when the container starts and empties it when it stops, so a stopped container lists
none, whatever it publishes.

References: moby ``daemon/container/container.go``, ``daemon/container/state.go``,
``daemon/volume/mounts/mounts.go``, ``api/types/container/hostconfig.go``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from storagekit.engines.docker.artefacts import as_dict, as_int, as_str, read_json
from storagekit.engines.docker.locate import is_pre_cas_root
from storagekit.errors import SourceError, UnsafePathError
from storagekit.ids import is_hex64, is_safe_component
from storagekit.model import Container, Findings, MountPoint, Port
from storagekit.parallel import pmap
from storagekit.source import Source, normpath
from storagekit.timefmt import normalize

T = TypeVar("T")


def derive_status(state: dict[str, Any]) -> str:
    """Docker's ``State.StateString()``: the precedence Docker itself uses."""
    if state.get("Running"):
        if state.get("Paused"):
            return "paused"
        if state.get("Restarting"):
            return "restarting"
        return "running"
    if state.get("RemovalInProgress"):
        return "removing"
    if state.get("Dead"):
        return "dead"
    if normalize(state.get("StartedAt")) is None:
        return "created"
    return "exited"


def _inside(destination: str) -> bool:
    """Whether a mount destination is a path inside the container (no ``..``, no NUL)."""
    try:
        normpath(destination)
    except UnsafePathError:
        return False
    return True


def _mount(destination: str, raw: dict[str, Any]) -> MountPoint:
    """One ``MountPoints`` value; an old Docker without ``Type`` but with a ``Name`` is a volume."""
    kind = as_str(raw.get("Type"))
    name = as_str(raw.get("Name"))
    if not kind:
        kind = "volume" if name else "bind"
    return MountPoint(
        type=kind,
        name=name,
        source=as_str(raw.get("Source")),
        destination=as_str(raw.get("Destination"), destination),
        read_only=not raw.get("RW", True),
        driver=as_str(raw.get("Driver")),
        propagation=as_str(raw.get("Propagation")),
        mode=as_str(raw.get("Relabel")) or as_str(raw.get("Mode")),
    )


def recorded_root(config: dict[str, Any], cid: str) -> str:
    """The host path of the Docker root, from the paths Docker recorded for this container."""
    for key in ("HostnamePath", "HostsPath", "ResolvConfPath", "LogPath"):
        value = as_str(config.get(key))
        marker = f"/containers/{cid}/"
        if value.startswith("/") and marker in value:
            return value.split(marker, 1)[0] or "/"
    return ""


def _command(config: dict[str, Any]) -> tuple[str, ...]:
    args = config.get("Args")
    parts = [as_str(config.get("Path"))] if config.get("Path") else []
    if isinstance(args, list):
        parts.extend(a for a in args if isinstance(a, str))
    return tuple(parts)


def read_container(
    source: Source, cid: str, findings: Findings, *, pre_cas: bool = False
) -> Container | None:
    """Read one container directory; ``None`` (and a finding) if its config is unusable.

    ``pre_cas``: the root was last run by Docker <= 1.9 (:func:`storagekit.engines.docker.locate.
    is_pre_cas_root`), whose containers have only ``config.json``. That file has the fields
    read here under the same names (*moby v1.9.1:daemon/container.go*; 1.10's migration copied
    it into ``config.v2.json`` changing only ``Image``, *migrate/v1/migratev1.go*), except that
    ``Image`` is the bare v1 image ID, kept as found. In a root a 1.10+ daemon has run, a
    container with only ``config.json`` is one whose image was not migrated: Docker no longer
    loads it, and neither does storagekit.
    """
    # The config is opened directly rather than after a scan of the directory, whose logs and
    # generated files an inventory never needs; the legacy name is looked for only without it.
    path = f"containers/{cid}/config.v2.json"
    legacy = f"containers/{cid}/config.json"
    if pre_cas and not source.exists(path):
        path = legacy
    config = read_json(source, path, findings, what="container config", required=False)
    if config is None:
        if source.exists(path):
            return None  # unreadable or invalid: read_json reported it
        if path != legacy and source.exists(legacy):
            findings.warning(
                "legacy-container",
                legacy,
                "container from Docker < 1.10 (config.json, no config.v2.json); not read",
            )
        else:
            findings.error("missing-file", path, "container config is missing")
        return None
    if not isinstance(config, dict):
        findings.error("bad-container-config", path, "container config is not a JSON object")
        return None
    if config.get("ID") != cid:
        findings.warning(
            "container-id-mismatch", path, f"ID in config is {config.get('ID')!r}, not {cid}"
        )
    state = as_dict(config.get("State"))
    cfg = as_dict(config.get("Config"))
    labels = as_dict(cfg.get("Labels"))
    mounts = [
        _mount(dest, as_dict(raw))
        for dest, raw in as_dict(config.get("MountPoints")).items()
        if isinstance(dest, str)
    ]
    for m in mounts:
        if not _inside(m.destination):
            findings.error(
                "unsafe-path", path, f"mount destination leaves the container: {m.destination!r}"
            )
        if m.type == "volume" and m.name and not is_safe_component(m.name):
            # Never a path: the volume's data is then simply not found in the evidence.
            findings.error(
                "unsafe-id",
                path,
                f"volume name of the mount at {m.destination} cannot be a path: {m.name!r}",
            )
    return Container(
        id=cid,
        name=as_str(config.get("Name")),
        image=as_str(cfg.get("Image")),
        image_id=as_str(config.get("Image")),
        status=derive_status(state),
        exit_code=as_int(state.get("ExitCode")),
        running=bool(state.get("Running")),
        pid=as_int(state.get("Pid")),
        created=normalize(config.get("Created")),
        started=normalize(state.get("StartedAt")),
        finished=normalize(state.get("FinishedAt")),
        driver=as_str(config.get("Driver")),
        mounts=tuple(sorted(mounts, key=lambda m: m.destination)),
        labels=tuple(sorted((k, v) for k, v in labels.items() if isinstance(v, str))),
        command=_command(config),
        log_path=as_str(config.get("LogPath")),
        data_root=recorded_root(config, cid),
        config_path=path,
        ports=ports(as_dict(as_dict(config.get("NetworkSettings")).get("Ports"))),
    )


def ports(recorded: dict[str, Any]) -> tuple[Port, ...]:
    """``NetworkSettings.Ports`` as the daemon's container view lists them.

    An exposed port without bindings once, a bound one once per binding; malformed ports are
    left out, as the daemon skips them (moby *container/view.go*).
    """
    found = []
    for key, bindings in recorded.items():
        number, _, kind = key.partition("/")
        if not number.isdigit() or int(number) > 65535:
            continue
        if not isinstance(bindings, list) or not bindings:
            found.append(Port(int(number), kind or "tcp"))
            continue
        for binding in bindings:
            host = as_dict(binding)
            public = as_str(host.get("HostPort")) or "0"
            if public.isdigit() and int(public) <= 65535:
                found.append(
                    Port(int(number), kind or "tcp", as_str(host.get("HostIp")), int(public))
                )
    return tuple(found)


def container_ids(source: Source, findings: Findings) -> list[str]:
    """The IDs of ``containers/``'s container directories; anything else is a finding."""
    try:
        names, others = source.subdirs("containers")
    except SourceError:
        return []
    for name in others:
        findings.warning(
            "unexpected-entry", f"containers/{name}", "container entry is not a directory"
        )
    ids = []
    for name in names:
        if not is_hex64(name):
            findings.warning(
                "unexpected-entry", f"containers/{name}", "not a container ID (64 hex)"
            )
            continue
        ids.append(name)
    return ids


def each_container(
    source: Source, findings: Findings, then: Callable[[Container], T], label: str
) -> list[T]:
    """``then(container)`` for every readable container of ``containers/``, on every core.

    ``then`` runs where the container was read (a forked worker, possibly), so a caller that
    needs only part of each container gets back only that part. Unreadable containers (each a
    finding) are left out. A worker is forked only onto a core nothing else is running on: a
    thousand containers are 0.15 s of work, which a worker sharing a busy core makes longer
    (forking it, and each process resolving the same overlay2 links, cost some 30 ms of CPU).
    """
    pre_cas = is_pre_cas_root(source)  # decided once, before the workers fork
    found = pmap(
        lambda cid: read_then(source, cid, findings, then, pre_cas=pre_cas),
        container_ids(source, findings),
        source=source,
        findings=findings,
        label=label,
        spare_only=True,
    )
    return [value for value in found if value is not None]


def read_then(
    source: Source,
    cid: str,
    findings: Findings,
    then: Callable[[Container], T],
    *,
    pre_cas: bool = False,
) -> T | None:
    """``then(container)`` for one container directory; ``None`` if it is unreadable.

    ``pre_cas`` as for :func:`read_container`.
    """
    container = read_container(source, cid, findings, pre_cas=pre_cas)
    return None if container is None else then(container)


def read_containers(source: Source, findings: Findings) -> dict[str, Container]:
    """Every readable container of ``containers/``, by ID (read on every core)."""
    found = each_container(source, findings, lambda c: c, "reading containers")
    return {c.id: c for c in found}
