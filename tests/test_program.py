"""The program itself (``main()`` without arguments): its collector and its exit.

Run as the program, ``main`` keeps the garbage collector off until the evidence is open,
freezes what opening made, and ends the process with ``os._exit`` once its output is flushed.
A call with arguments (tests, library use) does none of that.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storagekit.cli.main import main

ROOT = Path(__file__).resolve().parent.parent / "sample_roots" / "overlay2-20.10" / "root.tar.xz"

PROGRAM = """
import gc, sys
import storagekit.cli.common as common
import storagekit.cli.main as program
real = common.Context.engines
def engines(self):
    if self._engines is None:
        print("before open", gc.isenabled(), file=sys.stderr)
    return real(self)
common.Context.engines = engines
real_leave = program._leave
def leave(status):
    print("at exit", gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr)
    real_leave(status)
program._leave = leave
sys.argv = ["storagekit", *sys.argv[1:]]
sys.exit(program.main())
"""


def _program(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, timeout=120
    )


def test_the_program_prints_what_a_call_prints(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-r", str(ROOT), "--no-cache", "containers", "--format", "json"]
    status = main(args)
    called = capsys.readouterr().out
    run = _program(*args)
    assert (run.returncode, run.stdout) == (status, called)
    assert status == 0
    # The collector was off until the evidence was open, then on with what it made frozen.
    assert run.stderr.splitlines()[:2] == ["before open False", "at exit True True"]


def test_a_failing_program_says_one_line(tmp_path: Path) -> None:
    run = _program("-r", str(tmp_path / "nothing"), "containers")
    assert run.returncode == 1
    assert run.stdout == ""
    lines = [line for line in run.stderr.splitlines() if line.startswith("storagekit:")]
    assert len(lines) == 1
