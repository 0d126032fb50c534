"""Benchmark storagekit's userspace union (``ls -R``, ``extract --tar``) against a kernel overlay.

One container on one image of ``--layers`` layers (default 100) holding ``--files`` files
(default 300,000), written by :class:`tests.support.rootwriter.deeptree.DeepTreeWriter`; the same
layer stack is mounted with the kernel's overlay filesystem exactly as dockerd mounts a
container (:mod:`tools.unionviews`). Whole command-line runs, best and median of ``--runs``
interleaved runs after one warm-up run, page cache warm (the root is on tmpfs when /dev/shm is
writable):

* listing: ``find MNT -printf '%p %s %m %U %G %T@ %y\\n' > /dev/null`` against
  ``storagekit -r ROOT ls bench / -R --format json > /dev/null``;
* archiving: ``tar -C MNT -cf - .`` against ``storagekit -r ROOT extract bench --tar -``, both
  writing to a file in the work directory truncated before every run (GNU tar notices an archive
  that is /dev/null and then never reads the files).

Ratio = storagekit seconds / kernel-tool seconds; the target is at most 2. Every run's peak RSS
comes from ``/usr/bin/time -f %M``; a second, smaller root (``--small-files``, default 30,000)
tells whether storagekit's memory grows with the tree. Before timing, the views are checked
against the kernel's. ``--compare REV`` times REV's storagekit too, in the same rounds. See
docs/benchmarks.md.

Usage (as root)::

    .venv/bin/python -m tools.bench_union [--runs 3] [--layers 100] [--files 300000]
        [--small-files 30000] [--workdir DIR] [--keep] [--profile] [--json] [--no-verify]
        [--compare REV]
    .venv/bin/python -m tools.bench_union --generate-only --workdir DIR   # just the root

Exit status: 0 when the benchmark ran and the views matched (whatever the timing verdict), 1 when
a command failed or the views differed, 2 when not run as root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.rootwriter.deeptree import CONTAINER_NAME, DeepTreeWriter
from tests.support.rootwriter.deeptree_plan import PlanStats
from tools import benchharness as h
from tools.unionviews import check_views, mount_overlay, unmount

TARGET_RATIO = 2.0
PAIRS = (("list", "find", "storagekit ls -R"), ("tar", "tar -c", "storagekit extract --tar"))
PROFILE = """
import cProfile, io, os, pstats, sys
from contextlib import redirect_stdout
from storagekit.cli import main as cli
from storagekit.union import forkstream
prof = cProfile.Profile()
forkstream.MIN_STEPS = sys.maxsize  # one process: cProfile does not follow forked workers
with open(os.devnull, "w") as null, redirect_stdout(null):
    prof.enable()
    status = cli.main(sys.argv[1:])
    prof.disable()
