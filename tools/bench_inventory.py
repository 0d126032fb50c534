"""Benchmark the inventory commands against docker-explorer on a large synthetic Docker root.

What it measures
----------------
Wall-clock time of whole command-line runs (interpreter start-up, imports, reading the root,
rendering JSON), best of ``--runs`` runs after one warm-up run, with stdout sent to /dev/null, the
page cache warm and Python's bytecode cache on for both tools (see :func:`bench_env`). The
commands:

* the reference: docker-explorer's ``de.py -r ROOT list all_containers`` (it reads every
  ``containers/<id>/config.v2.json`` and ``image/<driver>/layerdb/mounts/<id>/mount-id``);
* ``storagekit -r ROOT containers --format json`` and ``storagekit -r ROOT images --format json``
  (the two that the requirement compares);
* for information: ``containers --no-size``, ``layers``, ``audit`` (all ``--format json``), and
  the bare cost of ``import storagekit.cli.main``.

Each storagekit figure is also given as a ratio ``storagekit seconds / docker-explorer seconds``:
below 1 means storagekit is faster.

The root
--------
A Docker 20.10 overlay2 data root written from scratch (stdlib only, a few seconds), with the
shapes dockerd writes (docker-root-format.md §2, §3, §4, §6.1):

* ``--images`` images (default 100): image 0 is a base image whose ``--base-layers`` layers
  (default 5) are shared by all the others; the remaining layers (``--layers`` in all, default
  2,000 distinct) are spread evenly over images 1..N-1;
* every layer is a real small tar built in memory: its ``diff`` is the SHA-256 of the tar,
  ``tar-split.json.gz`` holds the tar's segments and the CRC-64/ISO of every payload (so the tar
  can be reassembled byte for byte), chain IDs follow the OCI rule, ``size`` is what overlay2's
  ``ApplyDiff`` records, and ``overlay2/<cache-id>/{diff,link,lower,work,committed}`` plus
  ``overlay2/l/<LINK>`` are laid out as dockerd does;
* image configs are Go-style compact JSON whose SHA-256 is their file name, with ``rootfs``,
  ``history`` (including empty layers), ``config``; tags in ``repositories.json``, ``lastUpdated``
  metadata; a few images are left untagged;
* ``--containers`` containers (default 1,000) in a mix of states (running, exited, created, a
  few with health checks, bind mounts, labels, port bindings): ``config.v2.json`` and
  ``hostconfig.json`` with the fields Docker 20.10 writes, the files that appear at first start,
  ``layerdb/mounts/<id>/{mount-id,init-id,parent}``, the init layer (``<mount-id>-init``) with the
  files ``initlayer.Setup`` makes, and a read-write layer with a couple of files.

Host paths stored inside the root (``LogPath``, ``HostsPath`` …) name ``/var/lib/docker``, as in
a root copied from a host. Not written: the BoltDB files (``volumes/metadata.db``,
``network/files/local-kv.db``, buildkit's) and ``distribution/`` content — the root has no named
volumes and nothing was pulled. The root goes to a temporary directory under /dev/shm when it is
writable (on a disk the ~45,000 small files take minutes on a slow VM), or to ``--workdir``;
``--generate-only`` writes it and stops.

docker-explorer is installed from PyPI into its own virtualenv (default
``~/.cache/storagekit-bench/de-venv``, reused when present); it needs no root privileges and no
extra file: it recognises the storage version from ``containers/<first>/config.v2.json``.

Usage::

    .venv/bin/python -m tools.bench_inventory [--runs 3] [--workdir DIR] [--keep] [--json]

Exit status: 0 when the benchmark ran (whatever the verdict), 1 when a command failed or gave
the wrong number of containers.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.benchutil import (
    ZERO_TIME,
    chain_ids,
    default_temp_parent,
    go_json,
    go_time,
    mkdir,
    write,
)
from tools.benchutil import self_test as chain_self_test

# ---------------------------------------------------------------------------------------------
# Go-compatible encodings
# ---------------------------------------------------------------------------------------------

_CRC64_ISO_POLY = 0xD800000000000000  # reflected form of x^64 + x^4 + x^3 + x + 1
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC64_ISO_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64_TABLE = _crc64_table()


def crc64_iso(data: bytes) -> bytes:
    """Go's ``crc64.Checksum(data, crc64.MakeTable(crc64.ISO))``, big-endian (tar-split's form)."""
    crc = _MASK64
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return (crc ^ _MASK64).to_bytes(8, "big")


def self_test() -> None:
    """The encodings against the test vectors of docker-root-format.md §2.2 and §7.3."""
    assert crc64_iso(b"123456789").hex() == "b90956c775a41001"
    assert base64.b64encode(crc64_iso(b"c\n")).decode() == "YUdAAAAAAAA="
    assert crc64_iso(b"") == bytes(8)
    chain_self_test()


# ---------------------------------------------------------------------------------------------
# Layer tars and tar-split
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One tar member of a synthetic layer: a directory (``data is None``) or a regular file."""

    name: str
    data: bytes | None = None
    mode: int = 0o644


