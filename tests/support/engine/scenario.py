"""The sample scenario on a private dockerd: the busybox base image, the application builds,
volumes, containers in every state, and an optional registry round trip (no network access).
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.support.engine.daemon import Dockerd, EngineError

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
