"""``HostConfig`` and ``Mounts`` of ``podman container inspect``, from libpod's documents.

podman 4.3.1 builds them (libpod ``container_inspect.go``, ``generateInspectContainerHostConfig``,
``GetInspectMounts``, ``sortUserVolumes``) from the container's config document (libpod's
``ContainerConfig``) and its OCI spec: the spec the runtime was given (``state.configPath``,
``userdata/config.json``) once the container was initialised, else the config's own. Both are
in the graph root, so every field is given as podman gives it, except:

* ``Devices`` and the ``Blkio*Device*`` lists name host device nodes found by walking the live
  host's ``/dev`` for a major:minor pair: ``null`` when the spec lists any (``[]`` or, without
  a ``blockIO`` block, ``null``, as podman, when it lists none).

Namespace modes follow the spec's namespaces: none of a kind is ``host``, one with a path is
``ns:<path>``, one without is ``private`` (IPC: ``shareable`` unless ``--ipc`` said otherwise),
one shared with another container ``container:<id>`` (libpod's ``<kind>NsCtr``).
"""

from __future__ import annotations

from typing import Any

from storagekit.engines.podman.common import as_dict, as_list, opt_str
from storagekit.engines.podman.inspect_mounts import binds_and_tmpfs
from storagekit.termtext import human_size

#: ``generate.New("linux")``'s default bounding set (runtime-tools), against which podman
#: computes ``CapAdd`` / ``CapDrop``.
DEFAULT_CAPS = frozenset(
    f"CAP_{c}"
    for c in (
        "CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP "
        "NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE"
    ).split()
)
#: Every capability gocapability knows (podman 4.3.1), the set a privileged container starts from.
ALL_CAPS = frozenset(
    f"CAP_{c}"
    for c in (
        "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
        "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
        "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
        "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
        "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
        "CHECKPOINT_RESTORE"
    ).split()
)
TRUE = "TRUE"
#: ``HostConfig`` numbers podman does not set, or sets from the spec's resources when given.
ZERO_NUMBERS = (
    "BlkioWeight CpuShares CpuCount CpuPercent CpuPeriod CpuQuota CpuRealtimePeriod "
    "CpuRealtimeRuntime DiskQuota KernelMemory Memory MemoryReservation MemorySwap "
    "MemorySwappiness NanoCpus IOMaximumBandwidth IOMaximumIOps PidsLimit"
).split()
EMPTY_STRINGS = ("Isolation", "CpusetCpus", "CpusetMems")


def ns_mode(cfg: dict[str, Any], spec: dict[str, Any], kind: str, private: str) -> str:
    """How a namespace kind is set up: ``container:``, ``ns:``, ``private`` or ``host``.

    ``kind`` is the spec's type (``ipc``, ``pid``, ``uts``, ``cgroup``); libpod's config key
    for sharing another container's is ``<kind>NsCtr``. ``private`` is the word for one of
    the container's own.
    """
    shared = opt_str(cfg.get(f"{kind}NsCtr"))
    if shared:
        return f"container:{shared}"
    for ns in as_list(as_dict(spec.get("linux")).get("namespaces")):
        if as_dict(ns).get("type") == kind:
            path = opt_str(as_dict(ns).get("path"))
            return f"ns:{path}" if path else private
    return "host"


def network_mode(cfg: dict[str, Any], db_spec: dict[str, Any]) -> str:
    """``Container.NetworkMode``: the mode libpod configured, else what the spec says."""
    if cfg.get("createNetNS") is True:
        return opt_str(cfg.get("networkMode")) or ""
    if shared := opt_str(cfg.get("netNsCtr")):
        return f"container:{shared}"
    return ns_mode({}, db_spec, "network", "none")


def _ipc_mode(cfg: dict[str, Any], spec: dict[str, Any]) -> str:
    if cfg.get("noShm") is True:
        private = "none"
    elif cfg.get("noShmShare") is True:
        private = "private"
    else:
        private = "shareable"
    return ns_mode(cfg, spec, "ipc", private)


def _caps(spec: dict[str, Any], privileged: bool) -> tuple[list[str], list[str]]:
    process = spec.get("process")
    if not isinstance(process, dict):
        return [], []
    base = set(ALL_CAPS if privileged else DEFAULT_CAPS)
    added = []
    for cap in as_list(as_dict(process.get("capabilities")).get("bounding")):
        if cap in base:
            base.discard(cap)
        else:
            added.append(cap)
    return added, sorted(base)


