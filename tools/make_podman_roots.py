"""Make podman sample roots with the real podman (4.3.1 here) and save podman's own answers.

Usage (as root)::

    .venv/bin/python -m tools.make_podman_roots [--out DIR] [--drivers overlay,vfs] [--work DIR]

For each driver: a private graph root, run root, tmp dir and config (real-engine.md, "podman";
containers start here only with ``nproc=1024:1024`` beside ``nofile`` in ``default_ulimits``,
see :class:`tools.podman_engine.Podman`),
a busybox-static base image made with ``podman import``, a multi-layer image made with
``podman build --layers --network none`` (added files, a whiteout, an opaque directory), a pod
and containers in several states (one, ``sk-running``, still running), then podman's answers
(``expected.json``), an archive of the graph root taken while ``sk-running`` runs, its overlay
mounted, as a responder copies a live host (``root.tar.xz``; afterwards the container is
stopped and every mount undone) and ``PROVENANCE.md``.
Output: ``<out>/podman-<major.minor>-<driver>/``. Never touches a system store: every path is
below ``--work``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.engine import base_rootfs_tar, tar_listing
from tools.podman_engine import Podman, archive, stop_pause_process, stop_running, unmount_all

REPO = Path(__file__).resolve().parent.parent

CONTAINERFILE = """\
FROM localhost/sk-base:1
RUN mkdir -p /app/data /opt/replace/sub && echo hello > /app/hello.txt \\
 && echo gone > /app/gone.txt && echo a > /opt/replace/a && echo s > /opt/replace/sub/s \\
 && echo app > /app/owned.txt && chown 1000:1000 /app/owned.txt /app/data
RUN rm /app/gone.txt && rm -rf /opt/replace && mkdir /opt/replace \\
 && echo b > /opt/replace/b && rm /etc/group
COPY added.txt /app/added.txt
ENV SK_STAGE=app
LABEL org.example.sk=podman
CMD ["sh"]
"""


#: What ``sk-running`` prints once it has made its changes (then it only sleeps).
READY = "sk-running-ready"


def wait_for_log(p: Podman, name: str, line: str, timeout: float = 30.0) -> None:
    """Wait until container ``name``'s log holds ``line`` (it has done what it was run for)."""
    deadline = time.monotonic() + timeout
    while line not in p("logs", name, record=False, check=False):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not print {line!r} within {timeout} s")
        time.sleep(0.2)


def build_scenario(p: Podman) -> dict[str, Any]:
    """Images, a pod, volumes and containers in several states; returns names -> IDs."""
    (p.work / "base.tar").write_bytes(base_rootfs_tar())
    p(
        "import",
        "--message",
        "storagekit podman base",
        "--change",
        'CMD ["sh"]',
        str(p.work / "base.tar"),
        "localhost/sk-base:1",
    )
    ctx = p.work / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "added.txt").write_text("added by COPY\n")
    p(
        "build",
        "--layers",
        "--network",
        "none",
        "-f",
        str(ctx / "Containerfile"),
        "-t",
        "localhost/sk-app:1",
        str(ctx),
    )
    p("volume", "create", "--label", "sk=named", "sk-named")
    p("volume", "create", "sk-unused")
    p("pod", "create", "--infra=false", "--label", "sk=pod", "sk-pod")
    p(
        "create",
        "--name",
        "sk-created",
        "--label",
        "sk=created",
        "localhost/sk-app:1",
        "sh",
        "-c",
        "echo never",
    )
    p(
        "run",
        "--name",
        "sk-exited",
        "localhost/sk-app:1",
        "sh",
        "-c",
        "echo new > /app/new.txt; rm /app/hello.txt; mkdir -p /var/made; chmod 600 /app/added.txt;"
        " echo to-stderr >&2; exit 3",
        check=False,
    )
    if p.json("container", "inspect", "sk-exited")[0]["State"]["ExitCode"] != 3:
        raise RuntimeError("sk-exited did not exit with code 3")
    p(
        "run",
        "--name",
        "sk-vol",
        "-v",
        "sk-named:/data",
        "localhost/sk-app:1",
        "sh",
        "-c",
        "echo v > /data/v.txt; echo w > /root/w.txt",
    )
    p("run", "--name", "sk-basec", "localhost/sk-base:1", "sh", "-c", "rm /etc/passwd")
    p("run", "--pod", "sk-pod", "--name", "sk-inpod", "localhost/sk-base:1", "true")
    # running when the root is copied: its overlay is mounted, its upper layer written to
    p(
        "run",
        "-d",
        "--name",
        "sk-running",
        "--label",
        "sk=running",
        "localhost/sk-app:1",
        "sh",
        "-c",
        f"echo r > /app/run.txt; rm /app/owned.txt; echo {READY}; exec sleep 3600",
    )
    wait_for_log(p, "sk-running", READY)
    ids = {
        "images": {
            ref: p("image", "inspect", "--format", "{{.Id}}", ref, record=False).strip()
            for ref in ("localhost/sk-base:1", "localhost/sk-app:1")
        },
        "containers": {
            n: p("container", "inspect", "--format", "{{.Id}}", n, record=False).strip()
            for n in ("sk-created", "sk-exited", "sk-vol", "sk-basec", "sk-inpod", "sk-running")
        },
        "pods": {
            "sk-pod": p("pod", "inspect", "--format", "{{.Id}}", "sk-pod", record=False).strip()
        },
        "containerfile": CONTAINERFILE,
    }
    return ids


