"""Benchmark storagekit's disk-usage measurement against ``du -s -B1``.

    .venv/bin/python -m tools.bench_du                      # build a 300,000-file root in /tmp
    .venv/bin/python -m tools.bench_du --files 1000000      # the million-file RSS check
    .venv/bin/python -m tools.bench_du --root /copy/of/var/lib/docker

The generated root looks like a Docker overlay2 root: layer store metadata, layer directories of
nested folders with small and medium files (some hard-linked, as legacy drivers leave them),
container directories with logs, and volumes. Both tools run on a warm cache, alternately, and
the best of ``--runs`` is kept. ``measure`` runs in a fresh interpreter so that its peak RSS
(parent and forked workers, ``getrusage``) is its own. The totals must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES_PER_DIR = 50
DIRS_PER_LAYER = 40


def build(root: Path, files: int) -> int:
    """Write a synthetic overlay2 root with about ``files`` files; returns the count."""
    (root / "image" / "overlay2" / "layerdb" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "containers").mkdir(exist_ok=True)
    made = layer = 0
    medium = b"m" * 5000
    while made < files:
        layer_id = f"{layer:064x}"
        meta = root / "image" / "overlay2" / "layerdb" / "sha256" / f"{layer + 1:064x}"
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "cache-id").write_text(layer_id)
        (meta / "size").write_text("0")
        diff = root / "overlay2" / layer_id / "diff"
        for d in range(DIRS_PER_LAYER):
            folder = diff / f"usr{d % 4}" / f"d{d}"
            folder.mkdir(parents=True, exist_ok=True)
            for f in range(FILES_PER_DIR):
                path = folder / f"f{f}"
                if f == 0 and layer > 0:
                    os.link(root / "overlay2" / f"{0:064x}" / "diff/usr0/d0/f1", path)
                else:
                    path.write_bytes(medium if f % 7 == 0 else b"s" * (f % 13))
                made += 1
                if made >= files:
                    break
            if made >= files:
                break
        container = root / "containers" / f"{layer:064x}"
        container.mkdir(exist_ok=True)
        (container / "config.v2.json").write_text("{}")
        (container / f"{layer:064x}-json.log").write_bytes(b"log line\n" * 100)
        layer += 1
    volume = root / "volumes" / "data" / "_data"
    volume.mkdir(parents=True, exist_ok=True)
    (volume / "big").write_bytes(b"v" * 1_000_000)
    return made


def run_du(root: Path) -> tuple[float, int]:
    start = time.perf_counter()
    out = subprocess.run(["du", "-s", "-B1", str(root)], check=True, capture_output=True)
    return time.perf_counter() - start, int(out.stdout.split()[0])


MEASURE = """
import json, resource, sys, time
from storagekit.engines.docker.df import measured
from storagekit.engines.docker.root import DockerRoot
from storagekit.sources.dirsource import DirSource
root = DockerRoot(DirSource(sys.argv[1]))
start = time.perf_counter()
result = measured(root)
wall = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "total": result["total"], "rss_kb": max(own, kids)}))
"""


def run_measure(root: Path) -> dict[str, float]:
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(root)],
        check=True,
        capture_output=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="measure this directory instead of building one")
    parser.add_argument("--files", type=int, default=300_000, help="files in the built root")
    parser.add_argument("--runs", type=int, default=3, help="runs of each tool (best kept)")
    parser.add_argument("--keep", action="store_true", help="keep the built root")
    args = parser.parse_args()
    if shutil.which("du") is None:
        print("needs GNU du", file=sys.stderr)
        return 2
    tmp = None
    if args.root:
        root = Path(args.root)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-du-"))
        root = tmp / "docker"
        start = time.perf_counter()
        made = build(root, args.files)
        print(f"built {made} files in {time.perf_counter() - start:.1f} s: {root}")
    try:
        run_du(root)  # warm the cache
        du_best = sk_best = float("inf")
        rss = 0.0
        for _ in range(args.runs):
            du_time, du_total = run_du(root)
            sk = run_measure(root)
            if sk["total"] != du_total:
                print(f"MISMATCH: du {du_total}, storagekit {sk['total']}", file=sys.stderr)
                return 1
            du_best = min(du_best, du_time)
            sk_best = min(sk_best, sk["wall"])
            rss = max(rss, sk["rss_kb"])
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"total {du_total} bytes (equal); cores {cores}, load average {load:.2f}")
        print(f"du -s -B1      {du_best:7.3f} s")
        print(f"storagekit     {sk_best:7.3f} s   ratio {sk_best / du_best:.2f} (target <= 1.0)")
        print(f"peak RSS       {rss / 1024:7.1f} MB (target < 200 MB on a million files)")
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
