"""Collect a running containerd's own answers about its root (the sample's ``expected.json``).

For every namespace: ``ctr images ls``, ``content ls`` (and every blob's bytes through
``ctr content get``: size and SHA-256), ``snapshots ls``/``info``/``usage -b`` per snapshotter,
``containers info``, ``leases ls``; and for every active snapshot the kernel's view of its
merged filesystem: the overlay from ``ctr snapshots mounts`` mounted read-only (upper first, as
a lower) on a temporary directory and walked with ``lstat``. Raw ``ctr`` output is kept next to
the parsed rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

SNAPSHOTTERS = ("overlayfs", "native")
_IMAGE_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(sha256:[0-9a-f]{64})\s+(.+?)\s+(\S+)\s+(\S+)\s*$")


def _rows(text: str) -> list[list[str]]:
    return [ln.split() for ln in text.splitlines()[1:] if ln.strip()]


def walk_tree(top: Path) -> list[dict[str, Any]]:
    """Every path below ``top`` (sorted), as lstat sees it."""
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            st = os.lstat(full)
            kind = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
                    stat.S_IFCHR: "chardev", stat.S_IFBLK: "blockdev", stat.S_IFIFO: "fifo",
                    stat.S_IFSOCK: "socket"}[stat.S_IFMT(st.st_mode)]
            item: dict[str, Any] = {
                "path": str(full.relative_to(top)), "type": kind,
                "mode": f"{stat.S_IMODE(st.st_mode):04o}", "uid": st.st_uid, "gid": st.st_gid,
                "size": st.st_size if kind == "file" else 0, "mtime_ns": st.st_mtime_ns,
                "link_target": os.readlink(full) if kind == "symlink" else None,
            }
            if kind == "file":
                item["sha256"] = hashlib.sha256(full.read_bytes()).hexdigest()
            out.append(item)
    return sorted(out, key=lambda e: e["path"])


def merged_view(d: Any, ns: str, sn: str, key: str, mnt: Path) -> dict[str, Any]:
    """Mount the snapshot read-only as the engine would (lowers from ``snapshots mounts``)."""
    out = d.ctr(ns, "snapshots", "--snapshotter", sn, "mounts", "/target", key, record=False)
    argv = out.split()
    kind, opts = argv[argv.index("-t") + 1], argv[argv.index("-o") + 1].split(",")
    res: dict[str, Any] = {"ctr_mounts": out.strip()}
    if kind == "bind":  # no parent (native, or overlayfs without lowers): the dir itself
        src = Path(argv[argv.index("-t") + 2])
        res["layers"] = [str(src)]
        res["entries"] = walk_tree(src)
        return res
    upper = [o[9:] for o in opts if o.startswith("upperdir=")]
    lowers = [o[9:] for o in opts if o.startswith("lowerdir=")]
    layers = upper + (lowers[0].split(":") if lowers else [])
    res["layers"] = layers
    mnt.mkdir(parents=True, exist_ok=True)
    if len(layers) == 1:  # overlay needs two lowers without an upper: read the one dir
        res["entries"] = walk_tree(Path(layers[0]))
        return res
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir=" + ":".join(layers),
                    str(mnt)], check=True)
    try:
        res["entries"] = walk_tree(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    return res


def capture(d: Any, mnt: Path) -> dict[str, Any]:
    """The engine's answers for every namespace (see the module docstring)."""
    exp: dict[str, Any] = {
        "version": d.ctr("default", "version", record=False),
        "namespaces_ls": d.ctr("default", "namespaces", "ls", record=False),
    }
    namespaces = d.ctr("default", "namespaces", "ls", "-q", record=False).split()
    exp["namespaces"] = namespaces
    exp["ns"] = {}
    for ns in namespaces:
        cur: dict[str, Any] = {}
        raw = d.ctr(ns, "images", "ls", record=False)
        cur["images_ls"] = raw
        cur["images"] = []
        for ln in raw.splitlines()[1:]:
            m = _IMAGE_ROW.match(ln)
            if m:
                cur["images"].append(dict(zip(
                    ("ref", "type", "digest", "size", "platforms", "labels"), m.groups(),
                    strict=True)))
        raw = d.ctr(ns, "content", "ls", record=False)
        cur["content_ls"] = raw
        cur["content"] = {}
        for row in _rows(raw):
            data = subprocess.run(["ctr", "--address", d.sock, "-n", ns, "content", "get", row[0]],
                                  capture_output=True, check=True).stdout
            labels = {} if row[-1] == "-" else dict(
                kv.split("=", 1) for kv in row[-1].split(","))
            cur["content"][row[0]] = {"size": len(data), "labels": labels,
                                      "sha256": "sha256:" + hashlib.sha256(data).hexdigest()}
        cur["snapshots"] = {}
        for sn in SNAPSHOTTERS:
            raw = d.ctr(ns, "snapshots", "--snapshotter", sn, "ls", record=False)
            snaps: dict[str, Any] = {}
            for row in _rows(raw):
                key = row[0]
                info = json.loads(d.ctr(ns, "snapshots", "--snapshotter", sn, "info", key,
                                        record=False))
                use = _rows(d.ctr(ns, "snapshots", "--snapshotter", sn, "usage", "-b", key,
                                  record=False))
                snaps[key] = {"ls": row, "info": info,
                              "usage": {"size": int(use[0][1]), "inodes": int(use[0][2])}}
                if info["Kind"] == "Active":
                    snaps[key]["merged"] = merged_view(d, ns, sn, key, mnt)
            cur["snapshots"][sn] = {"ls": raw, "items": snaps}
        cur["containers"] = {
            cid: json.loads(d.ctr(ns, "containers", "info", cid, record=False))
            for cid in d.ctr(ns, "containers", "ls", "-q", record=False).split()
        }
        raw = d.ctr(ns, "leases", "ls", record=False)
        cur["leases_ls"] = raw
        cur["leases"] = {row[0]: {"created_at": row[1],
                                  "labels": {} if row[-1] == "-" else dict(
                                      kv.split("=", 1) for kv in row[-1].split(","))}
                         for row in _rows(raw)}
        exp["ns"][ns] = cur
    return exp