text = io.StringIO()
stats = pstats.Stats(prof, stream=text)
stats.sort_stats("tottime").print_stats(18)
stats.sort_stats("cumulative").print_stats(18)
print(f"exit {status}")
print("\\n".join(ln for ln in text.getvalue().splitlines() if ln.strip()))
"""


@dataclass
class Result:
    """Everything measured on one root."""

    layers: int
    files: int
    generate_seconds: float
    entries: int
    stats: PlanStats
    rows: list[h.Row]
    problems: list[str]
    bytes: int

    def pair(self, kernel: str, ours: str, variant: str = "") -> tuple[h.Row, h.Row, float | None]:
        k = next(r for r in self.rows if r.key == kernel)
        s = next(r for r in self.rows if r.key == ours and r.variant in (variant, ""))
        ratio = s.best / k.best if s.best is not None and k.best else None
        return k, s, ratio


def measure_root(
    args: argparse.Namespace, work: Path, files: int, chosen: Sequence[h.Variant]
) -> Result:
    """Generate one root, mount it, check the views, time the commands, clean up."""
    base = work / f"root-{files}"
    root_dir, mnt, scratch = base / "docker", base / "mnt", base / "scratch"
    if base.exists():
        shutil.rmtree(base)
    scratch.mkdir(parents=True)
    h.log(f"generating {args.layers} layers, {files} files in {root_dir} …")
    root = DeepTreeWriter(root_dir, args.layers, files, args.seed).generate()
    s = root.stats
    h.log(
        f"  made in {root.seconds:.1f}s: {s.files_written} regular files written "
        f"({root.bytes / 1e6:.1f} MB), {s.leaf_dirs} leaf dirs, {s.whiteouts} whiteouts, "
        f"{s.opaque_dirs} opaque dirs, {s.modified} modified, {s.deleted_files} files and "
        f"{s.deleted_dirs} dirs deleted, {s.recreated} re-created, {s.type_changes} type changes"
    )
    mount_overlay(root, mnt)
    try:
        problems: list[str] = []
        entries = 0
        if not args.no_verify:
            for v in chosen:
                found, entries = check_views(v.storagekit, root, mnt, scratch, sys.stderr)
                problems += [f"({v.name}) {p}" if len(chosen) > 1 else p for p in found]
        for p in problems:
            h.log(f"  DIFFERENCE {p}")
        sink, m = str(scratch / "out.tar"), str(mnt)

        def ours(v: h.Variant) -> list[h.Row]:
            sk = [v.storagekit, "-r", str(root_dir)]
            ls = [*sk, "ls", CONTAINER_NAME, "/", "-R", "--format", "json"]
            tar = [*sk, "extract", CONTAINER_NAME, "--tar", "-"]
            return [
                h.Row("storagekit ls -R", ls),
                h.Row("storagekit extract --tar", tar, sink=sink),
            ]

        mine = h.per_variant(ours, chosen)
        half = len(mine) // 2
        rows = [
            h.Row("find", ["find", m, "-printf", "%p %s %m %U %G %T@ %y\\n"]),
            *mine[:half],
            h.Row("tar -c", ["tar", "-C", m, "-cf", "-", "."], sink=sink),
            *mine[half:],
        ]
        h.log(f"  timing, {args.runs} rounds …")
        h.interleave(rows, args.runs, rss_dir=scratch)
        problems += [row.error for row in rows if row.error]
    finally:
        unmount(mnt)
    return Result(args.layers, files, root.seconds, entries, s, rows, problems, root.bytes)


def _mb(kib: int | None) -> str:
    return "-" if kib is None or kib < 0 else f"{kib / 1024:.0f}"


def table(results: Sequence[Result], chosen: Sequence[h.Variant]) -> str:
    head = (
        f"{'files':>8} {'op':<5} {'variant':<12} {'kernel s':>9} {'storagekit s':>13} "
        f"{'ratio':>6} {'r(med)':>6} {'sk RSS MB':>10} {'tool RSS MB':>12}  storagekit runs (s)"
    )
    lines = [head, "-" * len(head)]
    for res in results:
        for op, kernel, ours in PAIRS:
            for v in chosen:
                k, s, ratio = res.pair(kernel, ours, v.name)
                med = s.median / k.median if s.median and k.median else None
                lines.append(
                    f"{res.files:>8} {op:<5} {v.name:<12} {h.fmt(k.best, 9)} {h.fmt(s.best, 13)} "
                    f"{h.fmt(ratio, 6, 2)} {h.fmt(med, 6, 2)} {_mb(s.rss_kib):>10} "
                    f"{_mb(k.rss_kib):>12}  " + " ".join(f"{t:.2f}" for t in s.times)
                )
    return "\n".join(lines)


def verdict(results: Sequence[Result]) -> tuple[bool, bool, str]:
    """(speed within 2x, memory bounded, one line), for this checkout's storagekit."""
    big = max(results, key=lambda r: r.files)
    ratios = {op: big.pair(k, s, "now")[2] for op, k, s in PAIRS}
    fast = all(r is not None and r <= TARGET_RATIO for r in ratios.values())
    speed = ", ".join(
        f"{op} {r:.2f}x" if r is not None else f"{op} failed" for op, r in ratios.items()
    )
    line = (
        f"{'PASS' if fast else 'FAIL'} speed "
        f"(target <= {TARGET_RATIO:.0f}x of the kernel tool): {speed}"
    )
    bounded = True
    small = min(results, key=lambda r: r.files)
    if small is not big:
        growth = []
        for _, kernel, ours in PAIRS:
            a, b = (
                small.pair(kernel, ours, "now")[1].rss_kib,
                big.pair(kernel, ours, "now")[1].rss_kib,
            )
            if a and b and a > 0 and b > 0:
                # bounded: at most +50 % for a tree 10x larger (interpreter + imports dominate)
                bounded = bounded and not b > 1.5 * a
                growth.append(f"{ours} {_mb(a)} -> {_mb(b)} MB")
        line += (
            f"; {'PASS' if bounded else 'FAIL'} memory "
            f"({small.files} -> {big.files} files: " + ", ".join(growth) + ")"
        )
    return fast, bounded, line


