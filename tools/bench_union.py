"""Benchmark storagekit's userspace union (``ls -R``, ``extract --tar``) against a kernel overlay.

What it measures
----------------
One container on one image of ``--layers`` layers (default 100) holding ``--files`` files
(default 300,000) is written as a Docker 20.10 overlay2 data root; the same layer stack is then
mounted with the kernel's overlay filesystem exactly as dockerd mounts a container (lowerdir =
init layer, then the image layers top to base, given as ``l/<LINKID>`` short links from a
chdir into ``overlay2/``; upperdir and workdir of the container layer). Wall-clock time of whole
command-line runs, best of ``--runs`` runs after one warm-up run, page cache warm (the root is on
tmpfs when /dev/shm is writable), nothing dropped:

* listing: ``find MNT -printf '%p %s %m %U %G %T@ %y\\n' > /dev/null`` against
  ``storagekit -r ROOT ls bench / -R --format json > /dev/null``;
* archiving: ``tar -C MNT -cf - .`` against ``storagekit -r ROOT extract bench --tar -``, both
  writing to the same kind of sink, a file in the work directory truncated before every run.
  (Not /dev/null: GNU tar notices an archive that is /dev/null and then never reads the files.)

Each figure is also given as a ratio ``storagekit seconds / kernel-tool seconds``; the target is
at most 2. Every run is wrapped in ``/usr/bin/time -f %M`` (else ``getrusage``) for its peak RSS.
A second, smaller root (``--small-files``, default 30,000 files, same layers) is measured the
same way, to tell whether storagekit's memory grows with the tree: the requirement is that it
stays bounded by one directory's entries across the layers.

Before timing, the views are checked against the kernel's: the set of paths and, per path, type,
permission bits, owner, size, mtime (ns) and symlink target of ``storagekit ls -R`` against an
``lstat`` walk of the mount; and the members of ``storagekit extract --tar`` against ``tar -C
MNT -c .`` (type, mode, owner, mtime, link and device fields, SHA-256 of every regular file,
hard links resolved to their target's content). Any difference is a storagekit bug and is
printed.

The root
--------
Written from scratch with the stdlib (as root: whiteouts are ``mknod`` 0/0 character devices,
opaque directories carry ``trusted.overlay.opaque=y``; docker-root-format.md §2, §4, §6.1):

* ``image/overlay2/layerdb/sha256/<chain>/{diff,parent,cache-id,size}`` with OCI chain IDs,
  ``imagedb/content/sha256/<hex>`` (a config whose SHA-256 is its name, ``rootfs.diff_ids``,
  ``history``), ``imagedb/metadata``, ``repositories.json`` (``bench/union:latest``). The DiffIDs
  are stand-ins (the SHA-256 of a description of the layer, not of a layer tar) and no
  ``tar-split.json.gz`` is written: nothing here reassembles layer tars;
* ``overlay2/<cache-id>/{diff/,link,lower,work/,committed}`` and ``overlay2/l/<LINK>`` links;
* the container ``containers/<id>/config.v2.json`` (name ``/bench``, exited),
  ``hostconfig.json``, ``layerdb/mounts/<id>/{mount-id,init-id,parent}``, the init layer
  ``<mount-id>-init`` with the files ``initlayer.Setup`` makes, and the read-write layer;
* the tree: ``{usr/lib,usr/share,opt,var/lib}/pkgGGGG/dN/file_MMMM.ext`` leaf directories of
  about 100 files each (a few thousand directories), each package owned by one layer and
  85 % of its files there, the rest added by later layers (directories merged across layers);
  ``usr/bin`` and ``etc/conf.d`` get files from every layer, ``etc/layers.txt`` is rewritten by
  every layer. Upper layers modify files (0.5 %), delete files with whiteouts (0.5 %, some
  re-created higher up), delete whole directories, make some directories opaque, turn a file
  into a directory and a directory into a file; the read-write layer does the same on a small
  scale (as copy-ups, ``rm`` and ``rm -rf; mkdir`` leave them). Also: symlinks (absolute,
  relative, to a directory), hard links, device nodes, a FIFO, set-uid, non-root owners, a 1 MiB
  file, a path over 100 bytes, a UTF-8 name and a name that is not UTF-8.

Usage (as root)::

    .venv/bin/python -m tools.bench_union [--runs 3] [--layers 100] [--files 300000]
        [--small-files 30000] [--workdir DIR] [--keep] [--profile] [--json] [--no-verify]
    .venv/bin/python -m tools.bench_union --generate-only --workdir DIR   # just the root

Exit status: 0 when the benchmark ran and the views matched (whatever the timing verdict), 1 when
a command failed or the views differed, 2 when not run as root.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import stat as st
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.benchutil import (
    chain_ids,
    default_temp_parent,
    go_json,
    go_time,
    mkdir,
    self_test,
    write,
)

REPO = Path(__file__).resolve().parent.parent
STORAGEKIT = str(REPO / ".venv" / "bin" / "storagekit")
CONTAINER_NAME = "bench"
TAG = "bench/union:latest"
TARGET_RATIO = 2.0
GNU_TIME = "/usr/bin/time"

# ---------------------------------------------------------------------------------------------
# Go-compatible encodings (as in tools/bench_inventory.py)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# The layer plan: what every layer's diff/ holds
# ---------------------------------------------------------------------------------------------

# An entry of a layer: (kind, mode, uid, gid, payload)
#   "f" regular file (payload: bytes), "w" whiteout (0/0 char device), "l" symlink (target),
#   "h" hard link (payload: path of a file of the same layer), "p" FIFO, "c" char device
#   (payload: (major, minor))
Spec = tuple[str, int, int, int, Any]
WHITEOUT: Spec = ("w", 0o000, 0, 0, None)
TOPS = ("usr/lib", "usr/share", "opt", "var/lib")
EXTS = (".py", ".so", ".txt", ".conf", ".json", ".sh", ".h", ".mo")


@dataclass
class LayerPlan:
    """One layer's entries (by path), implied directories, and opaque directories."""

    entries: dict[str, Spec] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    opaque: set[str] = field(default_factory=set)
    dir_modes: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def add(self, path: str, spec: Spec) -> bool:
        """Add an entry unless it clashes with what the layer already holds."""
        if path in self.entries or path in self.dirs:
            return False
        parts = path.split("/")
        ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if any(a in self.entries for a in ancestors):
            return False
        self.entries[path] = spec
        self.dirs.update(ancestors)
        return True

    def add_dir(self, path: str) -> bool:
        """Make sure directory ``path`` (and its parents) exists in this layer."""
        parts = path.split("/")
        ancestors = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(a in self.entries for a in ancestors):
            return False
        self.dirs.update(ancestors)
        return True


