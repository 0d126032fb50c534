"""The progress bar appears only on a terminal and is erased when done."""

from __future__ import annotations

import io

from storagekit import progress
from storagekit.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0)
    out = Terminal()
    with Progress("scanning", 4, stream=out) as bar:
        bar.advance()
        bar.advance(3)
    text = out.getvalue()
    assert "\rscanning [#######.......................] 25%\x1b[K" in text
    assert "\rscanning [##############################] 100%\x1b[K" in text
    assert text.endswith("\r\x1b[K")


def test_progress_is_silent_off_a_terminal():
    out = io.StringIO()
    with Progress("scanning", 4, stream=out) as bar:
        bar.advance(4)
    assert out.getvalue() == ""


def test_counter_without_total(monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0)
    out = Terminal()
    bar = Progress("entries", stream=out)
    bar.advance(7)
    assert out.getvalue() == "\rentries 7\x1b[K"