def figures(
    results: Sequence[Result], chosen: Sequence[h.Variant], runs: int, line: str,
    profiles: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {
        "runs": runs,
        "method": "wall clock (time.perf_counter) around subprocess runs, best and median of "
        "interleaved runs after one warm-up; peak RSS from /usr/bin/time %M; tar output to a "
        "tmpfs file",
        **h.machine(),
        "roots": [],
        "verdict": line,
        "profiles": profiles,
    }
    for res in results:
        ops = {}
        for op, kernel, ours in PAIRS:
            for v in chosen:
                k, s, ratio = res.pair(kernel, ours, v.name)
                ops[op if len(chosen) == 1 else f"{op} [{v.name}]"] = {
                    "kernel_tool": kernel,
                    "kernel_seconds": k.best,
                    "storagekit_seconds": s.best,
                    "kernel_median": k.median,
                    "storagekit_median": s.median,
                    "ratio": None if ratio is None else round(ratio, 3),
                    "storagekit_peak_rss_kib": s.rss_kib,
                    "kernel_tool_peak_rss_kib": k.rss_kib,
                    "storagekit_runs": [round(t, 4) for t in s.times],
                    "kernel_runs": [round(t, 4) for t in k.times],
                }
        out["roots"].append(
            {
                "layers": res.layers,
                "files": res.files,
                "entries_in_view": res.entries,
                "bytes_written": res.bytes,
                "generate_seconds": round(res.generate_seconds, 2),
                "plan": vars(res.stats),
                "views_identical": not res.problems,
                "differences": res.problems,
                "operations": ops,
                "compare": h.compare_figures(res.rows, chosen),
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time storagekit ls -R / extract --tar against find / tar on a kernel "
        "overlay mount of the same layers (run as root).",
    )
    parser.add_argument("--workdir", type=Path, help="where to write (default: temp, /dev/shm)")
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument(
        "--small-files", type=int, default=30_000, help="second root for memory growth (0: none)"
    )
    parser.add_argument("--seed", type=int, default=20240301)
    parser.add_argument("--no-verify", action="store_true", help="skip comparing the views")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="always profile storagekit (done anyway when it misses a target)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="write the --files root to WORKDIR/root-FILES/docker (implies --keep) and stop",
    )
    h.add_common_args(parser, "the generated roots")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        h.log("error: run as root (mknod, trusted.* xattrs, mount)")
        return 2
    if args.layers < 2 or args.files < 1000:
        parser.error("need at least 2 layers and 1000 files")
    keep = args.keep or args.generate_only
    with h.workdir(args.workdir, "storagekit-bench-union-", keep=keep, made=["root-*"]) as work:
        try:
            if args.generate_only:
                shutil.rmtree(work / f"root-{args.files}", ignore_errors=True)
                path = work / f"root-{args.files}" / "docker"
                root = DeepTreeWriter(path, args.layers, args.files, args.seed).generate()
                h.log(f"generated {root.path} in {root.seconds:.1f}s: {vars(root.stats)}")
                return 0
            chosen = h.variants(args)
            sizes = [args.files] + ([args.small_files] if 0 < args.small_files < args.files else [])
            results = []
            for files in sizes:
                results.append(measure_root(args, work, files, chosen))
                if not keep and files != args.files:
                    shutil.rmtree(work / f"root-{files}", ignore_errors=True)
            fast, bounded, line = verdict(results)
            profiles: dict[str, str] = {}
            if args.profile or not fast or not bounded:
                big = str(work / f"root-{args.files}" / "docker")
                h.log("profiling storagekit in-process …")
                for name, cmd in (
                    ("ls", ["ls", CONTAINER_NAME, "/", "-R", "--format", "json"]),
                    ("extract", ["extract", CONTAINER_NAME, "--tar", "-"]),
                ):
                    proc = subprocess.run(
                        [chosen[0].python, "-c", PROFILE, "-r", big, *cmd],
                        capture_output=True,
                        text=True,
                        check=False,
                        cwd=h.NEUTRAL,
                    )
                    profiles[name] = f"storagekit {' '.join(cmd)}: " + (proc.stdout or proc.stderr)
            problems = [p for r in results for p in r.problems]
            if args.json:
                print(json.dumps(figures(results, chosen, args.runs, line, profiles), indent=2))
            else:
                print(
                    f"best and median of {args.runs} runs; {results[0].layers} image layers + "
                    "init + rw; roots generated in "
                    + ", ".join(f"{r.generate_seconds:.1f}s ({r.files} files)" for r in results)
                )
                print(table(results, chosen))
                if args.no_verify:
                    print("views: not checked")
                elif problems:
                    print(f"views: {len(problems)} DIFFERENCES, see above")
                else:
                    print("views: identical (ls -R paths/types/metadata, tar members/contents)")
                print(line)
                load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
                print(f"load average after: {load} on {os.cpu_count()} CPUs")
                for res in results if len(chosen) > 1 else ():
                    print(f"\n{res.files} files: " + h.compare_table(res.rows, chosen))
                for name, text in profiles.items():
                    print(f"\n--- profile: {name} ---\n{text}")
            return 1 if problems else 0
        except (h.CommandFailed, subprocess.CalledProcessError, RuntimeError) as exc:
            detail = getattr(exc, "stderr", None)
            extra = f" {detail.decode(errors='replace')}" if isinstance(detail, bytes) else ""
            h.log(f"error: {exc}{extra}")
            return 1
        finally:
            for d in work.glob("root-*/mnt"):
                unmount(d)


if __name__ == "__main__":
    sys.exit(main())
