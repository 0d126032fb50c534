"""Benchmark podman inventory commands against a Docker overlay2 root of the same size.

What it measures
----------------
Wall-clock time of whole ``storagekit`` runs (start-up, imports, reading the root, JSON), best
and median of ``--runs`` interleaved runs after one warm-up, of ``containers --no-size``,
``containers``, ``images`` and ``layers`` (``--format json``) on two equal roots:

* Docker: the overlay2 root of ``tools.bench_inventory`` (1,000 containers: 301 running, 542
  exited, 157 created; 2,000 image layers; 100 images);
* podman: the same root rewritten as a containers-storage graph root with libpod's BoltDB
  state by :func:`tools.podman_fleet.podman_fleet`: the same 100 images (same configs), 2,000
  image layers (same files, same tar-splits) and 1,000 containers (the same read-write files
  and states), each container layer directly on its image (podman has no init layer).

The ratio is podman seconds / Docker seconds for the same command: at most 1 means the podman
inventory is no slower on equal work.

Usage::

    sudo .venv/bin/python -m tools.bench_podman [--runs 7] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.podman_fleet import podman_fleet

REPO = Path(__file__).resolve().parent.parent
COMMANDS = [["containers", "--no-size"], ["containers"], ["images"], ["layers"]]


def docker_root(work: Path) -> Path:
    """The overlay2 root of ``tools.bench_inventory`` (1,000 containers)."""
    subprocess.run(
        [sys.executable, "-m", "tools.bench_inventory", "--generate-only", "--workdir", str(work)],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return work / "docker"


def timed(root: Path, command: list[str]) -> float:
    exe = Path(sys.executable).with_name("storagekit")
    start = time.perf_counter()
    subprocess.run(
        [str(exe), "-r", str(root), *command, "--format", "json"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="skbench-", dir=args.workdir))
    try:
        docker = docker_root(work / "d")
        counts = podman_fleet(docker, work / "podman")
        print(f"both roots: {counts}")
        roots = {"podman": work / "podman", "docker": docker}
        print("| command | podman best s | docker best s | ratio (best) | ratio (median) |")
        print("|---|---|---|---|---|")
        for command in COMMANDS:
            times: dict[str, list[float]] = {"podman": [], "docker": []}
            for root in roots.values():
                timed(root, command)  # warm-up
            for _ in range(args.runs):
                for name, root in roots.items():
                    times[name].append(timed(root, command))
            p, d = times["podman"], times["docker"]
            print(
                f"| `{' '.join(command)}` | {min(p):.3f} | {min(d):.3f} | "
                f"{min(p) / min(d):.2f} | {statistics.median(p) / statistics.median(d):.2f} |"
            )
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
