"""A private podman for making sample roots: its own graph root, run root, config and user.

Stdlib only. ``Podman(work, driver, user=None)`` runs ``podman`` with ``--root``,
``--runroot``, ``--storage-driver`` and ``--tmpdir`` below ``work`` and a private
``storage.conf``/``containers.conf`` (real-engine.md, "podman"); with ``user`` it runs rootless
through ``runuser``. Never touches a system store; everything it mounts is unmounted by
:func:`unmount_all`, the rootless pause process is stopped by its pid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any


class Podman:
    """A private podman: its own graph root, run root, tmp dir and configuration."""

    def __init__(self, work: Path, driver: str, user: str | None = None) -> None:
        self.work, self.driver, self.user = work, driver, user
        self.graph, self.run, self.tmp = work / "storage", work / "run", work / "tmp"
        self.commands: list[str] = []
        for d in (self.graph, self.run, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        (work / "storage.conf").write_text(
            f'[storage]\ndriver = "{driver}"\ngraphroot = "{self.graph}"\nrunroot = "{self.run}"\n'
        )
        (work / "containers.conf").write_text(
            '[containers]\nnetns = "none"\n'
            'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            f'runtime = "runc"\ntmp_dir = "{self.tmp}"\n'
        )
        if user is not None:  # rootless: the user owns its work dir, as its home would be
            (work / "ctx").mkdir(exist_ok=True)
            subprocess.run(["chown", "-R", f"{user}:", str(work)], check=True)
            self.run.chmod(0o700)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CONTAINERS_STORAGE_CONF=str(self.work / "storage.conf"),
            CONTAINERS_CONF=str(self.work / "containers.conf"),
            CONTAINERS_REGISTRIES_CONF="/dev/null",
            TMPDIR=str(self.tmp),
        )
        if self.user is not None:
            env.update(HOME=str(self.work), XDG_RUNTIME_DIR=str(self.run))
        return env

    def argv(self, *args: str) -> list[str]:
        # rootless: runuser keeps the environment given (no login shell)
        prefix = ["runuser", "-u", self.user, "--"] if self.user is not None else []
        return [
            *prefix,
            "podman",
            "--root",
            str(self.graph),
            "--runroot",
            str(self.run),
            "--storage-driver",
            self.driver,
            "--tmpdir",
            str(self.tmp),
            *args,
        ]

    def __call__(
        self, *args: str, input: bytes | None = None, record: bool = True, check: bool = True
    ) -> str:
        argv = self.argv(*args)
        if record:
            self.commands.append(shlex.join(["podman", *args]))
        r = subprocess.run(argv, input=input, capture_output=True, env=self.env(), cwd=self.work)
        if check and r.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)}: {r.returncode}: {r.stderr.decode()}")
        return r.stdout.decode()

    def streams(self, *args: str) -> tuple[bytes, bytes]:
        """stdout and stderr of a command that must succeed (not recorded)."""
        r = subprocess.run(self.argv(*args), capture_output=True, env=self.env(), cwd=self.work)
        if r.returncode != 0:
            raise RuntimeError(f"podman {shlex.join(args)}: {r.returncode}: {r.stderr.decode()}")
        return r.stdout, r.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, record=False))


def _mounts_below(path: Path) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == str(path) or mnt.startswith(str(path) + "/"):
                found.append(mnt)
    return found


def stop_running(p: Podman) -> list[str]:
    """Stop every running container of this private podman (``podman stop -t 0``); their names."""
    names = p("ps", "--format", "{{.Names}}", record=False, check=False).split()
    if names:
        p("stop", "-t", "0", *names, record=False, check=False)
    return names


def unmount_all(p: Podman) -> list[str]:
    """``podman unmount --all``, then every mount left below the work dir, deepest first."""
    p("unmount", "--all", record=False, check=False)
    done = []
    for mnt in sorted(_mounts_below(p.work), key=len, reverse=True):
        subprocess.run(["umount", mnt], check=False)
        done.append(mnt)
    left = _mounts_below(p.work)
    if left:
        raise RuntimeError(f"still mounted: {left}")
    return done


#: GNU tar's options for a copy that keeps whiteout devices, ``trusted.*``/``user.*`` xattrs
#: and the on-disk owners (rootless: the subordinate IDs).
TAR_KEEP = ["--xattrs", "--xattrs-include=*", "--numeric-owner"]


def archive(p: Podman, dest: Path) -> tuple[str, list[str]]:
    """The graph root as a responder on the live host copies it: while containers run.

    Not ``--one-file-system``: a running container's ``overlay/<id>/merged`` (its mounted
    union) and ``userdata/shm`` are archived with what they hold, as a copy of a live host
    has them (podman's bind mount of ``overlay/`` onto itself is the same file system). A
    rootless container's mounts live in the user's namespace: from the host they are empty.
    """
    argv = ["tar", *TAR_KEEP, "--sort=name", "-I", "xz -9e -T1", "-C", str(p.graph),
            "-cf", str(dest), "."]  # fmt: skip
    subprocess.run(argv, check=True)
    return hashlib.sha256(dest.read_bytes()).hexdigest(), argv


def copy_live(p: Podman, dest: Path) -> Path:
    """The graph root copied into the directory ``dest`` as :func:`archive` takes it, live."""
    dest.mkdir(parents=True)
    pack = subprocess.Popen(
        ["tar", *TAR_KEEP, "-C", str(p.graph), "-cf", "-", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # "socket ignored": conmon's attach socket
    )
    unpack = subprocess.run(["tar", *TAR_KEEP, "-C", str(dest), "-xf", "-"], stdin=pack.stdout)
    assert pack.stdout is not None
    pack.stdout.close()
    if pack.wait() not in (0, 1) or unpack.returncode != 0:  # 1: a file changed while read
        raise RuntimeError(f"copying {p.graph} failed")
    return dest


def stop_pause_process(p: Podman) -> int | None:
    """Rootless podman keeps its user namespace open with a pause process: stop it by pid."""
    pidfile = p.tmp / "pause.pid"
    if p.user is None or not pidfile.is_file():
        return None
    pid = int(pidfile.read_text().strip())
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return None
    return pid
