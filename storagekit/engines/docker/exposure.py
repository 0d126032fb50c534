"""Exposure: the settings that let a container reach its host, from the evidence alone.

What an incident responder reads first: per container, every setting that weakens the
isolation Docker gives by default, read from ``hostconfig.json`` (``Privileged``,
``CapAdd``, ``NetworkMode``/``PidMode``/``IpcMode``/``UsernsMode``/``UTSMode``,
``SecurityOpt``, ``PortBindings``, ``PublishAllPorts``, ``Devices``) and ``config.v2.json``
(``MountPoints`` with their ``RW`` flag, ``NoNewPrivileges``, ``SeccompProfile``,
``AppArmorProfile``). Each finding names the container, the setting and its value, with a
severity: ``high`` (the container can take the host: privileged, the Docker socket or the
host's root bind-mounted, the host's PID namespace, ``SYS_ADMIN``-class capabilities),
``medium`` (other host namespaces, writable sensitive host paths, unconfined seccomp or
AppArmor, other added capabilities, devices, published ports), ``low`` (``no-new-privileges``
not set, which is Docker's default).

References: moby v20.10 ``api/types/container/hostconfig.go``, ``daemon/oci_linux.go``
(``WithCapabilities``, namespaces, seccomp/AppArmor), ``daemon/container/container.go``
(``NoNewPrivileges``); CIS Docker Benchmark §5 (container runtime).
"""

from __future__ import annotations

from typing import Any

from storagekit.engines.docker.artefacts import as_dict, as_str, read_json
from storagekit.engines.docker.root import DockerRoot
from storagekit.jsontext import Record
from storagekit.model import Container

#: Capabilities that amount to root on the host (escape or full control of the kernel).
HOST_CAPS = frozenset(
    {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "DAC_READ_SEARCH", "BPF"}
)
SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/var/run/crio/crio.sock",
)
SENSITIVE = (
    "/etc",
    "/root",
    "/boot",
    "/dev",
    "/proc",
    "/sys",
    "/usr",
    "/lib",
    "/bin",
    "/sbin",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/kubelet",
    "/var/log",
    "/var/run",
    "/run",
    "/home",
)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _finding(c: Container, severity: str, setting: str, value: Any, message: str) -> Record:
    return {
        "container": c.id,
        "name": c.name,
        "severity": severity,
        "setting": setting,
        "value": value,
        "message": message,
    }


def _cap(name: str) -> str:
    upper = name.upper()
    return upper.removeprefix("CAP_")


def _security_opts(host: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for opt in host.get("SecurityOpt") or []:
        if isinstance(opt, str):
            key, _, value = opt.replace(":", "=", 1).partition("=")
            found[key] = value or "true"
    return found


def container_exposure(root: DockerRoot, c: Container) -> list[Record]:
    """The exposure findings of one container, most severe first, in a fixed order."""
    base = f"containers/{c.id}"
    config = as_dict(read_json(root.source, c.config_path, root.findings, what="container config"))
    host = as_dict(
        read_json(
            root.source,
            f"{base}/hostconfig.json",
            root.findings,
            what="host config",
            required=False,
        )
    )
    out: list[Record] = []
    if host.get("Privileged"):
        out.append(
            _finding(c, "high", "Privileged", True, "privileged: every capability and device")
        )
    for raw in host.get("CapAdd") or []:
        cap = _cap(as_str(raw))
        severity = "high" if cap in HOST_CAPS else "medium"
        out.append(_finding(c, severity, "CapAdd", cap, f"capability {cap} added"))
    for key, what in (
        ("PidMode", "PID"),
        ("NetworkMode", "network"),
        ("IpcMode", "IPC"),
        ("UsernsMode", "user"),
        ("UTSMode", "UTS"),
    ):
        if as_str(host.get(key)) == "host":
            severity = "high" if key == "PidMode" else "medium"
            out.append(_finding(c, severity, key, "host", f"shares the host's {what} namespace"))
    for m in c.mounts:
        if m.type != "bind":
            continue
        where = f"{m.source} -> {m.destination}"
        mode = "read-only" if m.read_only else "writable"
        if any(m.source == s for s in SOCKETS) or m.source.endswith("/docker.sock"):
            out.append(
                _finding(
                    c, "high", "Mounts", where, f"container engine socket bind-mounted ({mode})"
                )
            )
        elif m.source.rstrip("/") == "":
            out.append(
                _finding(c, "high", "Mounts", where, f"the host's root bind-mounted ({mode})")
            )
        elif not m.read_only and any(_under(m.source, top) for top in SENSITIVE):
            out.append(
                _finding(c, "medium", "Mounts", where, "sensitive host path bind-mounted writable")
            )
    opts = _security_opts(host)
    seccomp = opts.get("seccomp") or as_str(config.get("SeccompProfile"))
    if seccomp == "unconfined":
        out.append(_finding(c, "medium", "SecurityOpt", "seccomp=unconfined", "no seccomp filter"))
    apparmor = opts.get("apparmor") or as_str(config.get("AppArmorProfile"))
    if apparmor == "unconfined":
        out.append(
            _finding(c, "medium", "SecurityOpt", "apparmor=unconfined", "no AppArmor profile")
        )
    for dev in host.get("Devices") or []:
        d = as_dict(dev)
        path = as_str(d.get("PathOnHost"))
        out.append(_finding(c, "medium", "Devices", path, f"host device {path} passed in"))
    ports = _published(host)
    if ports:
        out.append(_finding(c, "medium", "PortBindings", ports, "ports published on the host"))
    if host.get("PublishAllPorts"):
        out.append(_finding(c, "medium", "PublishAllPorts", True, "every exposed port published"))
    nnp = opts.get("no-new-privileges", "false") in ("true", "") or bool(
        config.get("NoNewPrivileges")
    )
    if not nnp:
        out.append(
            _finding(
                c,
                "low",
                "NoNewPrivileges",
                False,
                "no-new-privileges not set (setuid binaries work)",
            )
        )
    return out


def _published(host: dict[str, Any]) -> list[str]:
    """``PortBindings`` as ``docker ps`` shows them: ``0.0.0.0:8080->80/tcp``."""
    found = []
    for port, bindings in sorted(as_dict(host.get("PortBindings")).items()):
        for b in bindings or []:
            binding = as_dict(b)
            ip = as_str(binding.get("HostIp")) or "0.0.0.0"
            found.append(f"{ip}:{as_str(binding.get('HostPort')) or '*'}->{port}")
    return found


SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def exposure_records(root: DockerRoot) -> list[Record]:
    """Every container's exposure, most severe first, then by container name."""
    found = [r for c in root.containers.values() for r in container_exposure(root, c)]
    return sorted(found, key=lambda r: (SEVERITY_ORDER[r["severity"]], r["name"], r["container"]))
