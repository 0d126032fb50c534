"""A private, real dockerd: its own data root, exec root and socket (never a system daemon).

Stdlib only. Test support: the live-engine tests, ``tools.bench_verify`` and
``tools.make_sample_roots`` drive it; see :mod:`tests.support.engine`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SOCK_MAX = 100  # unix socket paths are limited to 107 bytes; keep a margin


class EngineError(RuntimeError):
    """The private daemon could not be started or a docker command failed."""


#: What a storage driver needs besides dockerd (Debian packages fuse-overlayfs, btrfs-progs).
DRIVER_TOOLS = {"fuse-overlayfs": ("fuse-overlayfs",), "btrfs": ("mkfs.btrfs",)}


def available(driver: str = "overlay2") -> bool:
    """True when a real engine can be driven here with ``driver``: dockerd and docker on PATH,
    we are root, busybox (busybox-static, for the base image) is installed, and so are the
    driver's own tools (:data:`DRIVER_TOOLS`)."""
    has_busybox = any(Path(p).is_file() for p in ("/bin/busybox", "/usr/bin/busybox"))
    return bool(
        shutil.which("dockerd")
        and shutil.which("docker")
        and os.geteuid() == 0
        and has_busybox
        and all(shutil.which(tool) for tool in DRIVER_TOOLS.get(driver, ()))
    )


