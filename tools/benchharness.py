"""What every benchmark script shares: installs, timing, reports, revisions compared, cleanup.

* storagekit is installed into its own virtualenv as users get it (a wheel, not editable), and
  docker-explorer from PyPI into another (:mod:`tools.benchinstall`);
* commands are timed as whole command-line runs, after one warm-up run each, round robin (run
  1 of every command, then run 2 of every command …) so that a slow spell of this shared
  machine hits every command alike; best and median are kept, and peak RSS when asked
  (:func:`interleave`);
* ``--compare REV`` installs REV's storagekit (``git archive``) into a second virtualenv and
  times each storagekit command for both, side by side in the same rounds, so that "no
  benchmark gets slower" is shown before and after in one run (:func:`variants`,
  :func:`compare_table`);
* work directories go to /dev/shm when writable and are removed unless kept (:func:`workdir`).

Synthetic roots come from :mod:`tests.support.rootwriter` (stdlib only, never storagekit).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.benchinstall import (
    CACHE,
    CommandFailed,
    DockerExplorer,
    Variant,
    add_install_args,
    bench_env,
    docker_explorer,
    install_storagekit,
    log,
    variants,
)

__all__ = [
    "CACHE",
    "CommandFailed",
    "DockerExplorer",
    "Row",
    "Run",
    "Variant",
    "add_common_args",
    "bench_env",
    "compare_figures",
    "compare_table",
    "docker_explorer",
    "install_storagekit",
    "interleave",
    "log",
    "machine",
    "per_variant",
    "run_once",
    "variants",
    "workdir",
]

GNU_TIME = "/usr/bin/time"
#: Commands run from here, so that ``python -c`` imports the venv's storagekit, not a checkout's.
NEUTRAL = "/"


def add_common_args(parser: argparse.ArgumentParser, built: str = "the built root") -> None:
    """``--runs``, ``--keep`` and the install arguments (:func:`add_install_args`)."""
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command")
    parser.add_argument("--keep", action="store_true", help=f"keep {built}")
    add_install_args(parser)


def missing(tool: str, what: str) -> bool:
    """Whether ``tool`` is not on PATH (then says that ``what`` is needed)."""
    if shutil.which(tool) is None:
        log(f"needs {what}")
        return True
    return False


# -- timing ------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run: wall seconds, and peak RSS (KiB) when measured."""

    seconds: float
    rss_kib: int | None = None


@dataclass
class Row:
    """One benchmarked command (``key`` names it across variants)."""

    key: str
    argv: list[str]
    compared: bool = True  # part of the requirement (vs. for information)
    variant: str = ""
    sink: str | None = None  # stdout to this file (truncated each run), else /dev/null
    seconds_of: Callable[[bytes], float] | None = None  # time from the command's own output
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    output: bytes = b""  # stdout of the last run, when seconds_of is set
    #: Called after each run, untimed: waits for what the command left running in the
    #: background (storagekit's cache writer), so that it does not slow the next command.
    settle: Callable[[], None] | None = None

    @property
    def label(self) -> str:
        return f"{self.key} [{self.variant}]" if self.variant else self.key

    @property
    def times(self) -> list[float]:
        return [r.seconds for r in self.runs]

    @property
    def best(self) -> float | None:
        return min(self.times) if self.runs else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.runs else None

    @property
    def rss_kib(self) -> int | None:
        known = [r.rss_kib for r in self.runs if r.rss_kib is not None]
        return max(known) if known else None


