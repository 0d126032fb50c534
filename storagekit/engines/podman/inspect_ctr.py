"""``inspect`` of a podman container: ``podman container inspect``'s record, from the evidence.

podman 4.3.1 builds it (libpod ``container_inspect.go``, ``getContainerInspectData``) from two
documents libpod keeps per container — its ``ContainerConfig`` (with the OCI spec it was
created with) and its ``ContainerState`` — read here whole for the one container from the
database (BoltDB or SQLite, :mod:`.libpod_read`), from the spec the runtime was given once the
container was initialised (``state.configPath``: ``userdata/config.json`` under the graph
root; podman reads the same file, ``specFromState``, for the environment, annotations and
capabilities the runtime really got), from ``containers.json`` (the driver), ``images.json``
(the image digest) and ``layers.json`` (``GraphDriver``: overlay's ``Metadata`` of the
container's layer, ``MergedDir`` while libpod records it mounted).

Left ``null`` because the evidence cannot hold them (the live host or process):

* ``State.CgroupPath`` of a running container (read from ``/proc/<pid>/cgroup``);
* ``State.Health`` of a container with a health check (its log lives in the run directory);
* ``NetworkSettings`` of a container with a network namespace libpod configured
  (``createNetNS``: its addresses are the network backend's state), or one sharing such a
  container's;
* ``Config.Hostname`` of a container in the host's UTS namespace (the live host's name);
* ``HostConfig.Devices`` / ``Blkio*Device*`` when the spec lists devices (host ``/dev`` paths).

Everything else is given as recorded: ``State.Pid`` and ``ConmonPid`` of a container that was
running when the root was copied are its last recorded ones, as podman would have printed.
``SizeRw`` / ``SizeRootFs`` (``--size``) are not given.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from storagekit.engines.podman.common import as_dict, as_list, opt_str
from storagekit.engines.podman.images import MAX_CONFIG
from storagekit.engines.podman.inspect import go_time, graph_driver
from storagekit.engines.podman.inspect_host import host_config
from storagekit.engines.podman.inspect_mounts import inspect_mounts
from storagekit.engines.podman.libpod import status_word
from storagekit.engines.podman.libpod_read import documents, open_records
from storagekit.errors import SourceError, StoragekitError
from storagekit.jsontext import Record
from storagekit.model import Findings

if TYPE_CHECKING:
    from storagekit.engines.podman.inventory import Inventory

ZERO_TIME = "0001-01-01T00:00:00Z"
#: ``define.HealthCheckOnFailureAction`` words.
ON_FAILURE = {0: "none", 1: "kill", 2: "restart", 3: "stop"}
#: libpod's config keys of the containers whose namespaces this one joins.
NS_KEYS = ("ipcNsCtr", "mountNsCtr", "netNsCtr", "pidNsCtr", "userNsCtr", "utsNsCtr", "cgroupNsCtr")
EMPTY_NETWORK: dict[str, Any] = {
    "EndpointID": "",
    "Gateway": "",
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "MacAddress": "",
    "Bridge": "",
    "SandboxID": "",
    "HairpinMode": False,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {},
    "SandboxKey": "",
}


class Documents:
    """The libpod documents of containers, each fetched once from the database."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self._docs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def get(self, cid: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The config and state of ``cid`` (``None``: libpod has no usable record of it)."""
        if cid not in self._docs:
            state = self.inv.root.libpod
            if state is None or cid not in self.inv.libpod:  # the inventory's findings
                return None
            records = open_records(self.inv.source, state)
            try:
                config, st = documents(records.fetch(cid, Findings()), Findings())
            finally:
                records.close()
            if config is None:
                return None
            self._docs[cid] = (config, st or {})
        return self._docs[cid]

    def runtime_spec(self, config: dict[str, Any], state: dict[str, Any], graph_root: str) -> Any:
        """``specFromState``: the spec the runtime got (``configPath``), else the config's."""
        path = opt_str(state.get("configPath")) or ""
        prefix = graph_root.rstrip("/") + "/"
        if path.startswith(prefix):
            where = path[len(prefix) :]
            if self.inv.source.exists(where):  # podman too falls back only when it is absent
                try:
                    doc = json.loads(self.inv.source.read_bytes(where, MAX_CONFIG))
                    problem = "not a JSON object"
                except (SourceError, ValueError, RecursionError) as exc:
                    doc, problem = None, str(exc)
                if isinstance(doc, dict):
                    return doc
                self.inv.findings.error(
                    "bad-runtime-spec", where, f"expected an OCI spec: {problem}"
                )
        return as_dict(config.get("spec"))


