"""Binary output is refused on a terminal (as docker export does), with a one-line hint, exit 2."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import SAMPLES

ROOT = str(SAMPLES / "overlay2-20.10" / "root.tar.xz")


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["cat", "sk-app:1.0", "/etc/passwd"], "> FILE"),
        (["extract", "sk-app:1.0", "--tar", "-"], "--tar FILE"),
        (["export", "sk-basec", "-o", "-"], "-o FILE"),
        (["save", "sk-app:1.0", "-o", "-"], "-o FILE"),
    ],
)
def test_binary_to_a_terminal_is_refused(args, hint, monkeypatch, run):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    r = run("-r", ROOT, *args)
    assert r.code == 2
    assert r.out == ""
    [line] = r.err.splitlines()
    assert line.startswith("storagekit: error: refusing to write ")
    assert line.endswith(" to a terminal; " + line.split(" to a terminal; ")[1])
    assert hint in line


def test_binary_to_a_pipe_is_written(capsysbinary):
    code = __import__("storagekit.cli.main", fromlist=["main"]).main(
        ["-r", ROOT, "save", "sk-app:1.0", "-o", "-"]
    )
    out = capsysbinary.readouterr().out
    assert code == 0
    assert len(out) > 10240
    assert len(out) % 512 == 0