def run_once(
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    *,
    sink: str | None = None,
    capture: bool = False,
    rss_dir: Path | None = None,
) -> tuple[Run, bytes]:
    """Run ``argv`` with stdout to ``sink``, captured, or /dev/null; returns (run, stdout).

    With ``rss_dir`` the run is wrapped in ``/usr/bin/time -f %M`` (else ``getrusage``) for its
    peak RSS.
    """
    wrapped = list(argv)
    use_time = rss_dir is not None and os.access(GNU_TIME, os.X_OK)
    rss_file = (rss_dir or Path(tempfile.gettempdir())) / "rss.txt"
    if use_time:
        wrapped = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
    with contextlib.ExitStack() as stack:
        out: Any = (
            subprocess.PIPE if capture else stack.enter_context(open(sink or os.devnull, "wb"))
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        began = time.perf_counter()
        proc = subprocess.run(
            wrapped, stdout=out, stderr=subprocess.PIPE, env=env, check=False, cwd=NEUTRAL
        )
        elapsed = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise CommandFailed(f"{' '.join(argv)} exited {proc.returncode}: " + " | ".join(tail))
    rss = None
    if use_time:
        rss = int(rss_file.read_text().split()[-1])
    elif rss_dir is not None:  # the children's maximum only tells when this run raised it
        rss = after if after > before else -1
    return Run(elapsed, rss), proc.stdout or b""


def _run_row(row: Row, env: dict[str, str] | None, rss_dir: Path | None) -> Run:
    run, out = run_once(
        row.argv, env, sink=row.sink, capture=row.seconds_of is not None, rss_dir=rss_dir
    )
    if row.seconds_of is not None:
        row.output = out
        run.seconds = row.seconds_of(out)
    return run


def interleave(
    rows: Sequence[Row],
    runs: int,
    env: dict[str, str] | None = None,
    *,
    rss_dir: Path | None = None,
    required: Row | None = None,
) -> None:
    """Warm up every command once, then ``runs`` rounds over all of them (round robin).

    A failing command is recorded in its row and left out of later rounds; only ``required``
    (the reference tool) failing raises :class:`CommandFailed`.
    """
    for row in rows:
        try:
            _run_row(row, env, rss_dir)  # warm-up (page cache, bytecode)
        except CommandFailed as exc:
            if row is required:
                raise
            row.error = str(exc)
        if row.settle is not None:
            row.settle()
    for _ in range(runs):
        for row in rows:
            if row.error:
                continue
            try:
                row.runs.append(_run_row(row, env, rss_dir))
            except CommandFailed as exc:
                row.error = str(exc)
            if row.settle is not None:
                row.settle()


def per_variant(make: Callable[[Variant], list[Row]], chosen: Sequence[Variant]) -> list[Row]:
    """Each variant's rows, command by command (so both variants of a command run side by
    side in every round); rows are tagged with the variant's name when there are several."""
    made = [make(v) for v in chosen]
    for v, rows in zip(chosen, made, strict=True):
        for row in rows:
            row.variant = v.name if len(chosen) > 1 else ""
    return [row for group in zip(*made, strict=True) for row in group]


# -- reports -----------------------------------------------------------------------------------


def fmt(seconds: float | None, width: int = 8, digits: int = 3) -> str:
    return f"{'error':>{width}}" if seconds is None else f"{seconds:>{width}.{digits}f}"


def compare_table(rows: Sequence[Row], chosen: Sequence[Variant]) -> str:
    """Now against REV, command by command: best and median, and their ratios (now / REV)."""
    if len(chosen) < 2:
        return ""
    now, rev = chosen[0].name, chosen[1].name
    head = (
        f"{'command':<34} {'best now':>9} {'best ' + rev:>14} {'ratio':>6} "
        f"{'median now':>11} {'median ' + rev:>16} {'ratio':>6}"
    )
    lines = [f"now (this checkout) against {rev}; ratio = now / {rev}", head, "-" * len(head)]
    keys = list(dict.fromkeys(r.key for r in rows if r.variant))
    for key in keys:
        a = next(r for r in rows if r.key == key and r.variant == now)
        b = next(r for r in rows if r.key == key and r.variant == rev)
        rb = a.best / b.best if a.best and b.best else None
        rm = a.median / b.median if a.median and b.median else None
        lines.append(
            f"{key:<34} {fmt(a.best, 9)} {fmt(b.best, 14)} {fmt(rb, 6, 2)} "
            f"{fmt(a.median, 11)} {fmt(b.median, 16)} {fmt(rm, 6, 2)}"
        )
    return "\n".join(lines)


def compare_figures(rows: Sequence[Row], chosen: Sequence[Variant]) -> dict[str, Any] | None:
    """The comparison as JSON: per command, both variants' best and median and the ratios."""
    if len(chosen) < 2:
        return None
    now, rev = chosen[0].name, chosen[1].name
    out: dict[str, Any] = {"now": now, "rev": rev, "commands": {}}
    for key in dict.fromkeys(r.key for r in rows if r.variant):
        a = next(r for r in rows if r.key == key and r.variant == now)
        b = next(r for r in rows if r.key == key and r.variant == rev)
        out["commands"][key] = {
            "best": [a.best, b.best],
            "median": [a.median, b.median],
            "ratio_best": a.best / b.best if a.best and b.best else None,
            "ratio_median": a.median / b.median if a.median and b.median else None,
        }
    return out


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_after": list(os.getloadavg()),
    }


# -- work directories --------------------------------------------------------------------------


def default_temp_parent() -> str | None:
    """/dev/shm when writable (tmpfs: generation takes seconds, not the disk's minutes)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


@contextlib.contextmanager
def workdir(
    given: Path | None,
    prefix: str,
    *,
    keep: bool,
    made: Sequence[str] = ("*",),
    parent: str | None = None,
) -> Iterator[Path]:
    """``given`` or a new temporary directory (in /dev/shm when writable). On exit, unless
    ``keep``: a temporary directory is removed, and in a given one what matches ``made``."""
    path = given or Path(tempfile.mkdtemp(prefix=prefix, dir=parent or default_temp_parent()))
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        elif given is None:
            shutil.rmtree(path, ignore_errors=True)
        else:
            for pattern in made:
                for p in path.glob(pattern):
                    shutil.rmtree(p, ignore_errors=True)
