"""A layer's ``diff/`` directory from a plan, as overlay2 stores it: regular files, whiteouts
(0/0 character devices), opaque directories (``trusted.overlay.opaque=y``), symlinks, hard links,
device nodes, FIFOs, owners, modes and mtimes.
"""

from __future__ import annotations

import os
import random
import stat as st
from dataclasses import dataclass, field
from typing import Any

# An entry of a layer: (kind, mode, uid, gid, payload)
#   "f" regular file (payload: bytes), "w" whiteout (0/0 char device), "l" symlink (target),
#   "h" hard link (payload: path of a file of the same layer), "p" FIFO, "c" char device
#   (payload: (major, minor))
Spec = tuple[str, int, int, int, Any]
WHITEOUT: Spec = ("w", 0o000, 0, 0, None)


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


def write_diff(diff: str, plan: LayerPlan, when_ns: int, rng: random.Random) -> int:
    """Fill one ``diff/`` directory; returns the sum of its regular file sizes.

    Every entry's mtime is ``when_ns`` plus up to a second from ``rng``. Run as root (whiteouts
    are device nodes, opaque directories carry a ``trusted.*`` xattr) and with umask 0.
    """
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
        t = when_ns + rng.randrange(10**9)
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
        t = when_ns + rng.randrange(10**9)
        os.utime(target, ns=(t, t))
    return size
