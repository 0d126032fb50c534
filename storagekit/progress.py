"""A progress bar on stderr for long scans — only when stderr is a terminal.

Scripts and pipes never see it: output stays byte-for-byte the same whatever the terminal.
Updates are throttled to ten a second, so a bar costs nothing measurable on a fast scan.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
INTERVAL = 0.1


class Progress:
    """``label [#####.....] 42%`` (or ``label 12345`` without a total), redrawn in place."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0.0
        self._last = 0.0
        self._drawn = False

    def advance(self, n: float = 1) -> None:
        """Count ``n`` more items done."""
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= INTERVAL:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * WIDTH)
            text = f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {int(share * 100)}%"
        else:
            text = f"{self.label} {int(self.done)}"
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the bar."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