def _port_bindings(cfg: dict[str, Any]) -> dict[str, Any]:
    """``makeInspectPortBindings``: each mapped port (and range), then exposed ports unbound."""
    out: dict[str, Any] = {}
    if cfg.get("createNetNS") is not True:
        return out
    for pm in as_list(cfg.get("newPortMappings")):
        p = as_dict(pm)
        for proto in str(p.get("protocol") or "").split(","):
            for i in range(int(p.get("range") or 0)):
                key = f"{int(p.get('container_port') or 0) + i}/{proto}"
                host = {
                    "HostIp": p.get("host_ip") or "",
                    "HostPort": str(int(p.get("host_port") or 0) + i),
                }
                out.setdefault(key, []).append(host)
    for port, protos in as_dict(cfg.get("exposedPorts")).items():
        for proto in as_list(protos):
            out.setdefault(f"{port}/{proto}", None)
    return out


def _resources(spec: dict[str, Any], host: dict[str, Any]) -> None:
    """Fill in the spec's resource limits (device lists: ``null``, they name host nodes)."""
    res = as_dict(as_dict(spec.get("linux")).get("resources"))
    cpu, mem = res.get("cpu"), res.get("memory")
    if isinstance(cpu, dict):
        for key, name in (
            ("shares", "CpuShares"),
            ("period", "CpuPeriod"),
            ("quota", "CpuQuota"),
            ("realtimePeriod", "CpuRealtimePeriod"),
            ("realtimeRuntime", "CpuRealtimeRuntime"),
        ):
            if isinstance(cpu.get(key), int):
                host[name] = cpu[key]
        host["CpusetCpus"] = opt_str(cpu.get("cpus")) or ""
        host["CpusetMems"] = opt_str(cpu.get("mems")) or ""
    if isinstance(mem, dict):
        for key, name in (
            ("limit", "Memory"),
            ("reservation", "MemoryReservation"),
            ("swap", "MemorySwap"),
        ):
            if isinstance(mem.get(key), int):
                host[name] = mem[key]
        swappiness = mem.get("swappiness")
        host["MemorySwappiness"] = swappiness if isinstance(swappiness, int) else -1
        host["OomKillDisable"] = mem.get("disableOOMKiller") is True
    pids = as_dict(res.get("pids"))
    if isinstance(pids.get("limit"), int):
        host["PidsLimit"] = pids["limit"]
    host["CgroupConf"] = res.get("unified") if isinstance(res.get("unified"), dict) else None
    blkio = res.get("blockIO")
    if isinstance(blkio, dict):
        host["BlkioWeight"] = blkio.get("weight") if isinstance(blkio.get("weight"), int) else 0
        for key, name in (
            ("weightDevice", "BlkioWeightDevice"),
            ("throttleReadBpsDevice", "BlkioDeviceReadBps"),
            ("throttleWriteBpsDevice", "BlkioDeviceWriteBps"),
            ("throttleReadIOPSDevice", "BlkioDeviceReadIOps"),
            ("throttleWriteIOPSDevice", "BlkioDeviceWriteIOps"),
        ):
            listed = as_list(blkio.get(key))
            host[name] = None if listed else []
    if host["CpuPeriod"] == 100000:
        host["NanoCpus"] = 10000 * host["CpuQuota"]


