"""dockerd's init layer, made on a containerd snapshot as dockerd makes it (for the sample roots).

With the containerd image store, dockerd prepares ``<id>-init-key`` over the image's top chain
ID, mounts it on a temporary directory and runs ``initlayer.Setup`` there, then commits it as
``<id>-init`` (moby ``daemon/containerd/image_snapshot.go`` ``prepareInitLayer``). ``Setup``
(moby ``daemon/initlayer/setup_unix.go``) takes ten paths; for each it unlinks every prefix of
the path (a directory is not unlinked), and if the path then does not exist in the mounted union
(``os.Stat``, following links) it creates the parent directories (``MkdirAllAndChown`` 0755,
only new ones chowned) and the path itself: a directory 0755, an empty file
(``os.OpenFile(O_CREATE, 0755)``, nothing written) or the symlink ``/etc/mtab`` ->
``/proc/mounts``, owned by the container's root (0:0 without user namespaces). dockerd's umask
is 022. :func:`setup` does the same through the kernel's overlay mount of the snapshot, so the
upper directory gets what the kernel writes for it (whiteouts where an image file was unlinked
and not recreated, copied-up parents). Nothing else is written: dockerd bind-mounts the real
``hosts``, ``hostname`` and ``resolv.conf`` over the empty placeholders when the container runs.

Stdlib only: the sample's init layer must not come from the code that checks it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: ``Setup``'s map (Go iterates it in random order; no entry depends on another's order).
SETUP = {
    "/dev/pts": "dir",
    "/dev/shm": "dir",
    "/proc": "dir",
    "/sys": "dir",
    "/.dockerenv": "file",
    "/etc/resolv.conf": "file",
    "/etc/hosts": "file",
    "/etc/hostname": "file",
    "/dev/console": "file",
    "/etc/mtab": "/proc/mounts",
}


def _mkdir_all(path: Path, uid: int, gid: int) -> None:
    """``user.MkdirAllAndChown(path, 0o755, uid, gid, user.WithOnlyNew)``."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for new in reversed(missing):
        new.mkdir(0o755)
        os.chown(new, uid, gid)


def setup(root: Path, uid: int = 0, gid: int = 0) -> None:
    """``initlayer.Setup`` on the mounted init snapshot ``root``."""
    old = os.umask(0o022)
    try:
        for pth, typ in SETUP.items():
            prev = root
            for part in pth.strip("/").split("/"):
                prev = prev / part
                try:
                    os.unlink(prev)
                except OSError:
                    pass  # Setup ignores unix.Unlink's error (a directory, nothing there)
            target = root / pth.lstrip("/")
            if target.exists():  # os.Stat follows links
                continue
            _mkdir_all(target.parent, uid, gid)
            if typ == "dir":
                _mkdir_all(target, uid, gid)
            elif typ == "file":
                os.close(os.open(target, os.O_CREAT | os.O_RDONLY, 0o755))
                os.chown(target, uid, gid)
            else:
                os.symlink(typ, target)
    finally:
        os.umask(old)


def setup_snapshot(mounts: str, mnt: Path) -> None:
    """Mount a snapshot (``ctr snapshots mounts`` output), run :func:`setup`, unmount it."""
    argv = mounts.split()
    kind, source = argv[argv.index("-t") + 1], argv[argv.index("-t") + 2]
    opts = argv[argv.index("-o") + 1]
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", kind, source, "-o", opts, str(mnt)], check=True)
    try:
        setup(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
