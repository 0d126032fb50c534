"""``containers/<id>/``: a container's ``State``, its ``hostconfig.json`` and its directory."""

from __future__ import annotations

from typing import Any

from tests.support.rootwriter.encoding import go_json
from tests.support.rootwriter.files import mkdir, write

_ABSENT: Any = object()


def state(
    running: bool,
    *,
    pid: int,
    exit_code: int,
    started: str,
    finished: str,
    error: str | None = None,
    health: Any = _ABSENT,
    **more: object,
) -> dict[str, object]:
    """A container's ``State`` with the fields every engine since 1.9 writes, plus ``more``
    (after ``Restarting``), ``Error`` (after ``ExitCode``) and ``Health`` (last) when given."""
    doc: dict[str, object] = {
        "Running": running,
        "Paused": False,
        "Restarting": False,
        **more,
        "Pid": pid,
        "ExitCode": exit_code,
    }
    if error is not None:
        doc["Error"] = error
    doc["StartedAt"] = started
    doc["FinishedAt"] = finished
    if health is not _ABSENT:
        doc["Health"] = health
    return doc


def go_config(
    *,
    env: list[str],
    cmd: list[str] | None,
    image: str,
    labels: dict[str, str] | None,
    hostname: str = "",
    attach: bool = False,
    exposed: dict[str, dict[str, Any]] | None = None,
    healthcheck: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Docker's ``container.Config`` as 20.10 writes it, in an image config or a container's."""
    cfg: dict[str, Any] = {
        "Hostname": hostname,
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": attach,
        "AttachStderr": attach,
    }
    if exposed:
        cfg["ExposedPorts"] = exposed
    cfg.update({"Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": env, "Cmd": cmd})
    if healthcheck:
        cfg["Healthcheck"] = healthcheck
    cfg.update(
        {
            "Image": image,
            "Volumes": None,
            "WorkingDir": "",
            "Entrypoint": None,
            "OnBuild": None,
            "Labels": labels,
        }
    )
    return cfg


def container_dir(root: str, cid: str, config: dict[str, Any], hostconfig: dict[str, Any]) -> str:
    """``containers/<id>/`` with ``config.v2.json`` and ``hostconfig.json`` (Go JSON)."""
    cdir = f"{root}/containers/{cid}"
    mkdir(cdir, 0o710)
    write(f"{cdir}/config.v2.json", go_json(config), 0o600)
    write(f"{cdir}/hostconfig.json", go_json(hostconfig))
    return cdir


def hostconfig_2010(
    binds: list[str] | None, network: str, restart: str, ports: dict[str, Any]
) -> dict[str, Any]:
    """``hostconfig.json`` with every field Docker 20.10 writes."""
    return {
        "Binds": binds,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": network,
        "PortBindings": ports,
        "RestartPolicy": {"Name": restart, "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "private",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "runc",
        "ConsoleSize": [0, 0],
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": None,
        "OomKillDisable": False,
        "PidsLimit": None,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": [
            "/proc/asound",
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
        ],
        "ReadonlyPaths": [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ],
    }