@dataclass
class PlanStats:
    """What the plan put into the layers."""

    files_written: int = 0
    whiteouts: int = 0
    opaque_dirs: int = 0
    modified: int = 0
    deleted_files: int = 0
    recreated: int = 0
    deleted_dirs: int = 0
    type_changes: int = 0
    leaf_dirs: int = 0
    stray_whiteouts_dropped: int = 0


def _content(path: str, layer: int, rng: random.Random) -> bytes:
    return f"{path} written by layer {layer}\n".encode() * rng.randint(1, 4)


def plan_layers(n_layers: int, n_files: int, seed: int) -> tuple[list[LayerPlan], PlanStats]:
    """Decide every layer's contents: image layers 0..L-1 (base first), init L, read-write L+1."""
    rng = random.Random(seed)
    plans = [LayerPlan() for _ in range(n_layers + 2)]
    init, rw = plans[n_layers], plans[n_layers + 1]
    stats = PlanStats()
    n_bin = 20
    shared = n_layers * (n_bin + 2)
    leaf_files = max(0, n_files - shared)
    n_leaf = max(8, leaf_files // 100)
    n_groups = (n_leaf + 7) // 8
    stats.leaf_dirs = n_leaf

    def owner(group: int) -> int:
        return group * n_layers // n_groups

    def group_dir(group: int) -> str:
        return f"{TOPS[group % 4]}/pkg{group:04d}"

    def leaf_dir(leaf: int) -> str:
        return f"{group_dir(leaf // 8)}/d{leaf % 8}"

    origin: list[tuple[int, str]] = []  # (layer, path) of every planned file
    for j in range(leaf_files):
        leaf, idx = j % n_leaf, j // n_leaf
        group = leaf // 8
        ext = EXTS[(j // 7) % len(EXTS)]
        path = f"{leaf_dir(leaf)}/file_{idx:04d}{ext}"
        first = owner(group)
        layer = first if rng.random() < 0.85 else rng.randrange(first, n_layers)
        roll = rng.random()
        mode = 0o755 if ext == ".sh" else 0o600 if roll < 0.01 else 0o644
        uid = gid = 1000 if roll > 0.98 else 0
        if plans[layer].add(path, ("f", mode, uid, gid, _content(path, layer, rng))):
            origin.append((layer, path))
    for k in range(n_layers):
        p = plans[k]
        for m in range(n_bin):
            path = f"usr/bin/tool_{k:03d}_{m:02d}"
            p.add(path, ("f", 0o755, 0, 0, _content(path, k, rng)))
        p.add(f"etc/conf.d/layer{k:03d}.conf", ("f", 0o644, 0, 0, f"layer={k}\n".encode()))
        p.add("etc/layers.txt", ("f", 0o644, 0, 0, f"top layer so far: {k}\n".encode()))

    # Odd entries of the base layer.
    base = plans[0]
    base.add("dev/null", ("c", 0o666, 0, 0, (1, 3)))
    base.add("dev/zero", ("c", 0o666, 0, 0, (1, 5)))
    base.add("bin", ("l", 0o777, 0, 0, "usr/bin"))
    base.add("usr/bin/sh", ("l", 0o777, 0, 0, "tool_000_00"))
    base.add("etc/alternatives/editor", ("l", 0o777, 0, 0, "/usr/bin/tool_000_01"))
    base.add("usr/bin/tool_alias", ("h", 0o755, 0, 0, "usr/bin/tool_000_02"))
    base.add("usr/bin/su_like", ("f", 0o4755, 0, 0, b"#!/bin/sh\necho setuid\n"))
    base.add("usr/share/doc/empty", ("f", 0o644, 0, 0, b""))
    big = hashlib.sha256(b"big").digest() * (1 << 15)  # 1 MiB
    base.add("usr/share/doc/big.bin", ("f", 0o644, 0, 0, big))
    base.add("usr/share/doc/\u00dcn\u00efc\u00f6d\u00e9 \ufb01le.txt", ("f", 0o644, 0, 0, b"u\n"))
    base.add(os.fsdecode(b"usr/share/doc/caf\xe9.txt"), ("f", 0o644, 0, 0, b"latin-1 name\n"))
    long_dir = "/".join(f"level_{i:02d}_directory_name" for i in range(6))
    base.add(f"opt/{long_dir}/a_file_name_that_is_rather_long.txt", ("f", 0o644, 0, 0, b"x\n"))
    base.add("home/user/notes.txt", ("f", 0o600, 1000, 1000, b"private\n"))
    base.dir_modes["home/user"] = (0o700, 1000, 1000)
    base.dir_modes["tmp"] = (0o1777, 0, 0)
    base.add_dir("tmp")

    def visible(path: str, top: int) -> str | None:
        """The kind of what the union of layers below ``top`` shows at ``path`` (overlay rules)."""
        parts = path.split("/")
        layers: Sequence[int] = range(top - 1, -1, -1)
        for i in range(len(parts)):
            prefix = "/".join(parts[: i + 1])
            found: str | None = None
            merged: list[int] = []
            for k in layers:
                spec = plans[k].entries.get(prefix)
                if spec is not None:  # a whiteout hides, a non-directory stops the merge
                    if found is None and spec[0] != "w":
                        found = spec[0]
                    break
                if prefix in plans[k].dirs:
                    found = "d"
                    merged.append(k)
                    if prefix in plans[k].opaque:
                        break
            if found is None or (i < len(parts) - 1 and found != "d"):
                return None
            layers = merged
        return found

    def opaque_above(layer: int, path: str) -> bool:
        parts = path.split("/")
        return any("/".join(parts[:i]) in plans[layer].opaque for i in range(1, len(parts)))

    def delete(layer: int, path: str) -> bool:
        """A whiteout where a name is visible below, as the kernel makes one on ``rm``.

        (A whiteout in a directory that merges with nothing below is listed by the kernel's
        readdir as a name that lookup cannot find: not a state dockerd produces.)
        """
        if visible(path, layer) is None or opaque_above(layer, path):
            return False
        return plans[layer].add(path, WHITEOUT)

    # Upper image layers change lower files.
    def pick(below_top: bool = True) -> tuple[int, str]:
        while True:
            a, path = origin[rng.randrange(len(origin))]
            if not below_top or a < n_layers - 1:
                return a, path

    for _ in range(max(4, n_files // 200)):
        a, path = pick()
        b = rng.randrange(a + 1, n_layers)
        if plans[b].add(path, ("f", 0o640, 0, 0, _content(path, b, rng) + b"modified\n")):
            stats.modified += 1
    for _ in range(max(4, n_files // 200)):
        a, path = pick()
        b = rng.randrange(a + 1, n_layers)
        if not delete(b, path):
            continue
        stats.deleted_files += 1
        if rng.random() < 0.2 and b < n_layers - 1:
            c = rng.randrange(b + 1, n_layers)
            if plans[c].add(path, ("f", 0o644, 0, 0, _content(path, c, rng) + b"again\n")):
                stats.recreated += 1
    for _ in range(max(2, n_leaf // 300)):  # rm -rf a leaf directory
        leaf = rng.randrange(n_leaf)
        a = owner(leaf // 8)
        if a < n_layers - 1 and delete(rng.randrange(a + 1, n_layers), leaf_dir(leaf)):
            stats.deleted_dirs += 1
    for _ in range(max(1, n_groups // 200)):  # rm -rf a whole package
        group = rng.randrange(n_groups)
        a = owner(group)
        if a < n_layers - 1 and delete(rng.randrange(a + 1, n_layers), group_dir(group)):
            stats.deleted_dirs += 1
    for _ in range(max(2, n_groups // 100)):  # rm -rf pkg; mkdir pkg: an opaque directory
        group = rng.randrange(n_groups)
        a = owner(group)
        if a >= n_layers - 1:
            continue
        b = rng.randrange(a + 1, n_layers)
        gdir = group_dir(group)
        path = f"{gdir}/d0/replaced_in_{b:03d}.txt"
        if any(q.startswith(f"{gdir}/") for q, sp in plans[b].entries.items() if sp[0] == "w"):
            continue
        if plans[b].add(path, ("f", 0o644, 0, 0, _content(path, b, rng))):
            plans[b].opaque.add(gdir)
            stats.opaque_dirs += 1
    for _ in range(3):  # a file becomes a directory
        a, path = pick()
        b = rng.randrange(a + 1, n_layers)
        if plans[b].add(f"{path}/inner.txt", ("f", 0o644, 0, 0, b"now a directory\n")):
            stats.type_changes += 1
    for _ in range(3):  # a directory becomes a file
        leaf = rng.randrange(n_leaf)
        a = owner(leaf // 8)
        if a < n_layers - 1:
            b = rng.randrange(a + 1, n_layers)
            if plans[b].add(leaf_dir(leaf), ("f", 0o644, 0, 0, b"now a file\n")):
                stats.type_changes += 1

    # The init layer (daemon/initlayer/setup_unix.go) and the container's read-write layer.
    for d in ("dev/pts", "dev/shm", "proc", "sys", "etc"):
        init.add_dir(d)
    for path in (".dockerenv", "dev/console", "etc/resolv.conf", "etc/hosts", "etc/hostname"):
        init.add(path, ("f", 0o755, 0, 0, b""))
    init.add("etc/mtab", ("l", 0o777, 0, 0, "/proc/mounts"))
    rw.add("tmp/ready", ("f", 0o644, 0, 0, b""))
    rw.add("tmp/fifo", ("p", 0o600, 0, 0, None))
    rw.add("var/log/app.log", ("f", 0o640, 0, 0, b"bench started\n" * 40))
    rw.add("root/.ash_history", ("f", 0o600, 0, 0, b"rm -rf /opt/pkg0002\nvi /etc/layers.txt\n"))
    rw.add("etc/layers.txt", ("f", 0o644, 0, 0, b"edited in the container\n"))
    rw.dir_modes["tmp"] = (0o1777, 0, 0)
    rw.dir_modes["root"] = (0o700, 0, 0)
    for _ in range(20):
        _, path = pick(False)
        if rw.add(path, ("f", 0o644, 0, 0, b"copied up and edited\n")):
            stats.modified += 1
        _, path = pick(False)
        if delete(n_layers + 1, path):
            stats.deleted_files += 1
    for _ in range(2):
        if delete(n_layers + 1, leaf_dir(rng.randrange(n_leaf))):
            stats.deleted_dirs += 1
    gdir = group_dir(rng.randrange(n_groups))
    clean = not any(q.startswith(f"{gdir}/") for q, sp in rw.entries.items() if sp[0] == "w")
    if clean and rw.add(f"{gdir}/d1/fresh.txt", ("f", 0o644, 0, 0, b"after rm -rf and mkdir\n")):
        rw.opaque.add(gdir)
        stats.opaque_dirs += 1
    # Later changes may have hidden what an earlier whiteout deleted: drop those (bottom up).
    for k, p in enumerate(plans):
        for path, spec in list(p.entries.items()):
            if spec[0] == "w" and (visible(path, k) is None or opaque_above(k, path)):
                del p.entries[path]
                stats.stray_whiteouts_dropped += 1
    for p in plans:
        stats.files_written += sum(1 for s in p.entries.values() if s[0] == "f")
        stats.whiteouts += sum(1 for s in p.entries.values() if s[0] == "w")
    return plans, stats


# ---------------------------------------------------------------------------------------------
# Writing the Docker root
# ---------------------------------------------------------------------------------------------


@dataclass
class BenchRoot:
    """A generated root and what is needed to mount its container."""

    path: Path
    layers: int
    files: int
    mount_id: str
    init_id: str
    links: dict[str, str]  # overlay id -> LINKID
    image_ids: list[str]  # overlay ids of the image layers, base first
    seconds: float = 0.0
    stats: PlanStats = field(default_factory=PlanStats)
    bytes: int = 0

    @property
    def ovl(self) -> Path:
        return self.path / "overlay2"

    def mount_options(self) -> str:
        """Docker's mount data for the container, relative to ``overlay2/``."""
        lowers = [self.init_id, *reversed(self.image_ids)]
        lower = ":".join(f"l/{self.links[i]}" for i in lowers)
        return (
            f"index=off,lowerdir={lower},upperdir={self.mount_id}/diff,workdir={self.mount_id}/work"
        )


class RootWriter:
    """Writes the plan as a Docker 20.10 overlay2 data root (see the module docstring)."""

    def __init__(self, root: Path, layers: int, files: int, seed: int) -> None:
        self.root = root
        self.n_layers = layers
        self.n_files = files
        self.rng = random.Random(seed + 1)
        self.seed = seed
        self.t0 = dt.datetime(2024, 3, 1, 8, 0, 0, tzinfo=dt.UTC)
        self.bytes = 0

    def hex64(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def link_id(self) -> str:
        return base64.b32encode(self.rng.randbytes(17)).decode()[:26]

    def stamp(self, seconds: float) -> str:
        whole = int(seconds)
        return go_time(self.t0 + dt.timedelta(seconds=whole), self.rng.randrange(1, 10**9))

    def layer_ns(self, index: int) -> int:
        return int((self.t0.timestamp() + 600 * index) * 1e9) + self.rng.randrange(10**9)

    def write_diff(self, diff: str, plan: LayerPlan, when_ns: int) -> int:
        """Fill one ``diff/`` directory; returns the sum of its regular file sizes."""
        size = 0
        for d in sorted(plan.dirs):
            os.mkdir(f"{diff}/{d}", 0o755)
        hardlinks = []
        for path, (kind, mode, uid, gid, payload) in plan.entries.items():
            target = f"{diff}/{path}"
            if kind == "f":
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o777)
                try:
                    os.write(fd, payload)
                finally:
                    os.close(fd)
                size += len(payload)
                if mode & 0o7000:
                    os.chmod(target, mode)
            elif kind == "w":
                os.mknod(target, st.S_IFCHR | 0o000, os.makedev(0, 0))
            elif kind == "l":
                os.symlink(payload, target)
            elif kind == "c":
                os.mknod(target, st.S_IFCHR | mode, os.makedev(*payload))
            elif kind == "p":
                os.mkfifo(target, mode)
            elif kind == "h":
                hardlinks.append((path, payload))
                continue
            if uid or gid:
                os.chown(target, uid, gid, follow_symlinks=False)
            t = when_ns + self.rng.randrange(10**9)
            os.utime(target, ns=(t, t), follow_symlinks=False)
        for path, other in hardlinks:
            os.link(f"{diff}/{other}", f"{diff}/{path}")
        for d in plan.opaque:
            os.setxattr(f"{diff}/{d}", "trusted.overlay.opaque", b"y")
        for d in sorted(plan.dirs | {""}, reverse=True):  # children before parents
            target = f"{diff}/{d}" if d else diff
            mode, uid, gid = plan.dir_modes.get(d, (0o755, 0, 0))
            if (uid, gid) != (0, 0):
                os.chown(target, uid, gid)
            os.chmod(target, mode)
            t = when_ns + self.rng.randrange(10**9)
            os.utime(target, ns=(t, t))
        return size

    def overlay_dir(
        self, oid: str, parent: str | None, links: dict[str, str], lowers: dict[str, str]
    ) -> str:
        """``overlay2/<id>`` with link, lower, work/ and the ``l/`` link; returns diff/."""
        d = f"{self.root}/overlay2/{oid}"
        mkdir(d, 0o710)
        diff = f"{d}/diff"
        os.mkdir(diff, 0o755)
        link = self.link_id()
        links[oid] = link
        lower = ""
        if parent is not None:
            lower = f"l/{links[parent]}" + (f":{lowers[parent]}" if lowers[parent] else "")
            write(f"{d}/lower", lower)
            mkdir(f"{d}/work", 0o700)
            write(f"{self.root}/overlay2/{parent}/committed", b"", 0o600)
        lowers[oid] = lower
        write(f"{d}/link", link)
        os.symlink(f"../{oid}/diff", f"{self.root}/overlay2/l/{link}")
        return diff

    def generate(self) -> BenchRoot:
        began = time.perf_counter()
        self_test()
        plans, stats = plan_layers(self.n_layers, self.n_files, self.seed)
        root = str(self.root)
        mkdir(root, 0o710)
        for name, mode in (
            ("containers", 0o710),
            ("image", 0o700),
            ("network/files", 0o750),
            ("plugins/storage", 0o700),
            ("runtimes", 0o700),
            ("swarm", 0o700),
            ("tmp", 0o700),
            ("trust", 0o700),
            ("volumes", 0o701),
            ("overlay2", 0o710),
            ("overlay2/l", 0o700),
        ):
            mkdir(f"{root}/{name}", mode)
        store = f"{root}/image/overlay2"
        for sub in ("layerdb/sha256", "layerdb/mounts", "layerdb/tmp", "distribution"):
            mkdir(f"{store}/{sub}", 0o700)
        mkdir(f"{store}/imagedb/content/sha256", 0o700)
        mkdir(f"{store}/imagedb/metadata/sha256", 0o700)

        links: dict[str, str] = {}
        lowers: dict[str, str] = {}
        image_oids: list[str] = []
        diff_ids: list[str] = []
        parent: str | None = None
        old_umask = os.umask(0)
        try:
            for k in range(self.n_layers):
                oid = self.hex64()
                diff = self.overlay_dir(oid, parent, links, lowers)
                size = self.write_diff(diff, plans[k], self.layer_ns(k))
                self.bytes += size
                diff_id = (
                    "sha256:"
                    + hashlib.sha256(
                        f"storagekit bench_union seed {self.seed} layer {k} of {self.n_layers} "
                        f"files {self.n_files}".encode()
                    ).hexdigest()
                )
                diff_ids.append(diff_id)
                chain = chain_ids(diff_ids)[-1]
                ldir = f"{store}/layerdb/sha256/{chain.removeprefix('sha256:')}"
                mkdir(ldir, 0o755)
                write(f"{ldir}/diff", diff_id)
                if k:
                    write(f"{ldir}/parent", chain_ids(diff_ids[:-1])[-1])
                write(f"{ldir}/cache-id", oid)
                write(f"{ldir}/size", str(size))
                image_oids.append(oid)
                parent = oid
            top_chain = chain_ids(diff_ids)[-1]
            image_id = self.image_config(store, diff_ids)
            mount_id = self.hex64()
            init_id = f"{mount_id}-init"
            diff = self.overlay_dir(init_id, parent, links, lowers)
            self.bytes += self.write_diff(diff, plans[self.n_layers], self.layer_ns(self.n_layers))
            diff = self.overlay_dir(mount_id, init_id, links, lowers)
            rw_ns = self.layer_ns(self.n_layers + 2)
            self.bytes += self.write_diff(diff, plans[self.n_layers + 1], rw_ns)
            os.mkdir(f"{root}/overlay2/{mount_id}/work/work", 0o000)
            self.container(store, image_id, mount_id, init_id, top_chain)
        finally:
            os.umask(old_umask)
        return BenchRoot(
            self.root,
            self.n_layers,
            self.n_files,
            mount_id,
            init_id,
            links,
            image_oids,
            time.perf_counter() - began,
            stats,
            self.bytes,
        )

    def image_config(self, store: str, diff_ids: list[str]) -> str:
        history = [
            {
                "created": self.stamp(600 * k),
                "created_by": f"/bin/sh -c install-layer {k}",
            }
            for k in range(len(diff_ids))
        ]
        cfg = {
            "Hostname": "",
            "Domainname": "",
            "User": "",
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Image": "",
            "Volumes": None,
            "WorkingDir": "",
            "Entrypoint": None,
            "OnBuild": None,
            "Labels": None,
        }
        config = {
            "architecture": "amd64",
            "config": cfg,
            "container": self.hex64(),
            "container_config": cfg,
            "created": history[-1]["created"],
            "docker_version": "20.10.24+dfsg1",
            "history": history,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        raw = go_json(config)
        hex_id = hashlib.sha256(raw).hexdigest()
        write(f"{store}/imagedb/content/sha256/{hex_id}", raw, 0o600)
        meta = f"{store}/imagedb/metadata/sha256/{hex_id}"
        mkdir(meta, 0o700)
        write(f"{meta}/lastUpdated", self.stamp(600 * len(diff_ids)), 0o600)
        repos = {"Repositories": {TAG.split(":")[0]: {TAG: f"sha256:{hex_id}"}}}
        write(f"{store}/repositories.json", go_json(repos), 0o600)
        return f"sha256:{hex_id}"

    def container(
        self, store: str, image_id: str, mount_id: str, init_id: str, top_chain: str
    ) -> None:
        cid = self.hex64()
        host = f"/var/lib/docker/containers/{cid}"
        created = 600 * (self.n_layers + 1)
        doc = {
            "StreamConfig": {},
            "State": {
                "Running": False,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "RemovalInProgress": False,
                "Dead": False,
                "Pid": 0,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": self.stamp(created + 2),
                "FinishedAt": self.stamp(created + 3600),
                "Health": None,
            },
            "ID": cid,
            "Created": self.stamp(created),
            "Managed": False,
            "Path": "/bin/sh",
            "Args": [],
            "Config": {
                "Hostname": cid[:12],
                "Domainname": "",
                "User": "",
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Image": TAG,
                "Volumes": None,
                "WorkingDir": "",
                "Entrypoint": None,
                "OnBuild": None,
                "Labels": {},
            },
            "Image": image_id,
            "LogPath": f"{host}/{cid}-json.log",
            "Name": f"/{CONTAINER_NAME}",
            "Driver": "overlay2",
            "OS": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "RestartCount": 0,
            "HasBeenStartedBefore": True,
            "HasBeenManuallyStopped": True,
            "MountPoints": {},
            "AppArmorProfile": "docker-default",
            "HostnamePath": f"{host}/hostname",
            "HostsPath": f"{host}/hosts",
            "ShmPath": f"{host}/mounts/shm",
            "ResolvConfPath": f"{host}/resolv.conf",
        }
        cdir = f"{self.root}/containers/{cid}"
        mkdir(cdir, 0o710)
        write(f"{cdir}/config.v2.json", go_json(doc), 0o600)
        hostconfig = {
            "Binds": None,
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "default",
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "ShmSize": 67108864,
            "Runtime": "runc",
        }
        write(f"{cdir}/hostconfig.json", go_json(hostconfig))
        write(f"{cdir}/hostname", cid[:12] + "\n")
        mdir = f"{store}/layerdb/mounts/{cid}"
        mkdir(mdir, 0o755)
        write(f"{mdir}/mount-id", mount_id)
        write(f"{mdir}/init-id", init_id)
        write(f"{mdir}/parent", top_chain)


# ---------------------------------------------------------------------------------------------
# Kernel mount
# ---------------------------------------------------------------------------------------------


def mount_overlay(root: BenchRoot, mountpoint: Path) -> None:
    """Mount the container as dockerd does: short ``l/`` links, from a chdir into overlay2/."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    opts = root.mount_options()
    if len(opts) >= os.sysconf("SC_PAGE_SIZE"):
        raise RuntimeError(f"mount options are {len(opts)} bytes, more than a page")
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", opts, str(mountpoint)],
        cwd=root.ovl,
        check=True,
        capture_output=True,
    )


def unmount(mountpoint: Path) -> None:
    """Unmount, lazily if busy; never raises."""
    if not os.path.ismount(mountpoint):
        return
    proc = subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False)
    if proc.returncode != 0:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


# ---------------------------------------------------------------------------------------------
# Checking the views
# ---------------------------------------------------------------------------------------------

_TYPES = {
    st.S_IFREG: "file",
    st.S_IFDIR: "dir",
    st.S_IFLNK: "symlink",
    st.S_IFCHR: "chardev",
    st.S_IFBLK: "blockdev",
    st.S_IFIFO: "fifo",
    st.S_IFSOCK: "socket",
}


def _ns_of(stamp: str) -> int:
    """storagekit's ``YYYY-mm-ddTHH:MM:SS.nnnnnnnnnZ`` as nanoseconds since the epoch."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    when = dt.datetime.fromisoformat(whole).replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 10**9 + int(frac.ljust(9, "0")[:9] or 0)


Meta = tuple[str, str, int, int, int, int, str | None]  # type, mode, uid, gid, size, mtime, link


def kernel_listing(mountpoint: Path) -> dict[str, Meta]:
    """Every entry below the mount, by ``/path``, from ``lstat``."""
    out: dict[str, Meta] = {}
    stack = [""]
    base = str(mountpoint)
    while stack:
        rel = stack.pop()
        with os.scandir(f"{base}/{rel}" if rel else base) as it:
            for e in it:
                path = f"{rel}/{e.name}" if rel else e.name
                s = e.stat(follow_symlinks=False)
                kind = _TYPES[st.S_IFMT(s.st_mode)]
                link = os.readlink(e.path) if kind == "symlink" else None
                out["/" + path] = (
                    kind,
                    f"{st.S_IMODE(s.st_mode):04o}",
                    s.st_uid,
                    s.st_gid,
                    s.st_size,
                    s.st_mtime_ns,
                    link,
                )
                if kind == "dir":
                    stack.append(path)
    return out


def storagekit_listing(records: list[dict[str, Any]]) -> dict[str, Meta]:
    """``ls -R --format json`` records in the same shape."""
    return {
        r["path"]: (
            r["type"],
            r["mode"],
            r["uid"],
            r["gid"],
            r["size"],
            _ns_of(r["mtime"]),
            r["link_target"],
        )
        for r in records
    }


FIELDS = ("type", "mode", "uid", "gid", "size", "mtime_ns", "link_target")


def compare(
    kernel: dict[str, Any], ours: dict[str, Any], fields: Sequence[str], what: str
) -> list[str]:
    """Differences between two ``path -> tuple`` maps, grouped, with a few examples each."""
    problems: list[str] = []
    missing = sorted(set(kernel) - set(ours))
    extra = sorted(set(ours) - set(kernel))
    if missing:
        problems.append(
            f"{what}: {len(missing)} paths the kernel shows are missing, e.g. {missing[:8]}"
        )
    if extra:
        problems.append(f"{what}: {len(extra)} paths the kernel does not show, e.g. {extra[:8]}")
    by_field: dict[str, list[str]] = {}
    for path in sorted(set(kernel) & set(ours)):
        a, b = kernel[path], ours[path]
        if a == b:
            continue
        for name, x, y in zip(fields, a, b, strict=True):
            if x != y:
                by_field.setdefault(name, []).append(f"{path}: kernel {x!r}, storagekit {y!r}")
    for name, items in by_field.items():
        problems.append(
            f"{what}: {len(items)} paths differ in {name}, e.g. " + "; ".join(items[:5])
        )
    return problems


TarMeta = tuple[str, int, int, int, int, str, int, int, str | None]
TAR_FIELDS = ("type", "mode", "uid", "gid", "mtime", "linkname", "devmajor", "devminor", "sha256")
_TAR_KIND = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
    tarfile.LNKTYPE: "hardlink",
}


def tar_members(path: Path) -> dict[str, TarMeta]:
    """Members of a tar by normalised name; hard links resolved to their target's content."""
    out: dict[str, TarMeta] = {}
    links: list[tuple[str, str, TarMeta]] = []
    with tarfile.open(path, mode="r|") as tar:
        for m in tar:
            name = m.name.removeprefix("./").rstrip("/")
            if name in ("", "."):
                continue
            kind = _TAR_KIND.get(m.type, f"type {m.type!r}")
            sha = None
            if m.isreg():
                f = tar.extractfile(m)
                assert f is not None
                sha = hashlib.sha256(f.read()).hexdigest()
            dev = (m.devmajor, m.devminor) if m.ischr() or m.isblk() else (0, 0)
            link = m.linkname if m.issym() else ""
            meta: TarMeta = (kind, m.mode, m.uid, m.gid, int(m.mtime), link, *dev, sha)
            if m.islnk():
                links.append((name, m.linkname.removeprefix("./").rstrip("/"), meta))
            else:
                out[name] = meta
    for name, target, meta in links:
        first = out.get(target)
        out[name] = ("file", *meta[1:8], first[8]) if first else meta
    return out


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero."""


@dataclass
class Run:
    """One run: wall seconds and peak RSS (KiB)."""

    seconds: float
    rss_kib: int


def run_once(argv: Sequence[str], stdout: str | None = None, scratch: Path | None = None) -> Run:
    """Run ``argv`` with stdout to ``stdout`` (a path, truncated) or /dev/null; time and RSS."""
    rss_file = (scratch or Path(tempfile.gettempdir())) / "rss.txt"
    wrapped = list(argv)
    use_time = os.access(GNU_TIME, os.X_OK)
    if use_time:
        wrapped = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
    sink = stdout or os.devnull
    with open(sink, "wb") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        began = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=out, stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise CommandFailed(f"{' '.join(argv)} exited {proc.returncode}: " + " | ".join(tail))
    if use_time:
        rss = int(rss_file.read_text().split()[-1])
    else:  # the children's maximum only tells when this run raised it
        rss = after if after > before else -1
    return Run(elapsed, rss)


@dataclass
class Row:
    """One benchmarked command."""

    label: str
    argv: list[str]
    sink: str | None = None  # stdout file, else /dev/null
    runs: list[Run] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> float | None:
        return min(r.seconds for r in self.runs) if self.runs else None

    @property
    def rss_kib(self) -> int | None:
        return max(r.rss_kib for r in self.runs) if self.runs else None


def benchmark(rows: Sequence[Row], runs: int, scratch: Path) -> None:
    """Warm up every command, then ``runs`` rounds over all of them (round robin)."""
    for row in rows:
        try:
            run_once(row.argv, row.sink, scratch)
        except CommandFailed as exc:
            row.error = str(exc)
    for _ in range(runs):
        for row in rows:
            if row.error:
                continue
            try:
                row.runs.append(run_once(row.argv, row.sink, scratch))
            except CommandFailed as exc:
                row.error = str(exc)


# ---------------------------------------------------------------------------------------------
# One root: generate, mount, check, time
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """Everything measured on one root."""

    layers: int
    files: int
    generate_seconds: float
    entries: int
    stats: PlanStats
    rows: dict[str, Row]
    problems: list[str]
    bytes: int

    def pair(self, kernel: str, ours: str) -> tuple[Row, Row, float | None]:
        k, s = self.rows[kernel], self.rows[ours]
        ratio = s.best / k.best if s.best is not None and k.best else None
        return k, s, ratio


def _sk(root: Path, *args: str) -> list[str]:
    return [STORAGEKIT, "-r", str(root), *args]


def check_views(root: BenchRoot, mnt: Path, scratch: Path, log: Any) -> tuple[list[str], int]:
    """Compare storagekit's listing and tar with the kernel's; returns (problems, entries)."""
    problems: list[str] = []
    began = time.perf_counter()
    kernel = kernel_listing(mnt)
    proc = subprocess.run(
        _sk(root.path, "ls", CONTAINER_NAME, "/", "-R", "--format", "json"),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return [f"storagekit ls failed: {proc.stderr.decode(errors='replace')[-500:]}"], 0
    if proc.stderr.strip():
        print(f"  storagekit ls stderr: {proc.stderr.decode(errors='replace')[:500]}", file=log)
    ours = storagekit_listing(json.loads(proc.stdout))
    del proc
    problems += compare(kernel, ours, FIELDS, "ls -R")
    entries = len(kernel)
    del ours
    kernel_tar = scratch / "kernel.tar"
    our_tar = scratch / "storagekit.tar"
    try:
        with open(kernel_tar, "wb") as out:
            subprocess.run(["tar", "-C", str(mnt), "-cf", "-", "."], stdout=out, check=True)
        with open(our_tar, "wb") as out:
            tar = subprocess.run(
                _sk(root.path, "extract", CONTAINER_NAME, "--tar", "-"),
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
        if tar.returncode != 0:
            problems.append(f"storagekit extract failed: {tar.stderr.decode()[-500:]}")
        else:
            a, b = tar_members(kernel_tar), tar_members(our_tar)
            problems += compare(a, b, TAR_FIELDS, "extract --tar")
            files = sum(1 for m in a.values() if m[0] == "file")
            print(
                f"  tar: {len(a)} members ({files} regular files, SHA-256 of all compared)",
                file=log,
            )
    finally:
        kernel_tar.unlink(missing_ok=True)
        our_tar.unlink(missing_ok=True)
    print(
        f"  views checked in {time.perf_counter() - began:.1f}s: {entries} entries, "
        f"{'identical' if not problems else f'{len(problems)} kinds of difference'}",
        file=log,
    )
    return problems, entries


def measure_root(
    workdir: Path, layers: int, files: int, seed: int, runs: int, verify: bool, log: Any
) -> Result:
    """Generate one root, mount it, check the views, time the four commands, clean up."""
    base = workdir / f"root-{files}"
    root_dir, mnt, scratch = base / "docker", base / "mnt", base / "scratch"
    if base.exists():
        shutil.rmtree(base)
    scratch.mkdir(parents=True)
    try:
        print(f"generating {layers} layers, {files} files in {root_dir} …", file=log)
        root = RootWriter(root_dir, layers, files, seed).generate()
        s = root.stats
        print(
            f"  made in {root.seconds:.1f}s: {s.files_written} regular files written "
            f"({root.bytes / 1e6:.1f} MB), {s.leaf_dirs} leaf dirs, {s.whiteouts} whiteouts, "
            f"{s.opaque_dirs} opaque dirs, {s.modified} modified, {s.deleted_files} files and "
            f"{s.deleted_dirs} dirs deleted, {s.recreated} re-created, {s.type_changes} type "
            "changes",
            file=log,
        )
        mount_overlay(root, mnt)
        try:
            problems, entries = check_views(root, mnt, scratch, log) if verify else ([], 0)
            for p in problems:
                print(f"  DIFFERENCE {p}", file=log)
            tar_sink = str(scratch / "out.tar")
            m = str(mnt)
            ls_argv = _sk(root_dir, "ls", CONTAINER_NAME, "/", "-R", "--format", "json")
            tar_argv = _sk(root_dir, "extract", CONTAINER_NAME, "--tar", "-")
            rows = [
                Row("find", ["find", m, "-printf", "%p %s %m %U %G %T@ %y\\n"]),
                Row("storagekit ls -R", ls_argv),
                Row("tar -c", ["tar", "-C", m, "-cf", "-", "."], tar_sink),
                Row("storagekit extract --tar", tar_argv, tar_sink),
            ]
            print(f"  timing, best of {runs} …", file=log)
            benchmark(rows, runs, scratch)
            for row in rows:
                if row.error:
                    problems.append(row.error)
        finally:
            unmount(mnt)
        return Result(
            layers,
            files,
            root.seconds,
            entries,
            root.stats,
            {row.label: row for row in rows},
            problems,
            root.bytes,
        )
    finally:
        unmount(mnt)


# ---------------------------------------------------------------------------------------------
# Profile
# ---------------------------------------------------------------------------------------------


def profile(root: Path, args: list[str], top: int = 18) -> str:
    """cProfile of ``storagekit.cli.main.main(args)`` in this process, stdout to /dev/null.

    The listing and the archive are normally spread over forked workers, which cProfile does
    not follow: here they run in this one process (the profile shows the whole work).
    """
    from storagekit.cli import main as cli  # the venv's storagekit
    from storagekit.union import forkstream

    prof = cProfile.Profile()
    least, forkstream.MIN_STEPS = forkstream.MIN_STEPS, sys.maxsize
    try:
        with open(os.devnull, "w") as null, redirect_stdout(null):
            prof.enable()
            status = cli.main(["-r", str(root), *args])
            prof.disable()
    finally:
        forkstream.MIN_STEPS = least
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip()]
    return f"storagekit {' '.join(args)} (exit {status})\n" + "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

PAIRS = (("list", "find", "storagekit ls -R"), ("tar", "tar -c", "storagekit extract --tar"))


def _mb(kib: int | None) -> str:
    return "-" if kib is None or kib < 0 else f"{kib / 1024:.0f}"


def table(results: Sequence[Result]) -> str:
    head = (
        f"{'files':>8} {'op':<5} {'kernel s':>9} {'storagekit s':>13} {'ratio':>6} "
        f"{'sk RSS MB':>10} {'tool RSS MB':>12}  storagekit runs (s)"
    )
    lines = [head, "-" * len(head)]
    for res in results:
        for op, kernel, ours in PAIRS:
            k, s, ratio = res.pair(kernel, ours)
            lines.append(
                f"{res.files:>8} {op:<5} "
                + (f"{k.best:>9.3f}" if k.best is not None else f"{'error':>9}")
                + (f" {s.best:>13.3f}" if s.best is not None else f" {'error':>13}")
                + (f" {ratio:>6.2f}" if ratio is not None else f" {'-':>6}")
                + f" {_mb(s.rss_kib):>10} {_mb(k.rss_kib):>12}  "
                + " ".join(f"{r.seconds:.2f}" for r in s.runs)
            )
    return "\n".join(lines)


def verdict(results: Sequence[Result]) -> tuple[bool, bool, str]:
    """(speed within 2x, memory bounded, one line)."""
    big = max(results, key=lambda r: r.files)
    ratios = {op: big.pair(k, s)[2] for op, k, s in PAIRS}
    fast = all(r is not None and r <= TARGET_RATIO for r in ratios.values())
    speed = ", ".join(
        f"{op} {r:.2f}x" if r is not None else f"{op} failed" for op, r in ratios.items()
    )
    line = (
        f"{'PASS' if fast else 'FAIL'} speed "
        f"(target <= {TARGET_RATIO:.0f}x of the kernel tool): {speed}"
    )
    bounded = True
    small = min(results, key=lambda r: r.files)
    if small is not big:
        growth = []
        for _, _, ours in PAIRS:
            a, b = small.rows[ours].rss_kib, big.rows[ours].rss_kib
            if a and b and a > 0 and b > 0:
                # bounded: at most +50 % for a tree 10x larger (interpreter + imports dominate)
                grows = b > 1.5 * a
                bounded = bounded and not grows
                growth.append(f"{ours} {_mb(a)} -> {_mb(b)} MB")
        line += (
            f"; {'PASS' if bounded else 'FAIL'} memory "
            f"({small.files} -> {big.files} files: " + ", ".join(growth) + ")"
        )
    return fast, bounded, line


def figures(
    results: Sequence[Result], runs: int, line: str, profiles: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "runs": runs,
        "method": "wall clock (time.perf_counter) around subprocess runs, best of runs after one "
        "warm-up, round robin; peak RSS from /usr/bin/time %M; tar output to a tmpfs file",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_after": list(os.getloadavg()),
        "roots": [],
        "verdict": line,
        "profiles": profiles,
    }
    for res in results:
        ops = {}
        for op, kernel, ours in PAIRS:
            k, s, ratio = res.pair(kernel, ours)
            ops[op] = {
                "kernel_tool": kernel,
                "kernel_seconds": k.best,
                "storagekit_seconds": s.best,
                "ratio": None if ratio is None else round(ratio, 3),
                "storagekit_peak_rss_kib": s.rss_kib,
                "kernel_tool_peak_rss_kib": k.rss_kib,
                "storagekit_runs": [round(r.seconds, 4) for r in s.runs],
                "kernel_runs": [round(r.seconds, 4) for r in k.runs],
            }
        out["roots"].append(
            {
                "layers": res.layers,
                "files": res.files,
                "entries_in_view": res.entries,
                "bytes_written": res.bytes,
                "generate_seconds": round(res.generate_seconds, 2),
                "plan": vars(res.stats),
                "views_identical": not res.problems,
                "differences": res.problems,
                "operations": ops,
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time storagekit ls -R / extract --tar against find / tar on a kernel "
        "overlay mount of the same layers (run as root).",
    )
    parser.add_argument("--workdir", type=Path, help="where to write (default: temp, /dev/shm)")
    parser.add_argument("--keep", action="store_true", help="keep the generated roots")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command (best kept)")
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument(
        "--small-files", type=int, default=30_000, help="second root for memory growth (0: none)"
    )
    parser.add_argument("--seed", type=int, default=20240301)
    parser.add_argument("--no-verify", action="store_true", help="skip comparing the views")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="always profile storagekit (done anyway when it misses a target)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="write the --files root to WORKDIR/root-FILES/docker (implies --keep) and stop",
    )
    args = parser.parse_args(argv)
    log = sys.stderr
    if os.geteuid() != 0:
        print("error: run as root (mknod, trusted.* xattrs, mount)", file=log)
        return 2
    if args.layers < 2 or args.files < 1000:
        parser.error("need at least 2 layers and 1000 files")

    temp = args.workdir is None
    workdir: Path = args.workdir or Path(
        tempfile.mkdtemp(prefix="storagekit-bench-union-", dir=default_temp_parent())
    )
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    profiles: dict[str, str] = {}
    if args.generate_only:
        args.keep = True
    try:
        if args.generate_only:
            shutil.rmtree(workdir / f"root-{args.files}", ignore_errors=True)
            root = RootWriter(
                workdir / f"root-{args.files}" / "docker", args.layers, args.files, args.seed
            ).generate()
            print(f"generated {root.path} in {root.seconds:.1f}s: {vars(root.stats)}", file=log)
            return 0
        sizes = [args.files] + ([args.small_files] if 0 < args.small_files < args.files else [])
        for files in sizes:
            results.append(
                measure_root(
                    workdir, args.layers, files, args.seed, args.runs, not args.no_verify, log
                )
            )
            if not args.keep and files != args.files:
                shutil.rmtree(workdir / f"root-{files}", ignore_errors=True)
        fast, bounded, line = verdict(results)
        if args.profile or not fast or not bounded:
            big = workdir / f"root-{args.files}" / "docker"
            print("profiling storagekit in-process …", file=log)
            profiles["ls"] = profile(big, ["ls", CONTAINER_NAME, "/", "-R", "--format", "json"])
            profiles["extract"] = profile(big, ["extract", CONTAINER_NAME, "--tar", "-"])
        problems = [p for r in results for p in r.problems]
        if args.json:
            print(json.dumps(figures(results, args.runs, line, profiles), indent=2))
        else:
            big_res = results[0]
            print(
                f"best of {args.runs} runs; {big_res.layers} image layers + init + rw; "
                f"roots generated in "
                + ", ".join(f"{r.generate_seconds:.1f}s ({r.files} files)" for r in results)
            )
            print(table(results))
            print(
                "views: "
                + (
                    "identical (ls -R paths/types/metadata, tar members/contents)"
                    if not problems
                    else f"{len(problems)} DIFFERENCES, see above"
                )
                if not args.no_verify
                else "views: not checked"
            )
            print(line)
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"load average after: {load} on {os.cpu_count()} CPUs")
            for name, text in profiles.items():
                print(f"\n--- profile: {name} ---\n{text}")
        return 1 if problems else 0
    except (CommandFailed, subprocess.CalledProcessError, RuntimeError) as exc:
        detail = getattr(exc, "stderr", None)
        print(f"error: {exc}" + (f" {detail.decode(errors='replace')}" if detail else ""), file=log)
        return 1
    finally:
        for d in workdir.glob("root-*/mnt"):
            unmount(d)
        if not args.keep:
            for d in workdir.glob("root-*"):
                shutil.rmtree(d, ignore_errors=True)
            if temp:
                shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}", file=log)


if __name__ == "__main__":
    sys.exit(main())
