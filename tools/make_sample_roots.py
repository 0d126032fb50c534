"""Make the bundled sample roots with a real, private dockerd and save the engine's answers.

Usage::

    .venv/bin/python -m tools.make_sample_roots [--out DIR] [--drivers overlay2,vfs,...]

For each driver: a fresh work directory, a private daemon, the base image and the full scenario
(tests.support.engine.build_scenario), the engine's own answers (expected.json), then an archive of
the data root taken while the daemon and the running container run (root.tar.xz), and a provenance
note (PROVENANCE.md). Output: ``<out>/<driver>-<engine major.minor>/``.

Needs root, dockerd (docker.io) and busybox-static; fuse-overlayfs and btrfs-progs for those
drivers; docker-registry (Debian package) is optional and adds a push/pull round trip so that a
digest reference exists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.engine import (
    APPLETS,
    BASE_MTIME,
    Dockerd,
    EngineError,
    archive_root,
    available,
    base_rootfs_tar,
    build_scenario,
    capture_expected,
    make_base_image,
)

REPO = Path(__file__).resolve().parent.parent


def _version_dir(driver: str, version: str) -> str:
    parts = version.split("+")[0].split("-")[0].split(".")
    return f"{driver}-{'.'.join(parts[:2])}"


def _fence(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


def write_provenance(
    path: Path,
    *,
    driver: str,
    exp: dict[str, Any],
    scenario: dict[str, Any],
    d: Dockerd,
    sha: str,
    size: int,
    elapsed: float,
    running: list[str],
) -> None:
    server = exp["version"].get("Server") or {}
    client = exp["version"].get("Client") or {}
    comps = {c.get("Name"): c.get("Version") for c in server.get("Components") or []}
    info = exp["info"]
    base_tar = base_rootfs_tar()
    busybox_sha = hashlib.sha256(Path("/bin/busybox").read_bytes()).hexdigest()
    reg = scenario.get("registry", {})
    lines = [
        f"# Sample root: {driver}, Docker {server.get('Version')}",
        "",
        "Produced by a real dockerd (not by hand) with `tools/make_sample_roots.py`; the engine's "
        "own answers about this root are in `expected.json`.",
        "",
        "## Engine and host",
        "",
        f"- dockerd (server): {server.get('Version')} (API {server.get('ApiVersion')}, "
        f"git {server.get('GitCommit')}, {server.get('GoVersion')})",
        f"- containerd: {comps.get('containerd')}, runc: {comps.get('runc')}",
        f"- docker client: {client.get('Version')} (API {client.get('ApiVersion')})",
        f"- storage driver: `{info.get('Driver')}`; driver status: "
        f"`{json.dumps(info.get('DriverStatus'))}`",
        f"- kernel: {info.get('KernelVersion')} ({platform.machine()}); "
        f"OS: {info.get('OperatingSystem')}",
        f"- data root when made: `{info.get('DockerRootDir')}` (absolute paths inside "
        "config.v2.json, GraphDriver data and volume mountpoints refer to it)",
        *(
            [
                "- the data root was a btrfs filesystem of its own (a sparse 4 GiB image made with "
                "`truncate` and `mkfs.btrfs`, loop-mounted on it; `tests.support.engine.Dockerd`): "
                "every "
                "layer was a subvolume, which the archive holds as a plain directory"
            ]
            if driver == "btrfs"
            else []
        ),
        f"- made: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} (UTC); the scenario and "
        f"capture took {elapsed:.0f} s",
        "",
        "## Archive",
        "",
        f"- `root.tar.xz`: {size} bytes, SHA-256 `{sha}`",
        "- made with GNU tar, members relative to the data root (`./image/...`):",
        "",
        _fence(
            "tar --xattrs --xattrs-include='*' --numeric-owner --sort=name -I 'xz -9e -T1' \\\n"
            f"    -C {d.root} -cf root.tar.xz ."
        ),
        "- copied by root WHILE the daemon ran and while these containers were running: "
        + (", ".join(f"`{n}`" for n in running) or "none")
        + ". Their mounted `merged/` directories (overlay2, overlay, fuse-overlayfs) are "
        "therefore in the archive, as in evidence copied from a live host. Char-device "
        "whiteouts, `trusted.overlay.*` xattrs, numeric owners and empty directories are "
        "preserved.",
        "",
        "## Base image",
        "",
        f"`{scenario['images'].get('sk-base:1')}` (`sk-base:1`), made by `docker import` of a tar "
        f"written with Python's tarfile (PAX, {len(base_tar)} bytes, all mtimes {BASE_MTIME}, "
        "owner 0:0): directories bin dev etc home proc root sys tmp usr usr/bin var; "
        f"`bin/busybox` (busybox-static, SHA-256 `{busybox_sha}`); symlinks `bin/<applet> -> "
        f"busybox` for: {' '.join(APPLETS)}; `etc/passwd` (root, app uid 1000, nobody) and "
        "`etc/group`. See `tests.support.engine.base_rootfs_tar`.",
        "",
        "## Dockerfiles (classic builder, `DOCKER_BUILDKIT=0 docker build --network none`)",
        "",
    ]
    for name, text in scenario.get("dockerfiles", {}).items():
        lines += [f"### {name}", "", _fence(text, "dockerfile")]
    lines += [
        "## Registry round trip",
        "",
        (
            f"Debian's `docker-registry` ran on 127.0.0.1 only; `{reg.get('reference')}` was "
            f"pushed, untagged and pulled back, so `repositories.json` holds the digest "
            f"reference(s) {reg.get('repo_digests')}."
            if reg.get("done")
            else f"Skipped: {reg.get('reason')}."
        ),
        "",
        "## What the scenario made",
        "",
        _fence(
            json.dumps(
                {k: v for k, v in scenario.items() if k != "dockerfiles"}, indent=2, sort_keys=True
            ),
            "json",
        ),
        "## Every docker command, in order",
        "",
        "(`docker` = `docker -H unix://<private socket>`; the daemon was started as "
        f"`dockerd --data-root {d.root} --exec-root <exec> -H unix://<sock> --pidfile <pid> "
        f"--storage-driver {driver} --iptables=false --ip6tables=false --bridge=none`.)",
        "",
        _fence("\n".join(d.commands), "sh"),
        "## Expected answers (`expected.json`)",
        "",
        "Raw engine output, parsed from JSON only: `version`, `info` (`docker version/info "
        "--format '{{json .}}'`), `containers` (`docker container inspect --size`, sorted by Id), "
        "`ps` (`docker ps -a -s --no-trunc --format '{{json .}}'`), `images` (`docker image "
        "inspect` of every ID from `docker images -a -q --no-trunc`, sorted by Id), `images_list` "
        "(`docker images -a --no-trunc --digests --format '{{json .}}'`), `history` "
        "(`GET /images/<id>/history`), `diff` (`GET /containers/<id>/changes`, API order), "
        "`system_df` (`GET /system/df`), `volumes` (`docker volume inspect`), `export` "
        "(`docker export` of each container listed with Python tarfile in tar order: path, type, "
        "mode, uid, gid, size, mtime, linkname, sha256 of regular files), `image_files` "
        "(`docker save` of each tagged image: manifest and, per layer tar, its SHA-256 and the "
        "same listing). `scenario` repeats the names and IDs above. Non-UTF-8 file names appear "
        "in `export`/`image_files` as Python surrogate escapes (`\\udcff` for byte 0xff); the "
        "engine's own JSON (`diff`) replaces such bytes with U+FFFD.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def make_one(driver: str, out: Path, workbase: Path, keep: bool) -> dict[str, Any]:
    workdir = workbase / driver
    if workdir.exists():
        Dockerd(workdir, driver).unmount_all()
        shutil.rmtree(workdir)
    t0 = time.monotonic()
    d = Dockerd(workdir, driver)
    d.start()
    try:
        make_base_image(d)
        scenario = build_scenario(d)
        exp = capture_expected(d)
        exp["scenario"] = scenario
        version = exp["version"]["Server"]["Version"]
        dest = out / _version_dir(driver, version)
        dest.mkdir(parents=True, exist_ok=True)
        running = [
            c["Name"].lstrip("/") for c in exp["containers"] if c["State"]["Status"] == "running"
        ]
        sha = archive_root(d, dest / "root.tar.xz")
    finally:
        d.stop()
    elapsed = time.monotonic() - t0
    (dest / "expected.json").write_text(
        json.dumps(exp, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    size = (dest / "root.tar.xz").stat().st_size
    write_provenance(
        dest / "PROVENANCE.md",
        driver=driver,
        exp=exp,
        scenario=scenario,
        d=d,
        sha=sha,
        size=size,
        elapsed=elapsed,
        running=running,
    )
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"driver": driver, "dir": str(dest), "sha256": sha, "size": size, "seconds": elapsed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "sample_roots")
    ap.add_argument("--drivers", default="overlay2,vfs,overlay,fuse-overlayfs,btrfs")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/skgen"),
        help="where the private daemons keep their roots (absolute paths of the "
        "data root end up inside the sample)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    args = ap.parse_args(argv)
    drivers = [x for x in args.drivers.split(",") if x]
    missing = [d for d in drivers if not available(d)]
    if missing:
        print(
            f"needs root, dockerd and docker on PATH, busybox-static, and the tools of "
            f"{', '.join(missing)}",
            file=sys.stderr,
        )
        return 2
    t0 = time.monotonic()
    results = []
    for driver in drivers:
        try:
            results.append(
                make_one(driver, args.out.absolute(), args.workdir.absolute(), args.keep)
            )
        except EngineError as exc:
            print(f"{driver}: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(results[-1]), flush=True)
    print(f"total {time.monotonic() - t0:.1f} s", flush=True)
    os.sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
