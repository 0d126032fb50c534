"""A container's log as its engine's ``logs`` command prints it: entries, selection, output.

An engine reads its log files into :class:`LogEntry` objects (the bytes exactly as its
``logs`` command writes them, newline included, and the time the engine recorded);
:func:`select` applies ``--tail``, ``--since``, ``--until`` and the stream choice the way
moby's log readers do (the last N entries first, then the time window), and
:func:`render_entry` adds the ``--timestamps`` prefix (RFC 3339 with nine fraction digits).

References: moby v20.10 ``daemon/logs.go``, ``daemon/logger/loggerutils/logfile.go``
(``tailFiles``, ``followLogs``), ``api/types/backend`` ``ContainerLogsOptions``,
``pkg/jsonmessage`` ``RFC3339NanoFixed``; docker/cli ``opts.ParseTimestamps``.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from storagekit.timefmt import from_ns


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One message of a container's log.

    Attributes:
        stream: ``stdout`` or ``stderr``.
        time_ns: when the engine received it, in nanoseconds since the epoch.
        data: the bytes the engine's ``logs`` prints for it (a complete line ends in a newline;
            a partial message does not).
    """

    stream: str
    time_ns: int
    data: bytes


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})"
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
_UNITS["h"] = 3600 * 10**9


def parse_rfc3339_ns(text: str) -> int | None:
    """An RFC 3339 timestamp in nanoseconds since the epoch (``None`` if it is not one)."""
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        when = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    seconds = int(when.timestamp())
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int((frac or "0")[:9].ljust(9, "0"))
    return seconds * 10**9 + nanos


def parse_time(text: str, now_ns: int | None = None) -> int:
    """``--since`` / ``--until``: RFC 3339 (a date alone too), Unix seconds, or a duration ago.

    Raises:
        ValueError: none of these.
    """
    value = text.strip()
    found = parse_rfc3339_ns(value)
    if found is not None:
        return found
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        found = parse_rfc3339_ns(value + "T00:00:00Z")
        assert found is not None
        return found
    if re.fullmatch(r"\d+(\.\d{1,9})?", value):
        whole, _, frac = value.partition(".")
        return int(whole) * 10**9 + int(frac.ljust(9, "0") or 0)
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        ago = sum(int(float(n) * _UNITS[u]) for n, u in parts)
        return (now_ns if now_ns is not None else time.time_ns()) - ago
    raise ValueError(f"{text!r} is not a timestamp, Unix time or duration")


def select(
    entries: Iterable[LogEntry],
    *,
    streams: tuple[str, ...] = ("stdout", "stderr"),
    since_ns: int | None = None,
    until_ns: int | None = None,
    tail: int | None = None,
) -> Iterator[LogEntry]:
    """The entries ``logs`` prints: the last ``tail`` ones, then those inside the window.

    As moby does, ``--tail`` counts entries of the chosen streams before the time window
    applies; ``--since`` keeps entries not before it, ``--until`` those not after it.
    """
    chosen: Iterator[LogEntry] = (e for e in entries if e.stream in streams)
    if tail is not None and tail >= 0:
        chosen = iter(deque(chosen, maxlen=tail)) if tail else iter(())
    for entry in chosen:
        if since_ns is not None and entry.time_ns < since_ns:
            continue
        if until_ns is not None and entry.time_ns > until_ns:
            continue
        yield entry


def render_entry(entry: LogEntry, *, timestamps: bool) -> bytes:
    """The bytes ``logs`` writes for one entry (``--timestamps``: with its time first)."""
    if not timestamps:
        return entry.data
    return from_ns(entry.time_ns).encode() + b" " + entry.data