def capture_expected(p: Podman) -> dict[str, Any]:
    """podman's own answers, parsed from JSON only (``system df -v`` is kept as text)."""
    exp: dict[str, Any] = {"version": p.json("version", "--format", "json")}
    info = p.json("info", "--format", "json")
    exp["info"] = {
        "store": info.get("store"),
        "host": {
            k: info["host"].get(k)
            for k in (
                "arch",
                "kernel",
                "os",
                "cgroupManager",
                "ociRuntime",
                "idMappings",
                "security",
            )
        },
    }
    exp["ps"] = p.json("ps", "-a", "--format", "json")
    cids = sorted(c["Id"] for c in exp["ps"])
    exp["containers"] = sorted(p.json("container", "inspect", *cids), key=lambda c: c["Id"])
    exp["images_list"] = p.json("images", "-a", "--format", "json")
    iids = sorted({i["Id"] for i in exp["images_list"]})
    exp["images"] = sorted(p.json("image", "inspect", *iids), key=lambda i: i["Id"])
    exp["history"] = {i: p.json("history", "--no-trunc", "--format", "json", i) for i in iids}
    exp["diff"] = {c: p.json("diff", "--format", "json", c) for c in cids}
    exp["volumes"] = sorted(p.json("volume", "inspect", "--all"), key=lambda v: v["Name"])
    exp["pods"] = [p.json("pod", "inspect", "sk-pod")]
    exp["system_df_v"] = p("system", "df", "-v", record=False)
    exp["export"] = {}
    for c in cids:
        out = p.tmp / "export.tar"
        p("export", "-o", str(out), c, record=False)
        listing = tar_listing(io.BytesIO(out.read_bytes()))
        for item in listing:
            item.pop("mtime", None)
        exp["export"][c] = {
            "members": listing,
            "sha256": hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest(),
        }
        out.unlink()
    exp["logs"] = {}
    for c in cids:
        stdout, stderr = p.streams("logs", c)
        exp["logs"][c] = {"stdout": stdout.decode(), "stderr": stderr.decode()}
    return exp


def _mounted(p: Podman) -> str:
    """Where the running container's root filesystem was while the archive was taken."""
    if p.driver != "overlay":
        return f"its root filesystem is its own `{p.driver}` layer directory, nothing is mounted"
    if p.user is not None:
        return (
            "its overlay was mounted in the user's namespace, so from the host its "
            "`overlay/<layer>/merged` is empty"
        )
    return "its overlay was mounted, so `overlay/<layer>/merged` holds the mounted union"


