"""The fleet's containers: ``config.v2.json`` and ``hostconfig.json`` with the fields Docker
20.10 writes, in a mix of states (running, exited, created; a few with health checks, bind
mounts, labels, port bindings), the files that appear at first start, the init layer
(``<mount-id>-init``) with the files ``initlayer.Setup`` makes, a read-write layer with a couple
of files, and ``layerdb/mounts/<id>/{mount-id,init-id,parent}``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from tests.support.rootwriter import store
from tests.support.rootwriter.containers import container_dir, go_config, hostconfig_2010, state
from tests.support.rootwriter.encoding import ZERO_TIME, go_json
from tests.support.rootwriter.files import mkdir, write
from tests.support.rootwriter.tarsplit import Member

if TYPE_CHECKING:
    from tests.support.rootwriter.fleet import FleetWriter

INIT_MEMBERS = (
    Member("dev/"),
    Member("dev/pts/"),
    Member("dev/shm/"),
    Member("proc/"),
    Member("sys/"),
    Member("etc/"),
    Member(".dockerenv", b"", 0o755),
    Member("dev/console", b"", 0o755),
    Member("etc/resolv.conf", b"", 0o755),
    Member("etc/hosts", b"", 0o755),
    Member("etc/hostname", b"", 0o755),
)


def write_container(gen: FleetWriter, index: int, image_id: str, clock: float) -> None:
    """One container of the fleet on ``image_id``: its directory, its layers, its mount record."""
    rnd = gen.rng
    cid = gen.hex64()
    name = f"svc-{index:04d}"
    tags = gen.image_tags[image_id]
    typed = tags[0] if tags else image_id.removeprefix("sha256:")[:12]
    created_at = clock
    roll = rnd.random()
    if roll < 0.3:
        status = "running"
    elif roll < 0.85:
        status = "exited"
    else:
        status = "created"
    gen.stats.states[status] = gen.stats.states.get(status, 0) + 1
    started = status != "created"
    start = created_at + rnd.uniform(0.05, 2)
    finish = start + rnd.uniform(1, 3600)
    state_ = state(
        status == "running",
        pid=rnd.randint(1000, 4_000_000) if status == "running" else 0,
        exit_code=0 if status != "exited" else rnd.choice((0, 0, 1, 2, 137, 143)),
        started=gen.stamp(start) if started else ZERO_TIME,
        finished=gen.stamp(finish) if status == "exited" else ZERO_TIME,
        error="",
        health=None,
        OOMKilled=status == "exited" and index % 97 == 0,
        RemovalInProgress=False,
        Dead=False,
    )
    image_num = gen.image_ids.index(image_id)
    cmd = ["/bin/sh"] if image_num == 0 else [f"/opt/app{image_num:03d}/l00/run.sh", "--serve"]
    healthcheck = None
    if index % 10 == 3:
        healthcheck = {
            "Test": ["CMD-SHELL", "test -f /tmp/ready"],
            "Interval": 30_000_000_000,
            "Timeout": 5_000_000_000,
            "Retries": 3,
        }
        if status == "running":
            t = gen.stamp(start + 30)
            state_["Health"] = {
                "Status": "healthy",
                "FailingStreak": 0,
                "Log": [{"Start": t, "End": t, "ExitCode": 0, "Output": ""}],
            }
    labels = {"com.example.tier": rnd.choice(("web", "db", "worker", "cache"))}
    if index % 4 == 0:
        labels["com.docker.compose.project"] = f"stack{index // 40:02d}"
        labels["com.docker.compose.service"] = name
    env = [gen.PATH_ENV, f"APP_INDEX={image_num}", f"INSTANCE={index}"]
    exposed: dict[str, dict[str, Any]] | None = (
        {f"{8000 + image_num}/tcp": {}} if image_num % 3 == 0 and image_num else None
    )
    config = go_config(
        env=env,
        cmd=cmd,
        image=typed,
        labels=labels,
        hostname=cid[:12],
        attach=status == "created",
        exposed=exposed,
        healthcheck=healthcheck,
    )
    mount_points: dict[str, Any] = {}
    binds = None
    if index % 5 == 1:
        src = f"/srv/data/{name}"
        binds = [f"{src}:/data"]
        mount_points["/data"] = {
            "Source": src,
            "Destination": "/data",
            "RW": True,
            "Name": "",
            "Driver": "",
            "Type": "bind",
            "Propagation": "rprivate",
            "Spec": {"Type": "bind", "Source": src, "Target": "/data"},
            "SkipMountpointCreation": False,
        }
    host = f"{gen.HOST_ROOT}/containers/{cid}"
    network = "bridge" if index % 7 else "none"
    ip = f"172.17.{(index >> 8) & 0xFF}.{(index & 0xFF) or 1}"
    endpoint: dict[str, Any] = {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": gen.hex64() if started else "",
        "EndpointID": gen.hex64() if status == "running" else "",
        "Gateway": "172.17.0.1" if status == "running" and network == "bridge" else "",
        "IPAddress": ip if status == "running" and network == "bridge" else "",
        "IPPrefixLen": 16 if status == "running" and network == "bridge" else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "02:42:ac:11:00:02" if status == "running" else "",
        "DriverOpts": None,
        "IPAMOperational": False,
    }
    sandbox = gen.hex64() if started else ""
    doc: dict[str, Any] = {
        "StreamConfig": {},
        "State": state_,
        "ID": cid,
        "Created": gen.stamp(created_at),
        "Managed": False,
        "Path": cmd[0],
        "Args": cmd[1:],
        "Config": config,
        "Image": image_id,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": sandbox,
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Networks": {network: endpoint},
            "Service": None,
            "Ports": {} if status == "running" else None,
            "SandboxKey": f"/var/run/docker/netns/{sandbox[:12]}" if started else "",
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "IsAnonymousEndpoint": False,
            "HasSwarmEndpoint": False,
        },
        "LogPath": f"{host}/{cid}-json.log" if started else "",
        "Name": f"/{name}",
        "Driver": gen.DRIVER,
        "OS": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "RestartCount": 0,
        "HasBeenStartedBefore": started,
        "HasBeenManuallyStopped": status == "exited" and index % 3 == 0,
        "MountPoints": mount_points,
        "SecretReferences": None,
        "ConfigReferences": None,
        "AppArmorProfile": "docker-default" if started else "",
        "HostnamePath": f"{host}/hostname" if started else "",
        "HostsPath": f"{host}/hosts" if started else "",
        "ShmPath": f"{host}/mounts/shm" if started else "",
        "ResolvConfPath": f"{host}/resolv.conf" if started else "",
        "SeccompProfile": "",
        "NoNewPrivileges": False,
        "LocalLogCacheMeta": {"HaveNotifyEnabled": False},
    }
    restart = "unless-stopped" if index % 6 == 0 else "no"
    ports = {}
    if exposed and index % 2 == 0:
        ports = {next(iter(exposed)): [{"HostIp": "", "HostPort": str(20000 + index)}]}
    hostconfig = hostconfig_2010(binds, network if network == "none" else "default", restart, ports)
    cdir = container_dir(str(gen.root), cid, doc, hostconfig)
    mkdir(f"{cdir}/checkpoints", 0o700)
    if started:
        mkdir(f"{cdir}/mounts", 0o710)
        write(f"{cdir}/hostname", cid[:12] + "\n")
        write(f"{cdir}/hosts", f"127.0.0.1\tlocalhost\n{ip}\t{cid[:12]}\n")
        resolv = b"nameserver 10.0.0.2\nsearch example.internal\n"
        write(f"{cdir}/resolv.conf", resolv)
        write(f"{cdir}/resolv.conf.hash", "sha256:" + hashlib.sha256(resolv).hexdigest())
        log = "".join(
            go_json(
                {
                    "log": f"{name}: request {n} served\n",
                    "stream": "stdout",
                    "time": gen.stamp(start + n),
                }
            ).decode()
            + "\n"
            for n in range(rnd.randint(1, 8))
        )
        write(f"{cdir}/{cid}-json.log", log, 0o640)
    # the read-write layer: init layer on the image's top layer, then the container layer
    top_chain = gen.image_top[image_id]
    top_cache = gen.layer_cache[top_chain]
    mount_id = gen.hex64()
    init = gen.layer_dir(
        top_cache,
        INIT_MEMBERS,
        oid=f"{mount_id}-init",
        symlinks=[("etc/mtab", "/proc/mounts")],
        mounted=True,
    )
    rw: list[Member] = []
    if started:
        rw = [
            Member("tmp/"),
            Member("tmp/ready", b""),
            Member("var/"),
            Member("var/log/"),
            Member("var/log/app.log", (f"{name} started\n" * rnd.randint(1, 40)).encode()),
        ]
    gen.layer_dir(init, rw, oid=mount_id, mounted=started)
    store.mount_record(gen.store, cid, mount_id=mount_id, init_id=init, parent=top_chain)
    gen.stats.containers += 1
