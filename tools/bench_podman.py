"""Benchmark podman inventory commands against a Docker overlay2 root with as many containers.

What it measures
----------------
Wall-clock time of whole ``storagekit`` runs (start-up, imports, reading the root, JSON), best
and median of ``--runs`` interleaved runs after one warm-up, of ``containers --no-size``,
``containers``, ``images`` and ``layers`` (``--format json``) on two roots:

* podman: the real ``sample_roots/podman-4.3-overlay`` root (extracted with its whiteout devices
  and xattrs, so this needs root), grown to ``--containers`` containers (default 1,000) by
  cloning the ``sk-exited`` container: a ``containers.json`` record, a ``layers.json`` record,
  its ``overlay/<id>`` directory (``cp -a``) and an ``l/`` link each. libpod's BoltDB is not
  grown (no BoltDB writer here): the clones are storage-only containers, which podman calls
  external, and each is an ``orphan-container`` finding, more work than a libpod record;
* Docker: the overlay2 root of ``tools.bench_inventory`` (1,000 containers, 2,000 layers,
  100 images).

The ratio is podman seconds / Docker seconds for the same command: at most 1 means the podman
inventory is no slower.

Usage::

    sudo .venv/bin/python -m tools.bench_podman [--runs 7] [--containers 1000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_roots" / "podman-4.3-overlay" / "root.tar.xz"
COMMANDS = [["containers", "--no-size"], ["containers"], ["images"], ["layers"]]
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def podman_root(dest: Path, count: int) -> Path:
    """The sample root extracted into ``dest`` and grown to ``count`` cloned containers."""
    dest.mkdir(parents=True)
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xJf", str(SAMPLE),
         "-C", str(dest)],
        check=True,
    )  # fmt: skip
    layers_path = dest / "overlay-layers" / "layers.json"
    ctrs_path = dest / "overlay-containers" / "containers.json"
    layers, ctrs = json.loads(layers_path.read_text()), json.loads(ctrs_path.read_text())
    base = next(c for c in ctrs if "sk-exited" in c["names"])
    base_layer = next(x for x in layers if x["id"] == base["layer"])
    for i in range(count - len(ctrs)):
        cid, lid = secrets.token_hex(32), secrets.token_hex(32)
        ctrs.append({**base, "id": cid, "names": [f"clone-{i}"], "layer": lid})
        layers.append({**base_layer, "id": lid, "names": [f"clone-{i}-layer"]})
        subprocess.run(
            ["cp", "-a", str(dest / "overlay" / base["layer"]), str(dest / "overlay" / lid)],
            check=True,
        )
        link = "".join(secrets.choice(_B32) for _ in range(26))
        (dest / "overlay" / lid / "link").write_text(link)
        os.symlink(f"../{lid}/diff", dest / "overlay" / "l" / link)
    layers_path.write_text(json.dumps(layers))
    ctrs_path.write_text(json.dumps(ctrs))
    return dest


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
    ap.add_argument("--containers", type=int, default=1000)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (the sample root holds device nodes and trusted.* xattrs)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="skbench-", dir=args.workdir))
    try:
        roots = {
            "podman": podman_root(work / "podman", args.containers),
            "docker": docker_root(work / "d"),
        }
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
