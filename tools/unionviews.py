"""The union benchmark's kernel side: mount the container with the kernel's overlay as dockerd
does, and check that storagekit's views equal the kernel's.

Checked: the set of paths and, per path, type, permission bits, owner, size, mtime (ns) and
symlink target of ``storagekit ls -R`` against an ``lstat`` walk of the mount; and the members of
``storagekit extract --tar`` against ``tar -C MNT -c .`` (type, mode, owner, mtime, link and
device fields, SHA-256 of every regular file, hard links resolved to their target's content).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat as st
import subprocess
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.rootwriter.deeptree import CONTAINER_NAME, BenchRoot


def _sk(storagekit: str, root: Path, *args: str) -> list[str]:
    return [storagekit, "-r", str(root), *args]


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


def check_views(
    storagekit: str, root: BenchRoot, mnt: Path, scratch: Path, log: Any
) -> tuple[list[str], int]:
    """Compare storagekit's listing and tar with the kernel's; returns (problems, entries)."""
    problems: list[str] = []
    began = time.perf_counter()
    kernel = kernel_listing(mnt)
    proc = subprocess.run(
        _sk(storagekit, root.path, "ls", CONTAINER_NAME, "/", "-R", "--format", "json"),
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
                _sk(storagekit, root.path, "extract", CONTAINER_NAME, "--tar", "-"),
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