@dataclass
class BuiltLayer:
    """A layer tar as Docker would have received it."""

    diff_id: str
    tar_split_gz: bytes
    size: int  # overlay2 ApplyDiff: sum of regular file sizes


def build_layer(members: Sequence[Member], mtime: int) -> BuiltLayer:
    """Make the tar stream (Go archive/tar style: USTAR, 1024 zero bytes at the end) and its split.

    The tar-split entries are those vbatts/tar-split writes when Docker 20.10 reads the stream:
    a segment per header (with the previous member's padding), a file entry per member, then
    the last padding plus the end-of-archive blocks, and an empty final segment.
    """
    tar = bytearray()
    entries: list[bytes] = []
    pending = b""
    pos = 0

    def entry(obj: dict[str, Any]) -> None:
        nonlocal pos
        obj["position"] = pos
        pos += 1
        entries.append(go_json(obj) + b"\n")

    for m in members:
        info = tarfile.TarInfo(m.name)
        info.mtime = mtime
        info.uname = info.gname = "root"
        if m.data is None:
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
        else:
            info.type = tarfile.REGTYPE
            info.mode = m.mode
            info.size = len(m.data)
        header = info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
        segment = pending + header
        tar += segment
        entry({"type": 2, "payload": base64.b64encode(segment).decode()})
        file_entry: dict[str, Any] = {"type": 1, "name": m.name}
        if m.data:
            file_entry["size"] = len(m.data)
            file_entry["payload"] = base64.b64encode(crc64_iso(m.data)).decode()
            tar += m.data
            pending = b"\0" * (-len(m.data) % 512)
        else:
            file_entry["payload"] = None
            pending = b""
        entry(file_entry)
    tail = pending + b"\0" * 1024
    tar += tail
    entry({"type": 2, "payload": base64.b64encode(tail).decode()})
    entry({"type": 2, "payload": ""})
    split = gzip.compress(b"".join(entries), compresslevel=6, mtime=0)
    size = sum(len(m.data) for m in members if m.data)
    return BuiltLayer("sha256:" + hashlib.sha256(tar).hexdigest(), split, size)


# ---------------------------------------------------------------------------------------------
# Writing the root
# ---------------------------------------------------------------------------------------------


@dataclass
class OverlayDir:
    """An ``overlay2/<id>`` directory as dockerd creates it."""

    id: str
    link: str
    lower: str  # "" for a base layer


@dataclass
class RootStats:
    """What was generated, for the report."""

    path: str
    images: int = 0
    tagged_images: int = 0
    layers: int = 0
    containers: int = 0
    running: int = 0
    exited: int = 0
    created: int = 0
    max_depth: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)


