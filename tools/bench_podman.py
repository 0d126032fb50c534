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
inventory is no slower on equal work. storagekit runs as :mod:`tools.benchharness` runs it (a
wheel in its own virtualenv, bytecode cached, interleaved rounds after a warm-up); with
``--compare REV`` REV's storagekit is timed on both roots in the same rounds and the table gains
its ratios too. ``--workdir DIR --keep`` keeps the two roots in DIR, and a later run given the
same DIR times them again without building them (some 30 s).

Usage::

    .venv/bin/python -m tools.bench_podman [--runs 7] [--workdir DIR [--keep]] [--compare REV]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tools.benchharness import (
    CACHE,
    Row,
    Variant,
    add_common_args,
    bench_env,
    fmt,
    interleave,
    per_variant,
    variants,
    workdir,
)
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


def roots(work: Path) -> dict[str, Path]:
    """The two equal roots in ``work``, built unless a kept run left them there."""
    docker, podman = work / "d" / "docker", work / "podman"
    if not (docker / "containers").is_dir() or not (podman / "libpod").is_dir():
        docker = docker_root(work / "d")
        print(f"both roots: {podman_fleet(docker, podman)}")
    return {"podman": podman, "docker": docker}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=None, help="where the roots are (kept)")
    add_common_args(ap, "the two roots")
    ap.set_defaults(runs=7)
    args = ap.parse_args(argv)
    chosen = variants(args)
    with workdir(args.workdir, "skbench-podman-", keep=args.keep or args.workdir is not None,
                 made=("d", "podman")) as work:  # fmt: skip
        where = roots(work)

        def rows(v: Variant) -> list[Row]:
            return [
                Row(
                    f"{' '.join(c)} {engine}",
                    [v.storagekit, "-r", str(root), *c, "--format", "json"],
                )
                for c in COMMANDS
                for engine, root in where.items()
            ]

        table = per_variant(rows, chosen)
        interleave(table, args.runs, bench_env(CACHE / "pycache"))
        by = {(r.key, r.variant): r for r in table}
        names = [v.name if len(chosen) > 1 else "" for v in chosen]
        head = "| command | podman best s | docker best s | ratio (best) | ratio (median) |"
        print(head if len(chosen) == 1 else head.replace("command", "command [variant]"))
        print("|---|---|---|---|---|")
        for c in COMMANDS:
            for name in names:
                p, d = by[(f"{' '.join(c)} podman", name)], by[(f"{' '.join(c)} docker", name)]
                pm, dm = p.median, d.median
                if p.best is None or d.best is None or pm is None or dm is None:
                    print(f"| `{' '.join(c)}` {name} | failed: {p.error or d.error} |")
                    continue
                label = f"`{' '.join(c)}`" + (f" [{name}]" if name else "")
                print(
                    f"| {label} | {fmt(p.best, 0)} | {fmt(d.best, 0)} | "
                    f"{p.best / d.best:.2f} | {pm / dm:.2f} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
