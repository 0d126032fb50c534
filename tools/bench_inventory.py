"""Benchmark the inventory commands against docker-explorer on a large synthetic Docker root.

Wall-clock time of whole command-line runs (start-up, imports, reading the root, rendering
JSON), best and median of ``--runs`` interleaved runs after one warm-up run, stdout to
/dev/null, warm page cache, Python's bytecode cache on for both tools
(:func:`tools.benchharness.bench_env`). The reference is docker-explorer's ``de.py -r ROOT list
all_containers``; compared are ``storagekit containers`` (no sizes, as ``docker ps`` and
docker-explorer) and ``images`` (``--format json``); for information ``containers -s`` (every
writable layer measured), ``layers``, ``audit`` and the bare cost of importing
the command line's module (``storagekit.cli.main``, whatever the console script names). Ratio =
storagekit seconds / docker-explorer seconds: below 1 is faster.

The root is :class:`tests.support.rootwriter.fleet.FleetWriter`'s (1,000 containers, 2,000
layers, 100 images by default); it goes to /dev/shm when writable, or to ``--workdir``.
docker-explorer comes from PyPI into its own virtualenv, storagekit is installed into another
as users get it; ``--compare REV`` times REV's storagekit too, in the same rounds. See
docs/benchmarks.md.

Usage::

    .venv/bin/python -m tools.bench_inventory [--runs 3] [--workdir DIR] [--keep] [--json]
        [--compare REV]

Exit status: 0 when the benchmark ran (whatever the verdict), 1 when a command failed or gave
the wrong number of containers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.rootwriter.fleet import FleetWriter, RootStats
from tools import benchharness as h


def _count(doc: Any) -> int:
    """Number of objects in a JSON listing (a list, or the first list value of an object)."""
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, list):
                return len(value)
    return -1


def check_outputs(
    de: h.DockerExplorer,
    chosen: Sequence[h.Variant],
    root: Path,
    stats: RootStats,
    env: dict[str, str],
) -> list[str]:
    """Both tools must see every container (and storagekit every image); returns problems."""
    problems = []
    _, out = h.run_once(de.argv(root), env, capture=True)
    n = _count(json.loads(out))
    if n != stats.containers:
        problems.append(f"docker-explorer listed {n} containers, expected {stats.containers}")
    for v in chosen:
        for command, want in (("containers", stats.containers), ("images", stats.images)):
            argv = [v.storagekit, "-r", str(root), command, "--format", "json"]
            try:
                _, out = h.run_once(argv, env, capture=True)
            except h.CommandFailed as exc:
                problems.append(str(exc))
                continue
            n = _count(json.loads(out))
            if n != want:
                problems.append(f"storagekit ({v.name}) {command} listed {n}, expected {want}")
    return problems


def storagekit_rows(v: h.Variant, root: Path, extra: bool) -> list[h.Row]:
    """The storagekit commands, for one variant."""
    sk, r = v.storagekit, str(root)
    rows = [
        h.Row("storagekit containers", [sk, "-r", r, "containers", "--format", "json"]),
        h.Row("storagekit images", [sk, "-r", r, "images", "--format", "json"]),
    ]
    if extra:
        rows += [
            h.Row(
                "storagekit containers -s",
                [sk, "-r", r, "containers", "-s", "--format", "json"],
                False,
            ),
            h.Row("storagekit layers", [sk, "-r", r, "layers", "--format", "json"], False),
            h.Row("storagekit audit", [sk, "-r", r, "audit", "--format", "json"], False),
            h.Row(
                "python -c 'import <the CLI's module>'",
                [v.python, "-c", f"import {v.cli_module}"],
                False,
            ),
        ]
    return rows


def verdict(rows: Sequence[h.Row]) -> tuple[bool, str]:
    """Whether every compared storagekit command (of this checkout) beat docker-explorer."""
    de = rows[0].best
    assert de is not None
    compared = [r for r in rows[1:] if r.compared and r.variant in ("", "now")]
    failed = [r for r in compared if r.best is None]
    if failed:
        return False, "FAIL: " + ", ".join(f"{r.label} did not run" for r in failed)
    worst = max(compared, key=lambda r: r.best or 0.0)
    ratio = (worst.best or 0.0) / de
    if ratio < 1:
        return True, (
            f"PASS: storagekit is faster than docker-explorer (slowest compared command "
            f"'{worst.label}' at {ratio:.2f}x of docker-explorer's time)"
        )
    slower = [r.label for r in compared if (r.best or 0.0) >= de]
    return False, f"FAIL: slower than docker-explorer: {', '.join(slower)} (worst {ratio:.2f}x)"


def table(rows: Sequence[h.Row]) -> str:
    de_best = rows[0].best or float("nan")
    de_median = rows[0].median or float("nan")
    head = f"{'command':<46} {'best s':>8} {'median s':>9} {'ratio':>6} {'r(med)':>6}  runs (s)"
    lines = [head, "-" * 96]
    for row in rows:
        if row.best is None or row.median is None:
            lines.append(f"{row.label:<46} {'error':>8} {'-':>9} {'-':>6} {'-':>6}  {row.error}")
            continue
        mark = "" if row.compared else "  (info)"
        runs = " ".join(f"{t:.3f}" for t in row.times)
        lines.append(
            f"{row.label:<46} {row.best:>8.3f} {row.median:>9.3f} {row.best / de_best:>6.2f} "
            f"{row.median / de_median:>6.2f}  {runs}{mark}"
        )
    return "\n".join(lines)


def _display(argv: Sequence[str], root: str) -> str:
    """The command line with the root as ROOT and absolute executables by their base name."""
    shown = []
    for arg in argv:
        if arg == root:
            shown.append("ROOT")
        elif os.path.isabs(arg) and os.path.isfile(arg):
            shown.append(os.path.basename(arg))
        else:
            shown.append(arg)
    return " ".join(shown)


def figures(
    rows: Sequence[h.Row], stats: RootStats, de: h.DockerExplorer, runs: int, line: str
) -> dict[str, Any]:
    de_best = rows[0].best or float("nan")
    return {
        "root": {
            k: round(v, 2) if isinstance(v, float) else v
            for k, v in vars(stats).items()
            if k != "path"
        },
        "runs": runs,
        "method": "wall clock (time.perf_counter) around subprocess runs, best and median of "
        "interleaved runs after one warm-up, stdout to /dev/null, warm page cache, Python "
        "bytecode cache on",
        **h.machine(),
        "docker_explorer": {
            "version": de.version,
            "invocation": "de.py -r ROOT list all_containers",
        },
        "commands": [
            {
                "label": r.label,
                "command": _display(r.argv, stats.path),
                "compared": r.compared,
                "best_seconds": None if r.best is None else round(r.best, 4),
                "median_seconds": None if r.median is None else round(r.median, 4),
                "runs_seconds": [round(t, 4) for t in r.times],
                "ratio_vs_docker_explorer": None if r.best is None else round(r.best / de_best, 3),
                "error": r.error,
            }
            for r in rows
        ],
        "verdict": line,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time storagekit's inventory commands against docker-explorer "
        "on a synthetic Docker root.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where to write the root (default: a new temp dir, in /dev/shm when writable)",
    )
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--layers", type=int, default=2000, help="distinct layers in all")
    parser.add_argument("--base-layers", type=int, default=5, help="layers of the shared base")
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20240301)
    parser.add_argument(
        "--de-venv",
        type=Path,
        default=h.CACHE / "de-venv",
        help="virtualenv for docker-explorer (created and installed when missing)",
    )
    parser.add_argument(
        "--pycache",
        type=Path,
        default=h.CACHE / "pycache",
        help="PYTHONPYCACHEPREFIX for the timed commands (see bench_env)",
    )
    h.add_common_args(parser, "the generated root")
    parser.add_argument(
        "--generate-only", action="store_true", help="write the root (implies --keep) and stop"
    )
    parser.add_argument("--no-extra", action="store_true", help="time only the compared commands")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    keep = args.keep or args.generate_only
    with h.workdir(args.workdir, "storagekit-bench-", keep=keep, made=["docker"]) as work:
        root = work / "docker"
        if root.exists():
            shutil.rmtree(root)
        writer = FleetWriter(
            root,
            images=args.images,
            layers=args.layers,
            base_layers=args.base_layers,
            containers=args.containers,
            seed=args.seed,
        )
        stats = writer.generate()
        h.log(
            f"root {root}: {stats.images} images ({stats.tagged_images} tagged), "
            f"{stats.layers} layers (deepest image {stats.max_depth}), {stats.containers} "
            f"containers {stats.states}, {stats.files} files; made in {stats.seconds:.1f}s"
        )
        if args.generate_only:
            return 0
        try:
            de = h.docker_explorer(args.de_venv)
            chosen = h.variants(args)
            env = h.bench_env(args.pycache)
            problems = check_outputs(de, chosen, root, stats, env)
            for p in problems:
                h.log(f"check: {p}")
            de_row = h.Row("docker-explorer list all_containers", de.argv(root))
            rows = [
                de_row,
                *h.per_variant(lambda v: storagekit_rows(v, root, not args.no_extra), chosen),
            ]
            h.interleave(rows, args.runs, env, required=de_row)
        except h.CommandFailed as exc:
            h.log(f"error: {exc}")
            return 1
        _, line = verdict(rows)
        if args.json:
            doc = figures(rows, stats, de, args.runs, line)
            doc["checks"] = problems
            doc["compare"] = h.compare_figures(rows, chosen)
            print(json.dumps(doc, indent=2))
        else:
            print(
                f"docker-explorer {de.version}: {de.python} {de.script} -r ROOT list all_containers"
            )
            print(
                f"best and median of {args.runs} runs, root: {stats.containers} containers, "
                f"{stats.layers} layers, {stats.images} images"
            )
            print(table(rows))
            print(line)
            if len(chosen) > 1:
                print(h.compare_table(rows, chosen))
        return 0 if not problems and rows[0].best is not None else 1


if __name__ == "__main__":
    sys.exit(main())