class RootGenerator:
    """Write a synthetic Docker 20.10 overlay2 data root (see the module docstring)."""

    DRIVER = "overlay2"
    HOST_ROOT = "/var/lib/docker"  # where the root lived on the host it was copied from
    PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    def __init__(
        self,
        root: Path,
        *,
        images: int,
        layers: int,
        base_layers: int,
        containers: int,
        seed: int,
    ) -> None:
        if images < 2 or base_layers < 1 or layers < base_layers + images - 1:
            raise ValueError("need >= 2 images, >= 1 base layer and >= 1 own layer per image")
        self.root = root
        self.n_images = images
        self.n_layers = layers
        self.n_base = base_layers
        self.n_containers = containers
        self.rng = random.Random(seed)
        self.t0 = dt.datetime(2024, 3, 1, 8, 0, 0, tzinfo=dt.UTC)
        self.stats = RootStats(path=str(root))
        self.overlay: dict[str, OverlayDir] = {}  # cache-id -> dir
        self.layer_cache: dict[str, str] = {}  # chain-id -> cache-id
        self.has_children: set[str] = set()  # overlay ids that got a child
        self.image_ids: list[str] = []
        self.image_tags: dict[str, list[str]] = {}
        self.image_top: dict[str, str] = {}  # image id -> top chain id
        self.image_created: dict[str, dt.datetime] = {}

    # -- small helpers ----------------------------------------------------------------------

    def hex64(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def link_id(self) -> str:
        return base64.b32encode(self.rng.randbytes(17)).decode()[:26]

    def stamp(self, seconds: float) -> str:
        whole = int(seconds)
        nanos = int((seconds - whole) * 1e9) or self.rng.randrange(1, 10**9)
        return go_time(self.t0 + dt.timedelta(seconds=whole), nanos)

    @property
    def ovl(self) -> str:
        return f"{self.root}/{self.DRIVER}"

    @property
    def store(self) -> str:
        return f"{self.root}/image/{self.DRIVER}"

    # -- layout -----------------------------------------------------------------------------

    def skeleton(self) -> None:
        """Top-level directories of a 20.10 root (with their modes)."""
        mkdir(str(self.root), 0o710)
        for name, mode in (
            ("builder", 0o700),
            ("buildkit", 0o711),
            ("containers", 0o710),
            ("image", 0o700),
            ("network/files", 0o750),
            ("plugins/storage", 0o700),
            ("plugins/tmp", 0o700),
            ("runtimes", 0o700),
            ("swarm", 0o700),
            ("tmp", 0o700),
            ("trust", 0o700),
            ("volumes", 0o701),
            (self.DRIVER, 0o710),
            (f"{self.DRIVER}/l", 0o700),
        ):
            mkdir(f"{self.root}/{name}", mode)
        for sub in (
            "layerdb/sha256",
            "layerdb/mounts",
            "layerdb/tmp",
            "imagedb/content/sha256",
            "imagedb/metadata/sha256",
            "distribution",
        ):
            mkdir(f"{self.store}/{sub}", 0o700)

    def overlay_dir(
        self,
        parent: str | None,
        members: Iterable[Member] = (),
        *,
        oid: str | None = None,
        mtime: int = 0,
        symlinks: Iterable[tuple[str, str]] = (),
        mounted: bool = False,
    ) -> OverlayDir:
        """Create ``overlay2/<id>`` (diff/, link, lower, work/) and its short link."""
        oid = oid or self.hex64()
        link = self.link_id()
        lower = ""
        if parent is not None:
            p = self.overlay[parent]
            lower = f"l/{p.link}" + (f":{p.lower}" if p.lower else "")
            self.has_children.add(parent)
        d = f"{self.ovl}/{oid}"
        mkdir(d, 0o710)
        diff = f"{d}/diff"
        mkdir(diff, 0o755)
        for m in members:
            target = f"{diff}/{m.name.rstrip('/')}"
            if m.data is None:
                mkdir(target, 0o755)
            else:
                write(target, m.data, m.mode)
                self.stats.files += 1
                self.stats.bytes += len(m.data)
                if mtime:
                    os.utime(target, (mtime, mtime))
        for name, target in symlinks:
            os.symlink(target, f"{diff}/{name}")
        write(f"{d}/link", link)
        if lower:
            write(f"{d}/lower", lower)
            mkdir(f"{d}/work", 0o700)
            if mounted:
                mkdir(f"{d}/work/work", 0o000)
        os.symlink(f"../{oid}/diff", f"{self.ovl}/l/{link}")
        od = OverlayDir(oid, link, lower)
        self.overlay[oid] = od
        return od

    def layer(
        self, parent_chain: str | None, members: Sequence[Member], mtime: int
    ) -> tuple[str, str]:
        """Register one read-only layer (layerdb + overlay2); returns (chain ID, diff ID)."""
        built = build_layer(members, mtime)
        # ChainID(k) = sha256("ChainID(k-1) Dk"): the parent's chain ID stands in for D1..Dk-1
        chain = chain_ids([parent_chain, built.diff_id] if parent_chain else [built.diff_id])[-1]
        parent_cache = self.layer_cache[parent_chain] if parent_chain else None
        od = self.overlay_dir(parent_cache, members, mtime=mtime)
        ldir = f"{self.store}/layerdb/sha256/{chain.removeprefix('sha256:')}"
        mkdir(ldir, 0o755)
        write(f"{ldir}/diff", built.diff_id)
        if parent_chain:
            write(f"{ldir}/parent", parent_chain)
        write(f"{ldir}/cache-id", od.id)
        write(f"{ldir}/size", str(built.size))
        write(f"{ldir}/tar-split.json.gz", built.tar_split_gz)
        self.layer_cache[chain] = od.id
        self.stats.layers += 1
        return chain, built.diff_id

    def layer_members(self, image: int, index: int, base: bool) -> list[Member]:
        """A few small files, different in every layer (so every DiffID differs)."""
        rnd = self.rng
        if base:
            top, sub = "usr/", f"usr/lib/base{index:02d}/"
            dirs = [top, "usr/lib/", sub]
        else:
            top, sub = "opt/", f"opt/app{image:03d}/l{index:02d}/"
            dirs = [top, f"opt/app{image:03d}/", sub]
        files = [
            Member(
                f"{sub}{name}",
                (f"# image {image} layer {index} {name}\n" * rnd.randint(1, 8)).encode(),
                mode,
            )
            for name, mode in (("run.sh", 0o755), ("settings.conf", 0o644), ("README", 0o644))
        ]
        return [Member(d) for d in dirs] + files

    def image_config(
        self,
        diff_ids: list[str],
        created: list[str],
        commands: list[str],
        parent_cfg_image: str,
        env: list[str],
        cmd: list[str],
        labels: dict[str, str] | None,
        exposed: dict[str, dict[str, Any]] | None,
    ) -> bytes:
        def container_config(cmd_: list[str] | None, image: str) -> dict[str, Any]:
            cfg: dict[str, Any] = {
                "Hostname": "",
                "Domainname": "",
                "User": "",
                "AttachStdin": False,
                "AttachStdout": False,
                "AttachStderr": False,
            }
            if exposed:
                cfg["ExposedPorts"] = exposed
            cfg.update(
                {
                    "Tty": False,
                    "OpenStdin": False,
                    "StdinOnce": False,
                    "Env": env,
                    "Cmd": cmd_,
                    "Image": image,
                    "Volumes": None,
                    "WorkingDir": "",
                    "Entrypoint": None,
                    "OnBuild": None,
                    "Labels": labels,
                }
            )
            return cfg

        history: list[dict[str, Any]] = [
            {"created": c, "created_by": f"/bin/sh -c {cmd_}"}
            for c, cmd_ in zip(created, commands, strict=True)
        ]
        last = created[-1]
        history.append(
            {
                "created": last,
                "created_by": f"/bin/sh -c #(nop)  ENV {env[-1]}",
                "empty_layer": True,
            }
        )
        history.append(
            {
                "created": last,
                "created_by": "/bin/sh -c #(nop)  CMD " + json.dumps(cmd).replace(", ", " "),
                "empty_layer": True,
            }
        )
        config = {
            "architecture": "amd64",
            "config": container_config(cmd, parent_cfg_image),
            "container": self.hex64(),
            "container_config": container_config(
                ["/bin/sh", "-c", "#(nop) ", "CMD " + json.dumps(cmd).replace(", ", " ")],
                parent_cfg_image,
            ),
            "created": last,
            "docker_version": "20.10.24+dfsg1",
            "history": history,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        return go_json(config)

    def image(
        self,
        index: int,
        parent_top: str | None,
        parent_diffs: list[str],
        own: int,
        tags: list[str],
        clock: float,
    ) -> tuple[str, str, list[str], float]:
        """Layers + config + metadata of one image; returns (image id, top chain, diffs, clock)."""
        base = index == 0
        top = parent_top
        diffs = list(parent_diffs)
        created: list[str] = []
        commands: list[str] = []
        for k in range(own):
            clock += self.rng.uniform(0.5, 30)
            mtime = int((self.t0 + dt.timedelta(seconds=clock)).timestamp())
            members = self.layer_members(index, k, base)
            top, diff_id = self.layer(top, members, mtime)
            diffs.append(diff_id)
            created.append(self.stamp(clock))
            commands.append(
                f"set -e; install -d /{members[2].name} && cp -a /src/. /{members[2].name}"
            )
        # the history of the base layers comes first, as in a real derived image
        base_created = [self.stamp(i) for i in range(len(parent_diffs))]
        base_cmds = [f"base layer {i}" for i in range(len(parent_diffs))]
        env = [self.PATH_ENV, f"APP_INDEX={index}"]
        cmd = ["/bin/sh"] if base else [f"/opt/app{index:03d}/l00/run.sh", "--serve"]
        labels = None if base else {"org.opencontainers.image.title": f"app{index:03d}"}
        exposed: dict[str, dict[str, Any]] | None = (
            None if base or index % 3 else {f"{8000 + index}/tcp": {}}
        )
        raw = self.image_config(
            diffs,
            base_created + created,
            base_cmds + commands,
            "" if base else self.image_ids[0],
            env,
            cmd,
            labels,
            exposed,
        )
        hex_id = hashlib.sha256(raw).hexdigest()
        image_id = "sha256:" + hex_id
        write(f"{self.store}/imagedb/content/sha256/{hex_id}", raw, 0o600)
        meta = f"{self.store}/imagedb/metadata/sha256/{hex_id}"
        mkdir(meta, 0o700)
        if tags:
            write(f"{meta}/lastUpdated", self.stamp(clock + 1), 0o600)
            self.stats.tagged_images += 1
        self.image_ids.append(image_id)
        self.image_tags[image_id] = tags
        self.image_top[image_id] = top or ""
        self.image_created[image_id] = self.t0 + dt.timedelta(seconds=clock)
        self.stats.images += 1
        self.stats.max_depth = max(self.stats.max_depth, len(diffs))
        return image_id, top or "", diffs, clock

    def repositories(self) -> None:
        repos: dict[str, dict[str, str]] = {}
        for image_id, tags in self.image_tags.items():
            for tag in tags:
                repos.setdefault(tag.rsplit(":", 1)[0], {})[tag] = image_id
        write(f"{self.store}/repositories.json", go_json({"Repositories": repos}), 0o600)

    # -- containers -------------------------------------------------------------------------

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

    def container(self, index: int, image_id: str, clock: float) -> None:
        rnd = self.rng
        cid = self.hex64()
        name = f"svc-{index:04d}"
        tags = self.image_tags[image_id]
        typed = tags[0] if tags else image_id.removeprefix("sha256:")[:12]
        created_at = clock
        roll = rnd.random()
        if roll < 0.3:
            status = "running"
        elif roll < 0.85:
            status = "exited"
        else:
            status = "created"
        self.stats.states[status] = self.stats.states.get(status, 0) + 1
        started = status != "created"
        start = created_at + rnd.uniform(0.05, 2)
        finish = start + rnd.uniform(1, 3600)
        state: dict[str, Any] = {
            "Running": status == "running",
            "Paused": False,
            "Restarting": False,
            "OOMKilled": status == "exited" and index % 97 == 0,
            "RemovalInProgress": False,
            "Dead": False,
            "Pid": rnd.randint(1000, 4_000_000) if status == "running" else 0,
            "ExitCode": 0 if status != "exited" else rnd.choice((0, 0, 1, 2, 137, 143)),
            "Error": "",
            "StartedAt": self.stamp(start) if started else ZERO_TIME,
            "FinishedAt": self.stamp(finish) if status == "exited" else ZERO_TIME,
            "Health": None,
        }
        image_num = self.image_ids.index(image_id)
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
                t = self.stamp(start + 30)
                state["Health"] = {
                    "Status": "healthy",
                    "FailingStreak": 0,
                    "Log": [{"Start": t, "End": t, "ExitCode": 0, "Output": ""}],
                }
        labels = {"com.example.tier": rnd.choice(("web", "db", "worker", "cache"))}
        if index % 4 == 0:
            labels["com.docker.compose.project"] = f"stack{index // 40:02d}"
            labels["com.docker.compose.service"] = name
        env = [self.PATH_ENV, f"APP_INDEX={image_num}", f"INSTANCE={index}"]
        exposed: dict[str, dict[str, Any]] | None = (
            {f"{8000 + image_num}/tcp": {}} if image_num % 3 == 0 and image_num else None
        )
        config: dict[str, Any] = {
            "Hostname": cid[:12],
            "Domainname": "",
            "User": "",
            "AttachStdin": False,
            "AttachStdout": status == "created",
            "AttachStderr": status == "created",
        }
        if exposed:
            config["ExposedPorts"] = exposed
        config.update(
            {
                "Tty": False,
                "OpenStdin": False,
                "StdinOnce": False,
                "Env": env,
                "Cmd": cmd,
            }
        )
        if healthcheck:
            config["Healthcheck"] = healthcheck
        config.update(
            {
                "Image": typed,
                "Volumes": None,
                "WorkingDir": "",
                "Entrypoint": None,
                "OnBuild": None,
                "Labels": labels,
            }
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
        host = f"{self.HOST_ROOT}/containers/{cid}"
        network = "bridge" if index % 7 else "none"
        ip = f"172.17.{(index >> 8) & 0xFF}.{(index & 0xFF) or 1}"
        endpoint: dict[str, Any] = {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": None,
            "NetworkID": self.hex64() if started else "",
            "EndpointID": self.hex64() if status == "running" else "",
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
        sandbox = self.hex64() if started else ""
        doc: dict[str, Any] = {
            "StreamConfig": {},
            "State": state,
            "ID": cid,
            "Created": self.stamp(created_at),
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
            "Driver": self.DRIVER,
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
        hostconfig = self.hostconfig(
            binds, network if network == "none" else "default", restart, ports
        )
        cdir = f"{self.root}/containers/{cid}"
        mkdir(cdir, 0o710)
        write(f"{cdir}/config.v2.json", go_json(doc), 0o600)
        write(f"{cdir}/hostconfig.json", go_json(hostconfig))
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
                        "time": self.stamp(start + n),
                    }
                ).decode()
                + "\n"
                for n in range(rnd.randint(1, 8))
            )
            write(f"{cdir}/{cid}-json.log", log, 0o640)
        # the read-write layer: init layer on the image's top layer, then the container layer
        top_chain = self.image_top[image_id]
        top_cache = self.layer_cache[top_chain]
        mount_id = self.hex64()
        init = self.overlay_dir(
            top_cache,
            self.INIT_MEMBERS,
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
        self.overlay_dir(init.id, rw, oid=mount_id, mounted=started)
        mdir = f"{self.store}/layerdb/mounts/{cid}"
        mkdir(mdir, 0o755)
        write(f"{mdir}/mount-id", mount_id)
        write(f"{mdir}/init-id", init.id)
        write(f"{mdir}/parent", top_chain)
        self.stats.containers += 1

    @staticmethod
    def hostconfig(
        binds: list[str] | None, network: str, restart: str, ports: dict[str, Any]
    ) -> dict[str, Any]:
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

    # -- driver -----------------------------------------------------------------------------

    def generate(self) -> RootStats:
        """Write the whole root; returns what was made."""
        began = time.perf_counter()
        self_test()
        self.skeleton()
        # base image: the shared chain
        base_id, base_top, base_diffs, clock = self.image(
            0, None, [], self.n_base, ["bench/base:1", "bench/base:latest"], 0.0
        )
        own_total = self.n_layers - self.n_base
        n_derived = self.n_images - 1
        per, extra = divmod(own_total, n_derived)
        for i in range(1, self.n_images):
            own = per + (1 if i <= extra else 0)
            repo = f"bench/app{i:03d}"
            tags = (
                [] if i % 25 == 0 else [f"{repo}:1.{i % 4}"] + ([f"{repo}:latest"] if i % 2 else [])
            )
            clock += 60
            _, _, _, clock = self.image(i, base_top, base_diffs, own, tags, clock)
        self.repositories()
        for c in range(self.n_containers):
            clock += self.rng.uniform(1, 120)
            image_id = self.image_ids[1 + c % n_derived] if c % 50 else base_id
            self.container(c, image_id, clock)
        # a layer that got a child is marked committed (overlay2 Create, v20.10+)
        for oid in self.has_children:
            write(f"{self.ovl}/{oid}/committed", b"", 0o600)
        self.stats.running = self.stats.states.get("running", 0)
        self.stats.exited = self.stats.states.get("exited", 0)
        self.stats.created = self.stats.states.get("created", 0)
        self.stats.seconds = time.perf_counter() - began
        return self.stats


# ---------------------------------------------------------------------------------------------
# docker-explorer
# ---------------------------------------------------------------------------------------------

DE_PACKAGE = "docker-explorer"


@dataclass
class DockerExplorer:
    """docker-explorer installed in its own virtualenv."""

    venv: Path
    version: str

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "de.py"

    def argv(self, root: Path) -> list[str]:
        """``de.py -r ROOT list all_containers``, run by the venv's interpreter."""
        return [str(self.python), str(self.script), "-r", str(root), "list", "all_containers"]


def ensure_docker_explorer(venv: Path, *, log: bool = True) -> DockerExplorer:
    """Create ``venv`` and ``pip install docker-explorer`` unless it is already there."""
    python = venv / "bin" / "python"
    if not (python.exists() and (venv / "bin" / "de.py").exists()):
        if log:
            print(f"installing {DE_PACKAGE} into {venv} …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                DE_PACKAGE,
            ],
            check=True,
        )
    version = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({DE_PACKAGE!r}))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return DockerExplorer(venv, version)


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero."""


def bench_env(pycache: Path) -> dict[str, str]:
    """The environment for the timed commands: Python's bytecode cache on, as users have it.

    With ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI images) every run would
    compile the storagekit sources again (about 70 ms) while docker-explorer's venv has the
    ``.pyc`` files pip wrote. Both tools therefore run with the cache on, kept under ``pycache``
    (``PYTHONPYCACHEPREFIX``) so that nothing is written beside the sources; the warm-up run
    fills it.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_once(
    argv: Sequence[str], env: dict[str, str] | None = None, *, capture: bool = False
) -> tuple[float, bytes]:
    """Run ``argv``; returns (wall seconds, stdout if captured)."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    began = time.perf_counter()
    proc = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise CommandFailed(f"{' '.join(argv)} exited {proc.returncode}: " + " | ".join(tail))
    return elapsed, proc.stdout or b""


@dataclass
class Row:
    """One benchmarked command."""

    label: str
    argv: list[str]
    compared: bool  # part of the requirement (vs. for information)
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> float | None:
        return min(self.times) if self.times else None


def _count(doc: Any) -> int:
    """Number of objects in a JSON listing (a list, or the first list value of an object)."""
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, list):
                return len(value)
    return -1


def check_outputs(
    de: DockerExplorer, storagekit: str, root: Path, stats: RootStats, env: dict[str, str]
) -> list[str]:
    """Both tools must see every container (and storagekit every image); returns problems."""
    problems = []
    _, out = run_once(de.argv(root), env, capture=True)
    n = _count(json.loads(out))
    if n != stats.containers:
        problems.append(f"docker-explorer listed {n} containers, expected {stats.containers}")
    for command, want in (("containers", stats.containers), ("images", stats.images)):
        try:
            _, out = run_once(
                [storagekit, "-r", str(root), command, "--format", "json"], env, capture=True
            )
        except CommandFailed as exc:
            problems.append(str(exc))
            continue
        n = _count(json.loads(out))
        if n != want:
            problems.append(f"storagekit {command} listed {n}, expected {want}")
    return problems


def install_storagekit(venv: Path, *, log: bool = True) -> str:
    """Install this checkout into ``venv`` as users get it (a wheel, not editable).

    docker-explorer runs from a normal install too; an editable install adds an import hook
    that costs every run some 20 ms. Reinstalled on every benchmark, so the figures are for the
    code as it is now.
    """
    repo = Path(__file__).resolve().parent.parent
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if log:
        print(f"installing storagekit from {repo} into {venv} …", file=sys.stderr)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--force-reinstall", "--no-deps", str(repo)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "construct>=2.10", "click>=8.1", "tabulate>=0.9"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(venv / "bin" / "storagekit")


def benchmark(
    de: DockerExplorer,
    storagekit: str,
    root: Path,
    runs: int,
    env: dict[str, str],
    *,
    extra: bool = True,
) -> list[Row]:
    """Time every command; a failing storagekit command is recorded, not fatal."""
    r = str(root)
    rows = [
        Row("docker-explorer list all_containers", de.argv(root), True),
        Row("storagekit containers", [storagekit, "-r", r, "containers", "--format", "json"], True),
        Row("storagekit images", [storagekit, "-r", r, "images", "--format", "json"], True),
    ]
    if extra:
        rows += [
            Row(
                "storagekit containers --no-size",
                [storagekit, "-r", r, "containers", "--no-size", "--format", "json"],
                False,
            ),
            Row("storagekit layers", [storagekit, "-r", r, "layers", "--format", "json"], False),
            Row("storagekit audit", [storagekit, "-r", r, "audit", "--format", "json"], False),
            Row(
                "python -c 'import storagekit.cli.main'",
                [sys.executable, "-c", "import storagekit.cli.main"],
                False,
            ),
        ]
    # Round robin: run 1 of every command, then run 2 of every command, ... so that a slow
    # spell of this shared machine hits every command alike rather than one of them.
    live = []
    for row in rows:
        try:
            run_once(row.argv, env)  # warm-up (page cache, bytecode)
            live.append(row)
        except CommandFailed as exc:
            if row is rows[0]:
                raise
            row.error = str(exc)
    for _ in range(runs):
        for row in live:
            if row.error:
                continue
            try:
                row.times.append(run_once(row.argv, env)[0])
            except CommandFailed as exc:
                row.error = str(exc)
    return rows


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def verdict(rows: Sequence[Row]) -> tuple[bool, str]:
    """Whether every compared storagekit command beat docker-explorer, as one line."""
    de = rows[0].best
    assert de is not None
    compared = [r for r in rows[1:] if r.compared]
    failed = [r for r in compared if r.best is None]
    if failed:
        return False, "FAIL: " + ", ".join(f"{r.label} did not run" for r in failed)
    worst = max(compared, key=lambda r: r.best or 0.0)
    ratio = (worst.best or 0.0) / de
    if ratio < 1:
        return True, (
            f"PASS: storagekit is faster than docker-explorer (slowest compared command "
            f"'{worst.label}' at {ratio:.2f}x of docker-explorer's time)"
        )
    slower = [r.label for r in compared if (r.best or 0.0) >= de]
    return False, f"FAIL: slower than docker-explorer: {', '.join(slower)} (worst {ratio:.2f}x)"


def table(rows: Sequence[Row]) -> str:
    de = rows[0].best or float("nan")
    lines = [f"{'command':<40} {'best s':>8} {'ratio':>7}  runs (s)", "-" * 78]
    for row in rows:
        if row.best is None:
            lines.append(f"{row.label:<40} {'error':>8} {'-':>7}  {row.error}")
            continue
        ratio = "1.00" if row is rows[0] else f"{row.best / de:.2f}"
        mark = "" if row.compared else "  (info)"
        runs = " ".join(f"{t:.3f}" for t in row.times)
        lines.append(f"{row.label:<40} {row.best:>8.3f} {ratio:>7}  {runs}{mark}")
    return "\n".join(lines)


def _display(argv: Sequence[str], root: str) -> str:
    """The command line with the root as ROOT and absolute executables by their base name."""
    shown = []
    for arg in argv:
        if arg == root:
            shown.append("ROOT")
        elif os.path.isabs(arg) and os.path.isfile(arg):
            shown.append(os.path.basename(arg))
        else:
            shown.append(arg)
    return " ".join(shown)


def figures(
    rows: Sequence[Row], stats: RootStats, de: DockerExplorer, runs: int, ok: bool, line: str
) -> dict[str, Any]:
    de_best = rows[0].best or float("nan")
    return {
        "root": {
            k: round(v, 2) if isinstance(v, float) else v
            for k, v in vars(stats).items()
            if k != "path"
        },
        "runs": runs,
        "method": "wall clock (time.perf_counter) around subprocess runs, best of runs after "
        "one warm-up, stdout to /dev/null, warm page cache, Python bytecode cache on",
        "load_average_after": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "docker_explorer": {
            "version": de.version,
            "invocation": "de.py -r ROOT list all_containers",
        },
        "commands": [
            {
                "label": r.label,
                "command": _display(r.argv, stats.path),
                "compared": r.compared,
                "best_seconds": None if r.best is None else round(r.best, 4),
                "runs_seconds": [round(t, 4) for t in r.times],
                "ratio_vs_docker_explorer": None if r.best is None else round(r.best / de_best, 3),
                "error": r.error,
            }
            for r in rows
        ],
        "storagekit_faster": ok,
        "verdict": line,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time storagekit's inventory commands against docker-explorer "
        "on a synthetic Docker root.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where to write the root (default: a new temp dir, in /dev/shm when writable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated root")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command (best is kept)")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--layers", type=int, default=2000, help="distinct layers in all")
    parser.add_argument("--base-layers", type=int, default=5, help="layers of the shared base")
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20240301)
    parser.add_argument(
        "--de-venv",
        type=Path,
        default=Path.home() / ".cache" / "storagekit-bench" / "de-venv",
        help="virtualenv for docker-explorer (created and installed when missing)",
    )
    parser.add_argument(
        "--pycache",
        type=Path,
        default=Path.home() / ".cache" / "storagekit-bench" / "pycache",
        help="PYTHONPYCACHEPREFIX for the timed commands (see bench_env)",
    )
    parser.add_argument(
        "--sk-venv",
        type=Path,
        default=Path.home() / ".cache" / "storagekit-bench" / "sk-venv",
        help="virtualenv this checkout is installed into (non-editable) for the timed runs",
    )
    parser.add_argument(
        "--storagekit", help="time this storagekit executable instead of installing one"
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="write the root (implies --keep) and stop"
    )
    parser.add_argument("--no-extra", action="store_true", help="time only the compared commands")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    temp = args.workdir is None
    workdir: Path = args.workdir or Path(
        tempfile.mkdtemp(prefix="storagekit-bench-", dir=default_temp_parent())
    )
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "docker"
    if root.exists():
        shutil.rmtree(root)
    keep = args.keep or args.generate_only
    log = sys.stderr
    try:
        gen = RootGenerator(
            root,
            images=args.images,
            layers=args.layers,
            base_layers=args.base_layers,
            containers=args.containers,
            seed=args.seed,
        )
        stats = gen.generate()
        print(
            f"root {root}: {stats.images} images ({stats.tagged_images} tagged), "
            f"{stats.layers} layers (deepest image {stats.max_depth}), {stats.containers} "
            f"containers {stats.states}, {stats.files} files; made in {stats.seconds:.1f}s",
            file=log,
        )
        if args.generate_only:
            return 0
        de = ensure_docker_explorer(args.de_venv)
        storagekit = args.storagekit or install_storagekit(args.sk_venv)
        env = bench_env(args.pycache)
        problems = check_outputs(de, storagekit, root, stats, env)
        for p in problems:
            print(f"check: {p}", file=log)
        rows = benchmark(de, storagekit, root, args.runs, env, extra=not args.no_extra)
        ok, line = verdict(rows)
        if args.json:
            doc = figures(rows, stats, de, args.runs, ok, line)
            doc["checks"] = problems
            print(json.dumps(doc, indent=2))
        else:
            print(
                f"docker-explorer {de.version}: {de.python} {de.script} -r ROOT list all_containers"
            )
            print(
                f"best of {args.runs} runs, root: {stats.containers} containers, "
                f"{stats.layers} layers, {stats.images} images"
            )
            print(table(rows))
            print(line)
        return 0 if not problems and rows[0].best is not None else 1
    except CommandFailed as exc:
        print(f"error: {exc}", file=log)
        return 1
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
            if temp:
                shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {root}", file=log)


if __name__ == "__main__":
    sys.exit(main())