def provenance(
    p: Podman,
    exp: dict[str, Any],
    ids: dict[str, Any],
    sha: str,
    tar_argv: list[str],
    stopped: list[str],
    unmounted: list[str],
) -> str:
    ver = exp["version"]["Client"]
    pkgs = subprocess.run(
        [
            "dpkg-query",
            "-W",
            "podman",
            "runc",
            "conmon",
            "busybox-static",
            "golang-github-containers-common",
        ],
        capture_output=True,
        text=True,
    ).stdout
    cmds = "\n".join(p.commands)
    work = str(p.work)
    who = "root"
    if p.user is not None:
        maps = exp["info"]["host"]["idMappings"]["uidmap"]
        who = (
            f"the unprivileged user `{p.user}` (**rootless**; podman's user namespace maps "
            + ", ".join(
                f"container {m['container_id']}..+{m['size']} -> host {m['host_id']}" for m in maps
            )
            + ", from /etc/subuid)"
        )
    return f"""# podman {ver["Version"]} sample root, driver `{p.driver}`

**Real**: every file in `root.tar.xz` was written by podman {ver["Version"]} (Go
{ver["GoVersion"]}, Debian 12 package) running as {who} on Linux {platform.release()}, driver
`{p.driver}`, on {dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}; `expected.json` is
podman's own output about that store, captured before the archive was made. Nothing is modelled
in this root. (A `libpod/db.sql` state, which podman 4.3 cannot write, is modelled inside the
tests instead; see `tests/engines/podman/`.)

Packages:
```
{pkgs.strip()}
```

Made by `tools/make_podman_roots.py` in `{work}` with a private configuration (real-engine.md):
```
storage.conf:    {(p.work / "storage.conf").read_text().strip().replace(chr(10), " ")}
containers.conf: {(p.work / "containers.conf").read_text().strip().replace(chr(10), " ")}
environment:     CONTAINERS_STORAGE_CONF=storage.conf CONTAINERS_CONF=containers.conf
                 CONTAINERS_REGISTRIES_CONF=/dev/null TMPDIR={p.tmp}
every command:   podman --root {p.graph} --runroot {p.run} --storage-driver {p.driver} \\
                        --tmpdir {p.tmp} ARGS...
```

Commands (ARGS), in order (`base.tar` = `tests.support.engine.base_rootfs_tar()`, busybox-static):
```
{cmds}
```

Containerfile:
```
{CONTAINERFILE.rstrip()}
```

Scenario IDs:
```
{json.dumps({k: v for k, v in ids.items() if k != "containerfile"}, indent=1)}
```

**Copied while a container ran**, as a responder copies a live host: `sk-running` was running
(podman's state DB says so: state 3, `running`; {_mounted(p)}); podman's answers in
`expected.json` were captured then, and the archive was taken then, without `--one-file-system`.
Afterwards podman stopped `{stopped}` and these were unmounted: `{unmounted}`. Archive of the
graph root only (the run root is tmpfs on a real host):
```
{shlex.join(tar_argv)}
```
SHA-256 of `root.tar.xz`: `{sha}`

`expected.json` keys: `version`, `info` (store and host parts of `podman info`), `ps`
(`ps -a --format json`), `containers` (`container inspect`, sorted by Id), `images_list`
(`images -a --format json`), `images` (`image inspect` of every image, sorted by Id), `history`
(`history --no-trunc --format json` per image ID), `diff` (`diff --format json` per container),
`volumes` (`volume inspect --all`), `pods` (`pod inspect sk-pod`), `system_df_v` (`system df -v`
text), `export` (per container: the `podman export` members in tar order with path, type, mode,
uid, gid, size, linkname, sha256 of regular files; mtime dropped; and `sha256` of that list as
`json.dumps(sort_keys=True)`), `logs` (per container `podman logs`' stdout and stderr, as
text), `scenario` (names -> IDs, Containerfile).
"""


def make(driver: str, work: Path, out: Path, user: str | None = None) -> Path:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    p = Podman(work, driver, user)
    try:
        ids = build_scenario(p)
        exp = capture_expected(p)
        exp["scenario"] = ids
        ver = exp["version"]["Client"]["Version"]
        kind = f"rootless-{driver}" if user else driver
        dest = out / f"podman-{'.'.join(ver.split('.')[:2])}-{kind}"
        dest.mkdir(parents=True, exist_ok=True)
        sha, argv = archive(p, dest / "root.tar.xz")  # while sk-running runs, as on a live host
    finally:
        stopped = stop_running(p)
        unmounted = unmount_all(p)
        stop_pause_process(p)
    (dest / "expected.json").write_text(json.dumps(exp, indent=1, sort_keys=True) + "\n")
    (dest / "PROVENANCE.md").write_text(provenance(p, exp, ids, sha, argv, stopped, unmounted))
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "sample_roots")
    ap.add_argument("--work", type=Path, default=Path("/tmp/skpodman"))
    ap.add_argument("--drivers", default="overlay,vfs")
    ap.add_argument("--rootless", metavar="USER", help="run podman as USER (needs /etc/subuid)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 2
    for driver in args.drivers.split(","):
        work = args.work / (f"rootless-{driver}" if args.rootless else driver)
        dest = make(driver, work, args.out, args.rootless)
        size = (dest / "root.tar.xz").stat().st_size
        print(f"{dest}: {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
