"""Benchmark streamed tables: the first line of ``ls -R`` early, and tables as cheap as JSON.

What it measures, on a root written by :mod:`tools.bench_union` (``--generate-only``; one
container ``bench`` over ``--layers`` image layers holding ``--files`` files, overlay2):

* first line: ``storagekit -r ROOT ls bench / -R`` (a table) is started and the time until its
  first line reaches the pipe is taken, against the time of the whole listing: the ratio must
  be at most 0.2 (a fifth);
* table against JSON: the whole ``ls bench / -R`` as a table against ``--format json``, both
  written to a pipe that is drained: the ratio must be at most 1.2.

Best of ``--runs`` runs after one warm-up run, page cache warm. Prints one line per figure and
the ratios; ``--json`` prints them as one JSON object.

Usage (as root, since the root holds whiteouts and xattrs)::

    .venv/bin/python -m tools.bench_table [--files 100000] [--layers 10] [--runs 3]
        [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "storagekit.cli.main", "-r", str(root), *args]


def timed(argv: Sequence[str]) -> tuple[float, float]:
    """(seconds to the first line on stdout, seconds to the end), output drained."""
    start = time.perf_counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        proc.stdout.readline()
        first = time.perf_counter() - start
        while proc.stdout.read(1 << 20):
            pass
        code = proc.wait()
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {code}")
    return first, time.perf_counter() - start


def best(argv: Sequence[str], runs: int) -> tuple[float, float]:
    timed(argv)  # warm-up
    found = [timed(argv) for _ in range(runs)]
    return min(f for f, _ in found), min(t for _, t in found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/storagekit-bench-table"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run as root: the root holds whiteouts and trusted.* xattrs", file=sys.stderr)
        return 2
    root = args.workdir / f"root-{args.files}" / "docker"
    if not root.is_dir():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.bench_union",
                "--generate-only",
                "--workdir",
                str(args.workdir),
                "--files",
                str(args.files),
                "--layers",
                str(args.layers),
            ],
            check=True,
        )
    first, table_total = best(_cmd(root, "ls", "bench", "/", "-R"), args.runs)
    _, json_total = best(_cmd(root, "ls", "bench", "/", "-R", "--format", "json"), args.runs)
    figures = {
        "files": args.files,
        "table_first_line_s": round(first, 3),
        "table_total_s": round(table_total, 3),
        "json_total_s": round(json_total, 3),
        "first_line_ratio": round(first / table_total, 3),
        "table_to_json_ratio": round(table_total / json_total, 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"ls -R of {args.files} files, best of {args.runs}:")
        print(f"  table: first line {first:.3f} s, whole {table_total:.3f} s", end="")
        print(f" (ratio {figures['first_line_ratio']}, target <= 0.2)")
        print(
            f"  json:  whole {json_total:.3f} s; table/json {figures['table_to_json_ratio']}",
            end="",
        )
        print(" (target <= 1.2)")
    ok = figures["first_line_ratio"] <= 0.2 and figures["table_to_json_ratio"] <= 1.2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