def host_config(
    cfg: dict[str, Any], spec: dict[str, Any], db_spec: dict[str, Any]
) -> dict[str, Any]:
    """``HostConfig``: ``spec`` is the container's spec as podman reads it (``specFromState``)."""
    notes = as_dict(spec.get("annotations"))
    privileged = notes.get("io.podman.annotations.privileged") == TRUE
    cap_add, cap_drop = _caps(spec, privileged)
    binds, tmpfs = binds_and_tmpfs(cfg, spec)
    process = as_dict(spec.get("process"))
    manager = opt_str(cfg.get("cgroupManager")) or ""
    default_parent = {"cgroupfs": "/libpod_parent", "systemd": "machine.slice"}.get(manager, "")
    parent = opt_str(cfg.get("cgroupParent")) or ""
    ids = as_dict(cfg.get("idMappingsOptions"))
    host: dict[str, Any] = {
        "Binds": binds,
        "CgroupManager": manager,
        "CgroupMode": ns_mode(cfg, spec, "cgroup", "private"),
        "ContainerIDFile": opt_str(notes.get("io.podman.annotations.cid-file")) or "",
        "LogConfig": {
            "Type": opt_str(cfg.get("logDriver")) or "",
            "Config": None,
            "Path": opt_str(cfg.get("logPath")) or "",
            "Tag": opt_str(cfg.get("logTag")) or "",
            "Size": human_size(_int(cfg.get("logSize"))),
        },
        "NetworkMode": network_mode(cfg, db_spec),
        "PortBindings": _port_bindings(cfg),
        "RestartPolicy": {
            "Name": opt_str(cfg.get("restart_policy")) or "",
            "MaximumRetryCount": cfg.get("restart_retries") or 0,
        },
        "AutoRemove": notes.get("io.podman.annotations.autoremove") == TRUE,
        "VolumeDriver": "",
        "VolumesFrom": (
            str(notes["io.podman.annotations.volumes-from"]).split(",")
            if "io.podman.annotations.volumes-from" in notes
            else None
        ),
        "CapAdd": cap_add,
        "CapDrop": cap_drop,
        "Dns": [str(x) for x in as_list(cfg.get("dnsServer"))],
        "DnsOptions": list(as_list(cfg.get("dnsOption"))),
        "DnsSearch": list(as_list(cfg.get("dnsSearch"))),
        "ExtraHosts": list(as_list(cfg.get("hostsAdd"))),
        "GroupAdd": list(as_list(cfg.get("groups"))),
        "IpcMode": _ipc_mode(cfg, spec),
        "Cgroup": "",
        "Cgroups": "disabled" if cfg.get("noCgroups") is True else "default",
        "Links": None,
        "OomScoreAdj": process.get("oomScoreAdj")
        if isinstance(process.get("oomScoreAdj"), int)
        else 0,
        "PidMode": ns_mode(cfg, spec, "pid", "private"),
        "Privileged": privileged,
        "PublishAllPorts": notes.get("io.podman.annotations.publish-all") == TRUE,
        "ReadonlyRootfs": as_dict(spec.get("root")).get("readonly") is True,
        "SecurityOpt": security_options(db_spec),
        "Tmpfs": tmpfs,
        "UTSMode": ns_mode(cfg, spec, "uts", "private"),
        "UsernsMode": "" if (m := ns_mode(cfg, spec, "user", "private")) == "host" else m,
        "ShmSize": cfg.get("shmSize") if isinstance(cfg.get("shmSize"), int) else 0,
        "Runtime": "oci",
        "OomKillDisable": False,
        "ConsoleSize": [0, 0],
        "Init": notes.get("io.podman.annotations.init") == TRUE,
        "Ulimits": [
            {"Name": r.get("type"), "Soft": r.get("soft"), "Hard": r.get("hard")}
            for r in (as_dict(x) for x in as_list(process.get("rlimits")))
        ],
        "CgroupParent": parent if parent != default_parent else "",
        "BlkioWeightDevice": None,
        "BlkioDeviceReadBps": None,
        "BlkioDeviceWriteBps": None,
        "BlkioDeviceReadIOps": None,
        "BlkioDeviceWriteIOps": None,
        "CgroupConf": None,
    }
    host.update(dict.fromkeys(ZERO_NUMBERS, 0))
    host.update(dict.fromkeys(EMPTY_STRINGS, ""))
    host["Devices"] = []
    if not host["Init"]:
        del host["Init"]  # omitempty
    if ids.get("UIDMap") is not None and ids.get("GIDMap") is not None:
        host["IDMappings"] = {
            "UidMap": [_idmap(x) for x in as_list(ids["UIDMap"])],
            "GidMap": [_idmap(x) for x in as_list(ids["GIDMap"])],
        }
    _resources(spec, host)
    if not privileged and as_list(as_dict(spec.get("linux")).get("devices")):
        host["Devices"] = None  # host device node paths: the live host's /dev
    return host


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _idmap(m: object) -> str:
    d = as_dict(m)
    return f"{d.get('container_id', 0)}:{d.get('host_id', 0)}:{d.get('size', 0)}"


def security_options(spec: dict[str, Any]) -> list[str]:
    """``GetSecurityOptions``: no-new-privileges and the label/seccomp/apparmor annotations."""
    out = []
    if as_dict(spec.get("process")).get("noNewPrivileges") is True:
        out.append("no-new-privileges")
    notes = as_dict(spec.get("annotations"))
    for key, word in (
        ("io.podman.annotations.label", "label"),
        ("io.podman.annotations.seccomp", "seccomp"),
        ("io.podman.annotations.apparmor", "apparmor"),
    ):
        if key in notes:
            out.append(f"{word}={notes[key]}")
    return out
