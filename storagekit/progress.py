"""Progress on a terminal: one reporter per command, its steps counted in bytes, handed over.

A command on real evidence reads gigabytes: an archive indexed, layers hashed, a tree copied.
Each long step says on stderr what it does and how far it is, by bytes (``verifying layers
[#####.....]  45%  412MB / 916MB  180MB/s``), and by items where no file data is read
(``listing  45,120 entries``, ``reading containers  [##...]  812/1,000``); a step without a
known total shows the amount and the rate. When one step ends the next takes the line over, so a
command never sits at "100%" while it goes on.

How to report a long step (for instance indexing an archive)::

    from storagekit import progress

    with progress.step("indexing the archive", total=archive_size) as bar:  # bytes
        for block in blocks:
            bar.advance(len(block))

:func:`step` opens a step of the command's reporter (:func:`current`); steps nest, the inner one
shows. Helpers deep in a walk that do not hold the bar call :func:`advance` (bytes, counted by
any step) or :func:`count` (items of a kind, counted only by a step of that ``noun``: a walk
counting ``entries`` moves ``ls -R``'s bar, not the containers of ``containers -s``). All of it
is cheap: an integer added to; nothing is formatted or written there.

Drawing is driven by a timer (``SIGALRM`` from ``ITIMER_REAL``), so a step that blocks reading a
pipe or a slow disk still shows, and the counting code never looks at a clock. The first draw
comes :data:`DELAY` seconds after :func:`start` (``STORAGEKIT_PROGRESS_DELAY``; ``0`` draws each
step as it starts, which the tests use), so quick commands never flash a bar; then at most every
:data:`INTERVAL` seconds, and only when the text changed. Lines are ``CR text ESC[K`` and are
erased with ``CR ESC[K``.

Never on stderr when it is not a terminal (or ``TERM=dumb``): then :func:`start` sets nothing
up, and :func:`step` returns a bar that counts nothing. Output is never garbled: the command
line calls :func:`finish` (erase, draw no more) before its results, findings and messages, and
:func:`before_output` and :func:`after_output` around each piece of a streamed listing, which
erase the bar and hold it back while rows flow when stdout is the same terminal.

Forked workers (:mod:`storagekit.parallel`, :mod:`storagekit.union.forkstream`) count into the
step that was current when they forked: the parent calls :func:`workers` before forking, each
child :meth:`Team.enter` right after, and the parent :meth:`Team.close` once they are reaped.
Each worker publishes its counts into its own slot of an anonymous shared mapping (on its own
timer, and when it is done), and the parent shows its own counts plus theirs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import IO, Any, TypeVar, cast

from storagekit.progresscount import NO_BAR, NO_TEAM
from storagekit.progresscount import Bar as Bar  # what step() returns
from storagekit.progresscount import Team as Team  # what forking callers hold
from storagekit.termtext import display, human_size

#: Seconds before the first draw (``STORAGEKIT_PROGRESS_DELAY`` overrides it).
DELAY = 0.5
#: Seconds between draws.
INTERVAL = 0.1
WIDTH = 24
_ERASE = b"\r\x1b[K"


class Reporter:
    """The progress of one command run on the terminal ``fd``; :func:`start` makes it."""

    def __init__(self, command: str, fd: int | None, delay: float = DELAY) -> None:
        self.command = command
        self.fd = fd
        self.delay = delay
        self.stack: list[Bar] = []
        self.top: Bar = NO_BAR
        self.started = time.monotonic()
        self.quiet_until = 0.0
        self.drawn = False
        self.finished = fd is None
        self.shares_stdout = False
        self._last = ""
        self._pid = os.getpid()
        self._team: Team | None = None

    def step(
        self, label: str, total: int | None = None, items: int | None = None, noun: str = ""
    ) -> Bar:
        """A new step, shown from now until it ends (an inner one over an outer one)."""
        if self.fd is None:
            return NO_BAR
        if self._team is not None:  # a worker counts everything into its parent's step
            return self._team.bar
        bar = Bar(self, label, total or None, noun, items)
        self.stack.append(bar)
        self.top = bar
        if self.delay == 0:
            self.tick()
        return bar

    def end(self, bar: Bar) -> None:
        """The step ``bar`` is over; the one below it (if any) shows again."""
        if self._team is not None or bar not in self.stack:
            return
        self.stack.remove(bar)
        self.top = self.stack[-1] if self.stack else NO_BAR

    def workers(self, n: int) -> Team:
        """Slots for ``n`` workers about to fork, counting into the current step."""
        if self.fd is None or self._team is not None or self.top is NO_BAR:
            return NO_TEAM
        team = Team(self.top, n, self.as_worker)
        self.top.team = team
        return team

    def as_worker(self, team: Team) -> None:
        """This process is a forked worker of ``team``: publish counts, never draw."""
        self._team = team
        self._pid = os.getpid()
        self.finished = True
        self.drawn = False
        _arm(INTERVAL)

    def tick(self) -> None:
        """Draw the current step (the timer calls it); in a worker, publish its counts."""
        if self._team is not None:
            self._team.publish()
            return
        now = time.monotonic()
        if self.finished or os.getpid() != self._pid or now < self.quiet_until:
            return
        text = self.text(now)
        if text == self._last and self.drawn:
            return
        self._last = text
        self._write(b"\r" + text.encode("utf-8", "replace") + b"\x1b[K")
        self.drawn = True

    def text(self, now: float) -> str:
        """The line for the current step (or, between steps, that the command is working)."""
        bar = self.top
        if bar is NO_BAR:
            return f"{self.command}: working  {int(now - self.started)} s"
        done, items = bar.counts()
        parts = [display(bar.label)]
        share = None
        if bar.total:
            share = done / bar.total
        elif bar.items_total:
            share = items / bar.items_total
        if share is not None:
            share = min(share, 1.0)
            filled = int(share * WIDTH)
            parts.append(f"[{'#' * filled}{'.' * (WIDTH - filled)}] {int(share * 100):3d}%")
        if done or bar.total:
            parts.append(human_size(done) + (f" / {human_size(bar.total)}" if bar.total else ""))
            elapsed = now - bar.started
            if done and elapsed >= INTERVAL:
                parts.append(f"{human_size(int(done / elapsed))}/s")
        if items or bar.items_total or bar.noun:
            whole = f"/{bar.items_total:,}" if bar.items_total else ""
            parts.append(f"{items:,}{whole} {bar.noun}".rstrip())
        return "  ".join(parts)[: self._columns() - 1]

    def _columns(self) -> int:
        assert self.fd is not None
        try:
            columns = os.get_terminal_size(self.fd).columns
        except OSError:
            columns = 0
        return columns or 80  # a terminal that does not say its width

    def erase(self) -> None:
        """Take the bar off the line (it is drawn again at the next tick)."""
        if self.drawn:
            self.drawn = False
            self._write(_ERASE)

    def _write(self, data: bytes) -> None:
        assert self.fd is not None
        try:
            os.write(self.fd, data)
        except OSError:  # the terminal went away: stop drawing
            self.finished = True

    def finish(self) -> None:
        """Erase the bar and draw no more (results or messages follow)."""
        if self.fd is None or self._team is not None:
            return
        self.finished = True
        self.erase()


_reporter = Reporter("", None)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    _reporter.tick()


def _arm(first: float) -> None:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(first, 0.001), INTERVAL)


def _delay() -> float:
    try:
        return max(0.0, float(os.environ.get("STORAGEKIT_PROGRESS_DELAY", DELAY)))
    except ValueError:
        return DELAY


def start(command: str, stream: IO[Any] | None = None) -> Reporter:
    """Begin the progress of a command run; a no-op reporter unless ``stream`` is a terminal.

    ``stream`` defaults to stderr. The timer needs the main thread: elsewhere nothing is drawn.
    """
    global _reporter
    stop()
    out = sys.stderr if stream is None else stream
    fd = None
    try:
        if out.isatty() and os.environ.get("TERM") != "dumb":
            fd = out.fileno()
    except (AttributeError, ValueError, OSError):
        fd = None
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        fd = None
    _reporter = Reporter(command, fd, _delay())
    if fd is not None:
        try:
            _reporter.shares_stdout = sys.stdout.isatty()
        except (AttributeError, ValueError):
            _reporter.shares_stdout = False
        _arm(_reporter.delay)
    return _reporter


def stop() -> None:
    """End the command's progress: erase the bar, stop the timer."""
    global _reporter
    if _reporter.fd is not None and _reporter._team is None:
        _reporter.finish()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    _reporter = Reporter("", None)


