"""The deep tree's plan: what each layer's ``diff/`` of the union benchmark's root holds.

The tree: ``{usr/lib,usr/share,opt,var/lib}/pkgGGGG/dN/file_MMMM.ext`` leaf directories of about
100 files each (a few thousand directories), each package owned by one layer and 85 % of its
files there, the rest added by later layers (directories merged across layers); ``usr/bin`` and
``etc/conf.d`` get files from every layer, ``etc/layers.txt`` is rewritten by every layer. Upper
layers modify files (0.5 %), delete files with whiteouts (0.5 %, some re-created higher up),
delete whole directories, make some directories opaque, turn a file into a directory and a
directory into a file; the read-write layer does the same on a small scale (as copy-ups, ``rm``
and ``rm -rf; mkdir`` leave them). Also: symlinks (absolute, relative, to a directory), hard
links, device nodes, a FIFO, set-uid, non-root owners, a 1 MiB file, a path over 100 bytes, a
UTF-8 name and a name that is not UTF-8.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

from tests.support.rootwriter.diffdir import WHITEOUT, LayerPlan

TOPS = ("usr/lib", "usr/share", "opt", "var/lib")
EXTS = (".py", ".so", ".txt", ".conf", ".json", ".sh", ".h", ".mo")


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