def _state(
    inv: Inventory, cid: str, state: dict[str, Any], spec: dict[str, Any], health: bool
) -> Record:
    number = state.get("state") if isinstance(state.get("state"), int) else None
    running = number == 3
    out: Record = {
        "OciVersion": opt_str(spec.get("ociVersion")) or "",
        "Status": status_word(number),
        "Running": running,
        "Paused": number == 5,
        "Restarting": False,
        "OOMKilled": state.get("oomKilled") is True,
        "Dead": False,
        "Pid": state.get("pid") if isinstance(state.get("pid"), int) else 0,
        "ExitCode": state.get("exitCode") if isinstance(state.get("exitCode"), int) else 0,
        "Error": "",
        "StartedAt": go_time(state.get("startedTime")) or ZERO_TIME,
        "FinishedAt": go_time(state.get("finishedTime")) or ZERO_TIME,
        "Health": None if health else {"Status": "", "FailingStreak": 0, "Log": None},
        "CheckpointedAt": go_time(state.get("checkpointedTime")) or ZERO_TIME,
        "RestoredAt": go_time(state.get("restoredTime")) or ZERO_TIME,
    }
    if isinstance(conmon := state.get("conmonPid"), int) and conmon:
        out["ConmonPid"] = conmon
    if running:
        out["CgroupPath"] = None  # the live process's cgroup (/proc/<pid>/cgroup)
    for key, name in (
        ("checkpointed", "Checkpointed"),
        ("restored", "Restored"),
        ("checkpointPath", "CheckpointPath"),
        ("checkpointLog", "CheckpointLog"),
        ("restoreLog", "RestoreLog"),
    ):
        if state.get(key):
            out[name] = state[key]
    return out


def _hostname(docs: Documents, config: dict[str, Any], depth: int = 0) -> str | None:
    """``Container.Hostname``: the UTS owner's, the spec's, else the short ID (private UTS)."""
    uts = opt_str(config.get("utsNsCtr"))
    if uts:
        other = docs.get(uts) if depth < 8 else None
        return _hostname(docs, other[0], depth + 1) if other else ""
    spec = as_dict(config.get("spec"))
    if name := opt_str(spec.get("hostname")):
        return name
    spaces = as_list(as_dict(spec.get("linux")).get("namespaces"))
    if not any(as_dict(ns).get("type") == "uts" for ns in spaces):
        return None  # the host's name
    cid = str(config.get("id") or "")
    return cid if len(cid) < 11 else cid[:12]


def _config(
    docs: Documents, config: dict[str, Any], spec: dict[str, Any], image_name: str
) -> Record:
    process = as_dict(spec.get("process"))
    umask = opt_str(config.get("umask")) or ""
    labels = as_dict(config.get("labels"))
    notes = as_dict(spec.get("annotations"))
    command = as_list(config.get("command"))
    out: Record = {
        "Hostname": _hostname(docs, config),
        "Domainname": "",
        "User": opt_str(config.get("user")) or "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": process.get("terminal") is True,
        "OpenStdin": config.get("stdin") is True,
        "StdinOnce": False,
        "Env": list(as_list(process.get("env"))),
        "Cmd": list(command) if command else None,
        "Image": image_name,
        "Volumes": None,
        "WorkingDir": opt_str(process.get("cwd")) or "",
        "Entrypoint": " ".join(str(x) for x in as_list(config.get("entrypoint"))),
        "OnBuild": None,
        "Labels": dict(labels) if labels else None,
        "Annotations": dict(notes) if notes else None,
        "StopSignal": config.get("stopSignal") or 0,
        "HealthcheckOnFailureAction": ON_FAILURE.get(
            config.get("healthcheck_on_failure_action") or 0, "invalid"
        ),
        "CreateCommand": config.get("CreateCommand"),
        "Timezone": config.get("timezone"),
        "SystemdMode": config.get("systemd") is True,
        "Umask": umask.rjust(4, "0") if umask else "0000",
        "Secrets": [
            {k: as_dict(s).get(k.lower()) for k in ("Name", "ID", "UID", "GID", "Mode")}
            for s in as_list(config.get("secrets"))
        ],
        "Timeout": config.get("timeout") or 0,
        "StopTimeout": config.get("stopTimeout") or 0,
        "Passwd": config.get("passwd"),
        "ChrootDirs": config.get("chroot_directories"),
        "sdNotifyMode": config.get("sdnotifyMode"),
    }
    if isinstance(config.get("healthcheck"), dict):
        out["Healthcheck"] = config["healthcheck"]
    for key in ("CreateCommand", "Timezone", "SystemdMode", "Secrets", "Passwd", "ChrootDirs"):
        if out[key] in (None, "", False, []):
            del out[key]  # omitempty
    if not out["sdNotifyMode"]:
        del out["sdNotifyMode"]
    return out