def current() -> Reporter:
    """The reporter of the command running now (one that draws nothing if there is none)."""
    return _reporter


def step(label: str, total: int | None = None, items: int | None = None, noun: str = "") -> Bar:
    """A new step of the current command: ``total`` bytes, ``items`` (of kind ``noun``) to do.

    Either total may be unknown (``None``); the step then shows what is done and the rate.
    """
    return _reporter.step(label, total, items, noun)


def advance(n: int) -> None:
    """Count ``n`` bytes into the current step."""
    _reporter.top.advance(n)


def item(n: int = 1) -> None:
    """Count ``n`` items into the current step, whatever it counts."""
    _reporter.top.item(n)


def count(noun: str, n: int) -> None:
    """Count ``n`` items of kind ``noun`` into the current step, if it counts those."""
    _reporter.top.count(noun, n)


def workers(n: int) -> Team:
    """Slots for ``n`` forked workers to count into the current step (see the module doc)."""
    return _reporter.workers(n)


def clear() -> None:
    """Erase the bar before a message on stderr; it is drawn again, below it, at the next tick."""
    _reporter.erase()


def finish() -> None:
    """Erase the bar and draw no more: the command's results or messages come now."""
    _reporter.finish()


def before_output() -> None:
    """Before writing a piece of a streamed listing to stdout.

    When stdout is the terminal the bar is on, the bar is erased and held back until output
    has paused for :data:`DELAY`: it is drawn only between writes, never over a row.
    """
    reporter = _reporter
    if reporter.shares_stdout:
        reporter.quiet_until = float("inf")  # first: a tick between the two must not draw
        reporter.erase()


def shares_stdout() -> bool:
    """Whether the bar is on the terminal stdout writes to."""
    return _reporter.shares_stdout


def after_output() -> None:
    """After writing a piece of a streamed listing: the bar may come back once output pauses."""
    reporter = _reporter
    if reporter.shares_stdout:
        reporter.quiet_until = time.monotonic() + max(reporter.delay, INTERVAL)


class _Counted:
    """A binary stream whose writes count as bytes done in the current step."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, data: bytes) -> int:
        _reporter.top.advance(len(data))
        return self._out.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


Out = TypeVar("Out", bound=IO[bytes])


def counted(out: Out) -> Out:
    """``out``, its writes counted as bytes done (``out`` itself when nothing is drawn)."""
    if _reporter.fd is None:
        return out
    return cast(Out, _Counted(out))