class _UnixSocket(socket.socket):
    """A stream socket that connects to a unix path whatever address http.client passes."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(socket.AF_UNIX, socket.SOCK_STREAM)
        self.settimeout(timeout)
        self._path = path

    def connect(self, _address: Any = None) -> None:  # noqa: D102
        super().connect(self._path)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 120) -> None:
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self) -> None:
        sock = _UnixSocket(self._unix_path, self.timeout)  # type: ignore[arg-type]
        sock.connect()
        self.sock = sock


def _mountpoints() -> list[str]:
    """Mount points of this mount namespace (octal escapes of mountinfo decoded)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            field = line.split(" ")[4]
            points.append(
                field.encode("utf-8", "surrogateescape")
                .decode("unicode_escape")
                .encode("latin-1")
                .decode("utf-8", "surrogateescape")
            )
    return points


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still "exists": reap it if it is ours
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Dockerd:
    """A private dockerd with its own data root, exec root and socket under ``workdir``.

    ``root`` is the data root (``workdir/root``). Every docker command run through
    :meth:`docker` is recorded in ``commands`` (for provenance notes).
    """

    def __init__(self, workdir: Path, driver: str = "overlay2") -> None:
        self.workdir = Path(workdir).absolute()
        self.driver = driver
        self.root = self.workdir / "root"
        self.pidfile = self.workdir / "dockerd.pid"
        self.log = self.workdir / "dockerd.log"
        self.config_dir = self.workdir / "client-config"
        self._short: Path | None = None
        # exec-root holds containerd's socket (exec/containerd/containerd.sock): keep it short
        if len(str(self.workdir / "exec/containerd/containerd.sock-debug")) > SOCK_MAX:
            self._short = Path(tempfile.mkdtemp(prefix="skd-", dir="/tmp"))
            self.exec_root = self._short / "exec"
            self.sock = self._short / "d.sock"
        else:
            self.exec_root = self.workdir / "exec"
            self.sock = self.workdir / "d.sock"
        self.commands: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._logfh: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Start the daemon and wait until ``docker info`` answers."""
        if self._proc is not None:
            raise EngineError("daemon already started")
        for p in (self.workdir, self.root, self.exec_root, self.config_dir):
            p.mkdir(parents=True, exist_ok=True)
        if self.driver == "btrfs":
            self._btrfs_root()
        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()
        argv = [
            "dockerd",
            "--data-root",
            str(self.root),
            "--exec-root",
            str(self.exec_root),
            "-H",
            f"unix://{self.sock}",
            "--pidfile",
            str(self.pidfile),
            "--storage-driver",
            self.driver,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
        ]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        self._logfh = open(self.log, "ab")  # noqa: SIM115
        self._proc = subprocess.Popen(
            argv,
            stdout=self._logfh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self._cleanup_after_exit()
                raise EngineError(f"dockerd exited with {self._proc.returncode}:\n{tail}")
            if self.sock.exists():
                try:
                    self.docker("info", "--format", "{{.ServerVersion}}", record=False)
                    return
                except EngineError:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise EngineError(f"dockerd did not answer within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.3)

    def _btrfs_root(self) -> None:
        """Put the data root on a btrfs filesystem, as the btrfs driver requires (``Init`` checks
        the filesystem magic): a sparse image in workdir, loop-mounted on ``root``.

        ``mount -o loop`` sets autoclear, so unmounting (:meth:`unmount_all`) also detaches the
        loop device. A root that already holds files (a copy restored from an archive) is copied
        onto the new filesystem first: its layers are then plain directories, not subvolumes,
        which the driver reads as well.
        """
        if str(self.root) in _mountpoints():
            return
        image = self.workdir / "btrfs.img"
        seed = self.workdir / "root.seed"
        if any(self.root.iterdir()):
            self.root.rename(seed)
            self.root.mkdir()
        for argv in (
            ["truncate", "-s", "4G", str(image)],
            ["mkfs.btrfs", "-q", "-f", str(image)],
            ["mount", "-o", "loop", str(image), str(self.root)],
        ):
            r = subprocess.run(argv, capture_output=True)
            if r.returncode != 0:
                raise EngineError(f"{shlex.join(argv)}: {r.stderr.decode(errors='replace')}")
        if seed.exists():
            subprocess.run(["cp", "-a", f"{seed}/.", str(self.root)], check=True)
            shutil.rmtree(seed)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no daemon log)"
        return "\n".join(text.splitlines()[-lines:])

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return self._proc.pid if self._proc is not None else None

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM the daemon by pid, wait for it, then unmount whatever is left under workdir."""
        pid = self.pid()
        if pid is not None and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
                while _pid_alive(pid):
                    time.sleep(0.1)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        self._cleanup_after_exit()

    def _cleanup_after_exit(self) -> None:
        self._proc = None
        if self._logfh is not None:
            self._logfh.close()
            self._logfh = None
        self.unmount_all()
        if self._short is not None:
            shutil.rmtree(self._short, ignore_errors=True)

    def unmount_all(self) -> list[str]:
        """Unmount every mount point under workdir (and the short exec dir), deepest first."""
        bases = [str(self.workdir)] + ([str(self._short)] if self._short else [])
        done = []
        for _ in range(5):
            points = [
                p for p in _mountpoints() if any(p == b or p.startswith(b + "/") for b in bases)
            ]
            if not points:
                break
            for p in sorted(set(points), key=lambda s: (s.count("/"), s), reverse=True):
                r = subprocess.run(["umount", p], capture_output=True)
                if r.returncode != 0:
                    subprocess.run(["umount", "-l", p], capture_output=True)
                done.append(p)
        return done

    def __enter__(self) -> Dockerd:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- talking to it -----------------------------------------------------------------------
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DOCKER_") and not k.lower().endswith("_proxy")
        }
        env["DOCKER_CONFIG"] = str(self.config_dir)
        env["DOCKER_CLI_HINTS"] = "false"
        if extra:
            env.update(extra)
        return env

    def docker(
        self,
        *args: str,
        input: bytes | None = None,  # noqa: A002
        env: dict[str, str] | None = None,
        check: bool = True,
        record: bool = True,
        cwd: Path | None = None,
        timeout: float = 600,
    ) -> str:
        """Run ``docker -H unix://<sock> ARGS``; return stdout (UTF-8, surrogateescape)."""
        argv = ["docker", "-H", f"unix://{self.sock}", *args]
        if record:
            prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items())
            self.commands.append(prefix + "docker " + shlex.join(args))
        r = subprocess.run(
            argv,
            input=input,
            env=self.env(env),
            capture_output=True,
            cwd=cwd,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        out = r.stdout.decode("utf-8", "surrogateescape")
        if check and r.returncode != 0:
            err = r.stderr.decode("utf-8", "replace")
            raise EngineError(f"docker {shlex.join(args)} failed ({r.returncode}):\n{err}{out}")
        return out

    def docker_json(self, *args: str) -> Any:
        return json.loads(self.docker(*args, record=False))

    def docker_lines_json(self, *args: str) -> list[Any]:
        return [json.loads(x) for x in self.docker(*args, record=False).splitlines() if x.strip()]

    def api(self, path: str) -> Any:
        """GET ``path`` from the daemon's API over the unix socket; return decoded JSON."""
        conn = _UnixHTTPConnection(str(self.sock))
        try:
            conn.request("GET", path, headers={"Host": "docker"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise EngineError(f"GET {path}: HTTP {resp.status}: {body[:500]!r}")
        return json.loads(body) if body else None
