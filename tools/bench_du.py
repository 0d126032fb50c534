"""Benchmark storagekit's disk-usage measurement against ``du -s -B1``.

    .venv/bin/python -m tools.bench_du                      # build a 300,000-file root in /tmp
    .venv/bin/python -m tools.bench_du --files 1000000      # the million-file RSS check
    .venv/bin/python -m tools.bench_du --root /copy/of/var/lib/docker
    .venv/bin/python -m tools.bench_du --compare main       # and main's storagekit, interleaved

The generated root (:func:`tests.support.rootwriter.dutree.build`) looks like a Docker overlay2
root: layer store metadata, layer directories of nested folders with small and medium files
(some hard-linked, as legacy drivers leave them), container directories with logs, and volumes.
Both tools run on a warm cache, interleaved; best and median of ``--runs`` are kept. ``measure``
runs in a fresh interpreter of the installed storagekit's virtualenv and times itself, so that
its figure and its peak RSS (parent and forked workers, ``getrusage``) are its own. The totals
must agree. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.support.rootwriter.dutree import build
from tools import benchharness as h

MEASURE = """
import json, resource, sys, time
try:
    from storagekit.engines.docker.df import measured
    from storagekit.engines.docker.root import DockerRoot
except ImportError:  # before the engine packages
    from storagekit.analysis.diskusage import measure as measured
    from storagekit.dockerroot import DockerRoot
from storagekit.sources.dirsource import DirSource
root = DockerRoot(DirSource(sys.argv[1]))
start = time.perf_counter()
result = measured(root)
wall = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "total": result["total"], "rss_kb": max(own, kids)}))
"""


def du_total(root: Path) -> int:
    _, out = h.run_once(["du", "-s", "-B1", str(root)], capture=True)
    return int(out.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="measure this directory instead of building one")
    parser.add_argument("--files", type=int, default=300_000, help="files in the built root")
    h.add_common_args(parser)
    args = parser.parse_args()
    if h.missing("du", "GNU du"):
        return 2
    chosen = h.variants(args)
    given = Path(args.root) if args.root else None
    parent = tempfile.gettempdir()
    with h.workdir(None, "bench-du-", keep=args.keep or given is not None, parent=parent) as tmp:
        root = given or tmp / "docker"
        if given is None:
            start = time.perf_counter()
            made = build(root, args.files)
            print(f"built {made} files in {time.perf_counter() - start:.1f} s: {root}")
        du = h.Row("du -s -B1", ["du", "-s", "-B1", str(root)])

        peak: dict[str, float] = {}  # variant -> peak RSS (KiB) over the runs

        def measure(v: h.Variant) -> list[h.Row]:
            def seconds(out: bytes) -> float:
                doc = json.loads(out)
                peak[v.name] = max(peak.get(v.name, 0.0), doc["rss_kb"])
                return float(doc["wall"])

            argv = [v.python, "-c", MEASURE, str(root)]
            return [h.Row("storagekit measure", argv, seconds_of=seconds)]

        rows = [du, *h.per_variant(measure, chosen)]
        h.interleave(rows, args.runs, required=du)
        total = du_total(root)
        for row in rows[1:]:
            if row.error or json.loads(row.output)["total"] != total:
                got = row.error or json.loads(row.output)["total"]
                print(f"MISMATCH: du {total}, storagekit ({row.label}) {got}", file=sys.stderr)
                return 1
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"total {total} bytes (equal); cores {cores}, load average {load:.2f}")
        print(f"{'du -s -B1':<34} best {h.fmt(du.best, 7)} s  median {h.fmt(du.median, 7)} s")
        for row, v in zip(rows[1:], chosen, strict=True):
            if row.best is None or row.median is None or not du.best or not du.median:
                continue
            print(
                f"{row.label:<34} best {row.best:7.3f} s  median {row.median:7.3f} s  "
                f"ratio {row.best / du.best:.2f} (median {row.median / du.median:.2f}; "
                f"target <= 1.0)  peak RSS {peak[v.name] / 1024:.1f} MB"
            )
        print("peak RSS target: < 200 MB on a million files")
        if len(chosen) > 1:
            print(h.compare_table(rows, chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
