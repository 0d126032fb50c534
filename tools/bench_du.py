"""Benchmark ``storagekit df`` (the whole command) and its measurement against ``du -s -B1``.

    .venv/bin/python -m tools.bench_du                      # build a 300,000-file root in /tmp
    .venv/bin/python -m tools.bench_du --tree du            # the plain tree of earlier figures
    .venv/bin/python -m tools.bench_du --files 1000000      # the million-file RSS check
    .venv/bin/python -m tools.bench_du --root /copy/of/var/lib/docker
    .venv/bin/python -m tools.bench_du --compare main       # and main's storagekit, interleaved

Two roots can be built. ``--tree df`` (the default, :func:`tests.support.rootwriter.dfroot.build`)
is a real overlay2 fleet (200 containers, 100 layers, 20 images) whose files sit where ``df``
sizes directories besides measuring the root: writable layers (``size_rw``), image layers,
local volumes and orphaned driver directories, some hard-linked across. ``--tree du``
(:func:`tests.support.rootwriter.dutree.build`) is the plain tree of nested folders the
measurement was first timed on (layer store records without layers: every layer an orphan).

Timed, interleaved on a warm cache, best and median of ``--runs``: ``du -s -B1 ROOT``; ``storagekit
df --format json`` as users run it (start-up, metadata, Docker's figures, orphans and the
measurement), its peak RSS from ``/usr/bin/time``; and the measurement alone (``measure``, in
a fresh interpreter of the installed storagekit's virtualenv that times itself, peak RSS of
parent and forked workers from ``getrusage``). ``df``'s measured total and the measurement's
must equal ``du``'s. Ratio = storagekit / du; targets: ``df`` <= 1.2, peak RSS < 200 MB on
a million files. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.support.rootwriter import dfroot, dutree
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


def _build(root: Path, tree: str, files: int) -> None:
    start = time.perf_counter()
    made = (dfroot.build if tree == "df" else dutree.build)(root, files)
    print(f"built {made} files ({tree} tree) in {time.perf_counter() - start:.1f} s: {root}")


def _rows(v: h.Variant, root: Path, peak: dict[str, float]) -> list[h.Row]:
    """The whole ``df`` command and the measurement alone, for one variant."""

    def seconds(out: bytes) -> float:
        doc = json.loads(out)
        peak[v.name] = max(peak.get(v.name, 0.0), doc["rss_kb"])
        return float(doc["wall"])

    df = [v.storagekit, "-r", str(root), "df", "--format", "json"]
    return [
        h.Row("storagekit df", df, sink=os.devnull),
        h.Row("storagekit measure", [v.python, "-c", MEASURE, str(root)], seconds_of=seconds),
    ]


def _total(row: h.Row) -> object:
    """The measured total the row's command printed (``df``: its ``measured.total``)."""
    if row.error:
        return row.error
    if row.key == "storagekit df":
        _, out = h.run_once(row.argv, capture=True)
        return json.loads(out)["measured"]["total"]
    return json.loads(row.output)["total"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="measure this directory instead of building one")
    parser.add_argument("--files", type=int, default=300_000, help="files in the built root")
    parser.add_argument("--tree", choices=("df", "du"), default="df", help="which root to build")
    h.add_common_args(parser)
    args = parser.parse_args()
    if h.missing("du", "GNU du"):
        return 2
    chosen = h.variants(args)
    given = Path(args.root) if args.root else None
    parent = tempfile.gettempdir()
    with h.workdir(None, "bench-du-", keep=args.keep, parent=parent) as tmp:
        root = given or tmp / "docker"
        if given is None:
            _build(root, args.tree, args.files)
        du = h.Row("du -s -B1", ["du", "-s", "-B1", str(root)])
        peak: dict[str, float] = {}  # variant -> the measurement's peak RSS (KiB) over the runs
        rows = [du, *h.per_variant(lambda v: _rows(v, root, peak), chosen)]
        h.interleave(rows, args.runs, required=du, rss_dir=tmp)
        total = du_total(root)
        for row in rows[1:]:
            got = _total(row)
            if got != total:
                print(f"MISMATCH: du {total}, storagekit ({row.label}) {got}", file=sys.stderr)
                return 1
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"total {total} bytes (equal); cores {cores}, load average {load:.2f}")
        print(f"{'du -s -B1':<34} best {h.fmt(du.best, 7)} s  median {h.fmt(du.median, 7)} s")
        for row in rows[1:]:
            if row.best is None or row.median is None or not du.best or not du.median:
                continue
            whole = row.key == "storagekit df"
            rss = (row.rss_kib or 0) if whole else peak[row.variant or chosen[0].name]
            print(
                f"{row.label:<34} best {row.best:7.3f} s  median {row.median:7.3f} s  "
                f"ratio {row.best / du.best:.2f} (median {row.median / du.median:.2f}"
                f"{'; target <= 1.2' if whole else ''})  peak RSS {rss / 1024:.1f} MB"
            )
        print("peak RSS target: < 200 MB on a million files")
        if len(chosen) > 1:
            print(h.compare_table(rows, chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
