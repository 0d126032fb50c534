"""Drive a private, real dockerd to make sample roots and collect the engine's own answers.

Ground truth for storagekit (design principle 6): a reader is right when its answers equal what
Docker itself says about the same root. This module starts a throw-away daemon with its own
data root, exec root and socket (it never talks to a system daemon), builds a scenario of images,
containers and volumes without network access, records the engine's answers (``docker inspect``,
``docker diff``, ``/system/df``, ``docker export`` …) and archives the data root.

Stdlib only; importable by tests::

    from tools.engine import Dockerd, build_scenario, capture_expected, archive_root
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    "Dockerd",
    "EngineError",
    "archive_root",
    "available",
    "build_scenario",
    "capture_expected",
    "make_base_image",
    "tar_listing",
]

SOCK_MAX = 100  # unix socket paths are limited to 107 bytes; keep a margin

# Applets the scenarios use; each becomes bin/<name> -> busybox in the base image.
APPLETS = (
    "[",
    "cat",
    "chmod",
    "chown",
    "cp",
    "dd",
    "echo",
    "env",
    "false",
    "find",
    "grep",
    "head",
    "hostname",
    "id",
    "ln",
    "ls",
    "mkdir",
    "mkfifo",
    "mv",
    "printf",
    "ps",
    "readlink",
    "rm",
    "rmdir",
    "sed",
    "sh",
    "sha256sum",
    "sleep",
    "stat",
    "sync",
    "tail",
    "test",
    "touch",
    "true",
    "truncate",
    "wc",
)

BASE_TAG = "sk-base:1"
BASE_MTIME = 1700000000  # fixed mtime for the base rootfs, so its diff ID is reproducible


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


# -- images -----------------------------------------------------------------------------------
def _busybox() -> Path:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(cand).is_file():
            return Path(cand)
    found = shutil.which("busybox")
    if not found:
        raise EngineError("busybox (busybox-static) is not installed")
    return Path(found)


def base_rootfs_tar() -> bytes:
    """A small, reproducible root filesystem tar: static busybox, applet links, passwd/group."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = kind, mode, BASE_MTIME, 0, 0
            ti.uname = ti.gname = "root"
            ti.linkname = link
            ti.size = len(data) if kind == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        for d, mode in (
            ("bin", 0o755),
            ("dev", 0o755),
            ("etc", 0o755),
            ("home", 0o755),
            ("proc", 0o555),
            ("root", 0o700),
            ("sys", 0o555),
            ("tmp", 0o1777),
            ("usr", 0o755),
            ("usr/bin", 0o755),
            ("var", 0o755),
        ):
            add(d + "/", tarfile.DIRTYPE, mode)
        add("bin/busybox", tarfile.REGTYPE, 0o755, _busybox().read_bytes())
        for applet in APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add(
            "etc/passwd",
            tarfile.REGTYPE,
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        add("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")
    return buf.getvalue()


def make_base_image(d: Dockerd, tag: str = BASE_TAG) -> str:
    """Import the busybox rootfs as ``tag``; return the image ID."""
    d.docker(
        "import",
        "--message",
        "storagekit sample base (busybox-static)",
        "--change",
        'CMD ["sh"]',
        "-",
        tag,
        input=base_rootfs_tar(),
    )
    return d.docker("image", "inspect", "--format", "{{.Id}}", tag, record=False).strip()


def _image_id(d: Dockerd, ref: str) -> str:
    return d.docker("image", "inspect", "--format", "{{.Id}}", ref, record=False).strip()


def _container_id(d: Dockerd, ref: str) -> str:
    return d.docker("container", "inspect", "--format", "{{.Id}}", ref, record=False).strip()


def _build(d: Dockerd, ctxdir: Path, dockerfile: str, tag: str) -> str:
    ctxdir.mkdir(parents=True, exist_ok=True)
    (ctxdir / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    d.docker("build", "--network", "none", "-t", tag, str(ctxdir), env={"DOCKER_BUILDKIT": "0"})
    return _image_id(d, tag)


# The application image. {variant} differs between the first build (whose top becomes
# dangling) and the final one.
APP_DOCKERFILE = """\
FROM sk-base:1
LABEL org.example.role="storagekit-sample"
ENV APP_MODE=forensic APP_HOME=/opt/app
RUN mkdir -p /data/sub /opt/app /etc/conf.d \\
 && echo old > /opt/app/old.txt \\
 && echo readme > /opt/app/readme.txt \\
 && echo a > /etc/conf.d/a.conf \\
 && echo b > /etc/conf.d/b.conf \\
 && echo sub > /data/sub/file.txt \\
 && echo hello > /data/hl-a \\
 && : > /data/empty \\
 && ln /data/hl-a /data/hl-same-layer
RUN rm /opt/app/old.txt /bin/mv \\
 && ln /data/hl-a /data/hl-b \\
 && ln -s /opt/app/readme.txt /data/abs-link \\
 && ln -s ../opt/app/readme.txt /data/rel-link
RUN rm -rf /etc/conf.d && mkdir /etc/conf.d && echo z > /etc/conf.d/c.conf
RUN cd /data \\
 && echo space > "with space.txt" \\
 && echo utf8 > "caf\u00e9-\u00fc\u00f1\u00ee.txt" \\
 && touch -- -leading-dash \\
 && touch "{longname}" \\
 && touch "$(printf 'bad\\377name')" \\
 && printf '#!/bin/sh\\necho suid\\n' > /opt/app/suid-tool \\
 && chmod 4755 /opt/app/suid-tool \\
 && echo owned > /data/owned-by-1000 \\
 && chown 1000:1000 /data/owned-by-1000
WORKDIR /opt/app
VOLUME /vol-anon
RUN echo {variant} > /opt/app/version
LABEL org.example.variant="{variant}"
CMD ["sleep","3600"]
"""

SMALL_DOCKERFILE = """\
FROM sk-base:1
RUN mkdir -p /data /etc/conf.d && echo a > /etc/conf.d/a.conf && echo x > /data/x \\
 && echo old > /data/old.txt
RUN rm /data/old.txt /bin/mv \\
 && rm -rf /etc/conf.d && mkdir /etc/conf.d && echo z > /etc/conf.d/c.conf
CMD ["sleep","3600"]
"""

EXITED_SCRIPT = """\
set -e
echo "sk-exited: to stdout"
echo "sk-exited: to stderr" >&2
echo new > /data/new.txt
echo more >> /etc/conf.d/c.conf
rm /data/empty
rm -rf /data/sub
mkdir -p /newdir/deeper && echo x > /newdir/deeper/f
chmod 600 /opt/app/version
ln -s /data/new.txt /data/new-link
echo named > /named/hello.txt
echo anon > /vol-anon/anon.txt
echo bind > /bind/from-container.txt
exit 3
"""

RUNNING_EXEC = """\
echo running > /data/running.txt
rm /opt/app/readme.txt
rm /bin/cat
mkdir -p /tmp/rundir && echo t > /tmp/rundir/t.txt
echo vol > /runvol/v.txt
sync
"""


def _ensure_base(d: Dockerd) -> str:
    r = d.docker("image", "inspect", "--format", "{{.Id}}", BASE_TAG, check=False, record=False)
    return r.strip() if r.strip() else make_base_image(d)


def _wait_running(d: Dockerd, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = d.docker("container", "inspect", "--format", "{{.State.Status}}", name, record=False)
        if st.strip() == "running":
            return
        time.sleep(0.2)
    raise EngineError(f"container {name} is not running")


def build_scenario(d: Dockerd, *, small: bool = False) -> dict[str, Any]:
    """Build the sample scenario on a started daemon; return the names and IDs it made."""
    out: dict[str, Any] = {"images": {}, "containers": {}, "volumes": [], "dockerfiles": {}}
    out["images"][BASE_TAG] = _ensure_base(d)
    net = ("--network", "none")
    if small:
        out["dockerfiles"]["sk-small:1"] = SMALL_DOCKERFILE
        out["images"]["sk-small:1"] = _build(
            d, d.workdir / "ctx-small", SMALL_DOCKERFILE, "sk-small:1"
        )
        d.docker("volume", "create", "sk-named")
        out["volumes"].append("sk-named")
        d.docker(
            "run",
            "--name",
            "sk-exited",
            *net,
            "-v",
            "sk-named:/named",
            "sk-small:1",
            "sh",
            "-c",
            "echo n > /named/n.txt; echo new > /data/new; rm /data/x; exit 3",
            check=False,
        )
        d.docker("run", "-d", "--name", "sk-running", *net, "sk-small:1")
        _wait_running(d, "sk-running")
        d.docker("exec", "sk-running", "sh", "-c", "echo r > /data/r; rm /etc/conf.d/c.conf")
        for name in ("sk-exited", "sk-running"):
            out["containers"][name] = _container_id(d, name)
        return out

    longname = "L" * 150
    ctx = d.workdir / "ctx-app"
    # first build: its top image becomes dangling when the final build moves the tag
    v1 = APP_DOCKERFILE.format(variant="v1-superseded", longname=longname)
    v2 = APP_DOCKERFILE.format(variant="v2", longname=longname)
    out["dockerfiles"]["sk-app:1.0 (first build, superseded)"] = v1
    out["dockerfiles"]["sk-app:1.0"] = v2
    out["images"]["dangling (first sk-app:1.0)"] = _build(d, ctx, v1, "sk-app:1.0")
    app = _build(d, ctx, v2, "sk-app:1.0")
    out["images"]["sk-app:1.0"] = app
    for tag in ("sk-app:latest", "example.local:5000/team/app:v1"):
        d.docker("tag", "sk-app:1.0", tag)
        out["images"][tag] = app

    out["registry"] = _registry_roundtrip(d)

    # volumes
    d.docker("volume", "create", "--label", "purpose=unused", "sk-unused")
    d.docker(
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
        "sk-tmpfs-opts",
    )
    out["volumes"] += ["sk-unused", "sk-tmpfs-opts", "sk-named", "sk-run-vol"]

    # containers
    bindsrc = d.workdir / "bindsrc"
    bindsrc.mkdir(exist_ok=True)
    (bindsrc / "host-file.txt").write_text("from the host\n")
    d.docker("create", "--name", "sk-created", *net, "sk-app:1.0")
    r = d.docker(
        "run",
        "--name",
        "sk-exited",
        *net,
        "-v",
        "sk-named:/named",
        "-v",
        f"{bindsrc}:/bind",
        "sk-app:1.0",
        "sh",
        "-c",
        EXITED_SCRIPT,
        check=False,
    )
    code = d.docker(
        "container", "inspect", "--format", "{{.State.ExitCode}}", "sk-exited", record=False
    ).strip()
    if code != "3":
        raise EngineError(f"sk-exited exited with {code}, expected 3: {r}")
    d.docker(
        "run",
        "--name",
        "sk-basec",
        *net,
        "sk-base:1",
        "sh",
        "-c",
        "echo hello > /root/hello.txt && rm /etc/group",
    )
    d.docker(
        "run",
        "--name",
        "sk-tmpfs",
        *net,
        "--tmpfs",
        "/scratch",
        "sk-app:1.0",
        "sh",
        "-c",
        "echo t > /scratch/t.txt && echo p > /data/persist.txt",
    )
    d.docker("run", "-d", "--name", "sk-running", *net, "-v", "sk-run-vol:/runvol", "sk-app:1.0")
    _wait_running(d, "sk-running")
    d.docker("exec", "sk-running", "sh", "-c", RUNNING_EXEC)
    for name in ("sk-created", "sk-exited", "sk-basec", "sk-tmpfs", "sk-running"):
        out["containers"][name] = _container_id(d, name)
    return out


def _free_port(preferred: int = 5000) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise EngineError("no free port")


def _registry_roundtrip(d: Dockerd) -> dict[str, Any]:
    """Push to and pull from a local Debian docker-registry so a digest reference exists."""
    exe = shutil.which("docker-registry")
    if not exe:
        return {"done": False, "reason": "docker-registry not installed"}
    port = _free_port()
    regdir = d.workdir / "registry"
    regdir.mkdir(exist_ok=True)
    cfg = regdir / "config.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {regdir / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    d.commands.append(
        f"(registry) docker-registry serve {cfg}   # filesystem storage under the work dir, "
        f"http.addr 127.0.0.1:{port}"
    )
    logfh = open(regdir / "registry.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [exe, "serve", str(cfg)],
        stdout=logfh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise EngineError(
                    "docker-registry did not start: "
                    + (regdir / "registry.log").read_text(errors="replace")
                )
            time.sleep(0.2)
        ref = f"127.0.0.1:{port}/sk/base:1"
        d.docker("tag", BASE_TAG, ref)
        d.docker("push", ref)
        d.docker("rmi", ref)
        d.docker("pull", ref)
        digest = d.docker(
            "image", "inspect", "--format", "{{json .RepoDigests}}", ref, record=False
        )
        return {"done": True, "reference": ref, "repo_digests": json.loads(digest)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logfh.close()


# -- ground truth -----------------------------------------------------------------------------
def _mode_str(mode: int) -> str:
    return f"{mode & 0o7777:04o}"


_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CONTTYPE: "file",
}


def tar_listing(fileobj: Any) -> list[dict[str, Any]]:
    """List a tar stream in tar order: path, type, mode, uid, gid, size, mtime, linkname, sha256.

    Names that are not UTF-8 come back with surrogate escapes (Python's ``surrogateescape``);
    JSON-encoded with ``ensure_ascii`` they appear as ``\\udcXX``.
    """
    out = []
    with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
        for ti in tf:
            item: dict[str, Any] = {
                "path": ti.name,
                "type": _TYPES.get(ti.type, "other:" + ti.type.decode("latin-1")),
                "mode": _mode_str(ti.mode),
                "uid": ti.uid,
                "gid": ti.gid,
                "size": ti.size,
                "mtime": ti.mtime,
                "linkname": ti.linkname,
            }
            if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                item["devmajor"], item["devminor"] = ti.devmajor, ti.devminor
            xattrs = {
                k[len("SCHILY.xattr.") :]: v
                for k, v in ti.pax_headers.items()
                if k.startswith("SCHILY.xattr.")
            }
            if xattrs:
                item["xattrs"] = xattrs
            if ti.isreg():
                h = hashlib.sha256()
                fh = tf.extractfile(ti)
                assert fh is not None
                for chunk in iter(lambda: fh.read(1 << 20), b""):  # noqa: B023
                    h.update(chunk)
                item["sha256"] = h.hexdigest()
            out.append(item)
    return out


def _save_listing(d: Dockerd, image_id: str, tmp: Path) -> dict[str, Any]:
    path = tmp / "save.tar"
    d.docker("save", "-o", str(path), image_id, record=False)
    layers: dict[str, dict[str, Any]] = {}
    with tarfile.open(path) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        for lname in manifest[0]["Layers"]:
            fh = tf.extractfile(lname)
            assert fh is not None
            data = fh.read()
            layers[lname] = {
                "tar_sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
                "entries": tar_listing(io.BytesIO(data)),
            }
    path.unlink()
    return {
        "manifest": manifest,
        "layers": [layers[name] for name in manifest[0]["Layers"]],
    }


def capture_expected(d: Dockerd, *, image_files: bool = True) -> dict[str, Any]:
    """The engine's own answers about its root, as raw as possible (parsed JSON only)."""
    exp: dict[str, Any] = {}
    exp["version"] = d.docker_json("version", "--format", "{{json .}}")
    exp["info"] = d.docker_json("info", "--format", "{{json .}}")
    cids = sorted(set(d.docker("ps", "-a", "-q", "--no-trunc", record=False).split()))
    exp["containers"] = (
        sorted(d.docker_json("container", "inspect", "--size", *cids), key=lambda c: c["Id"])
        if cids
        else []
    )
    exp["ps"] = d.docker_lines_json("ps", "-a", "-s", "--no-trunc", "--format", "{{json .}}")
    iids = sorted(set(d.docker("images", "-a", "-q", "--no-trunc", record=False).split()))
    exp["images"] = (
        sorted(d.docker_json("image", "inspect", *iids), key=lambda i: i["Id"]) if iids else []
    )
    exp["images_list"] = d.docker_lines_json(
        "images", "-a", "--no-trunc", "--digests", "--format", "{{json .}}"
    )
    exp["history"] = {iid: d.api(f"/images/{iid}/history") for iid in iids}
    exp["diff"] = {cid: d.api(f"/containers/{cid}/changes") for cid in cids}
    exp["system_df"] = d.api("/system/df")
    vols = sorted(d.docker("volume", "ls", "-q", record=False).split())
    exp["volumes"] = (
        sorted(d.docker_json("volume", "inspect", *vols), key=lambda v: v["Name"]) if vols else []
    )
    with tempfile.TemporaryDirectory(dir=d.workdir, prefix="capture-") as tmp:
        exp["export"] = {}
        for cid in cids:
            path = Path(tmp) / "export.tar"
            d.docker("export", "-o", str(path), cid, record=False)
            with open(path, "rb") as fh:
                exp["export"][cid] = tar_listing(fh)
            path.unlink()
        if image_files:
            tagged = sorted({i["Id"] for i in exp["images"] if i.get("RepoTags")})
            exp["image_files"] = {iid: _save_listing(d, iid, Path(tmp)) for iid in tagged}
    return exp


def archive_root(d: Dockerd, dest: Path, compress: str = "xz -9e -T1") -> str:
    """Tar the data root (xattrs, numeric owners) while the daemon runs; return the SHA-256.

    Taken live, like evidence copied from a running host: running containers' ``merged/`` mounts
    are included. Members are relative to the data root (``./image/...``).
    """
    dest = Path(dest).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "tar",
        "--xattrs",
        "--xattrs-include=*",
        "--numeric-owner",
        "--sort=name",
        "-I",
        compress,
        "-C",
        str(d.root),
        "-cf",
        str(dest),
        ".",
    ]
    d.commands.append("(archive) " + shlex.join(argv))
    r = subprocess.run(argv, capture_output=True)
    # 1 = "some files differ" (changed while being read): still a faithful live copy
    if r.returncode not in (0, 1):
        raise EngineError(f"tar failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    h = hashlib.sha256()
    with open(dest, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