def _network(docs: Documents, config: dict[str, Any]) -> Record | None:
    """Empty settings for a container without a configured network, else ``null``."""
    if config.get("createNetNS") is True:
        return None
    if owner := opt_str(config.get("netNsCtr")):
        other = docs.get(owner)
        if other is None or other[0].get("createNetNS") is True:
            return None
    return dict(EMPTY_NETWORK)


def _dependencies(config: dict[str, Any]) -> list[str]:
    found = [config.get(k) for k in NS_KEYS] + list(as_list(config.get("Dependencies")))
    return list(dict.fromkeys(x for x in found if isinstance(x, str) and x))


def container_inspect(inv: Inventory, docs: Documents, cid: str, graph_root: str) -> Record:
    """``podman container inspect`` of one container libpod knows.

    Raises:
        StoragekitError: libpod has no usable record of it (podman could not inspect it).
    """
    found = docs.get(cid)
    if found is None:
        raise StoragekitError(f"container {cid} has no usable libpod record to inspect")
    config, state = found
    spec = docs.runtime_spec(config, state, graph_root)
    db_spec = as_dict(config.get("spec"))
    args = list(as_list(as_dict(db_spec.get("process")).get("args")))
    image_id = opt_str(config.get("rootfsImageID")) or ""
    image = inv.store_images.get(image_id)
    bind = as_dict(state.get("bindMounts"))
    volumes = {v.name: (v.driver or "", v.mount_point or "") for v in inv.libpod_volumes.values()}
    store = inv.store_containers.get(cid)
    record: Record = {
        "Id": cid,
        "Created": go_time(config.get("createdTime")) or ZERO_TIME,
        "Path": args[0] if args else "",
        "Args": args[1:] if len(args) > 1 else args,
        "State": _state(inv, cid, state, spec, isinstance(config.get("healthcheck"), dict)),
        "Image": image_id,
        "ImageDigest": (image.digest or "") if image else "",
        "ImageName": opt_str(config.get("rootfsImageName")) or "",
        "Rootfs": opt_str(config.get("rootfs")) or "",
        "Pod": opt_str(config.get("pod")) or "",
        "ResolvConfPath": opt_str(bind.get("/etc/resolv.conf")) or "",
        "HostnamePath": opt_str(bind.get("/etc/hostname")) or "",
        "HostsPath": opt_str(bind.get("/etc/hosts")) or "",
        "StaticDir": opt_str(config.get("staticDir")) or "",
        "OCIConfigPath": opt_str(state.get("configPath")),
        "OCIRuntime": opt_str(config.get("runtime")) or "",
        "ConmonPidFile": opt_str(config.get("conmonPidFile")) or "",
        "PidFile": opt_str(config.get("pid_file")) or "",
        "Name": opt_str(config.get("name")) or "",
        "RestartCount": state.get("restartCount") or 0,
        "Driver": store.driver if store is not None else "",
        "MountLabel": opt_str(config.get("MountLabel")) or "",
        "ProcessLabel": opt_str(config.get("ProcessLabel")) or "",
        "AppArmorProfile": opt_str(as_dict(spec.get("process")).get("apparmorProfile")) or "",
        "EffectiveCaps": as_dict(as_dict(spec.get("process")).get("capabilities")).get("effective"),
        "BoundingCaps": as_dict(as_dict(spec.get("process")).get("capabilities")).get("bounding"),
        "ExecIDs": list(as_dict(state.get("execSessions"))),
        "GraphDriver": graph_driver(
            store.driver if store is not None else "",
            inv.container_chains.get(cid, ()),
            graph_root,
            mounted=state.get("mounted") is True,
        ),
        "Mounts": inspect_mounts(config, spec, volumes),
        "Dependencies": _dependencies(config),
        "NetworkSettings": _network(docs, config),
        "Namespace": opt_str(config.get("namespace")) or "",
        "IsInfra": config.get("pause") is True,
        "IsService": config.get("isService") is True,
        "Config": _config(docs, config, spec, opt_str(config.get("rootfsImageName")) or ""),
        "HostConfig": host_config(config, spec, db_spec),
    }
    if record["OCIConfigPath"] is None:
        del record["OCIConfigPath"]  # omitempty
    return record
