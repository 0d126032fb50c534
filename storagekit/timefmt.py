"""Timestamps as Docker writes them, normalised to RFC 3339 UTC with the original precision.

Docker serialises Go ``time.Time`` with ``RFC3339Nano``: ``2026-11-28T01:07:40.757166685Z`` or,
for a local zone, ``2026-11-28T02:07:40.757166685+01:00``. Go's zero time
``0001-01-01T00:00:00Z`` means "never" and becomes ``None``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})")


_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def normalize(value: object) -> str | None:
    """Return ``value`` as an RFC 3339 UTC string keeping its fraction digits, or ``None``.

    ``None`` is returned for a missing value, Go's zero time, and anything that is not an RFC
    3339 timestamp.
    """
    if not isinstance(value, str):
        return None
    if _UTC.fullmatch(value) and not value.startswith("0001-01-01T00:00:00"):
        return value  # already UTC: keep it byte for byte
    m = _RFC3339.fullmatch(value.strip())
    if m is None:
        return None
    date, clock, frac, zone = m.groups()
    try:
        when = datetime.fromisoformat(f"{date}T{clock}+00:00")
        if zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            when -= sign * timedelta(hours=hours, minutes=minutes)
    except (ValueError, OverflowError):
        # Go's zero time written in a zone east of UTC (``0001-01-01T00:00:00+01:00``) is an
        # instant before year 1: not a time Docker ever records for something that happened.
        return None
    if (
        when.year == 1
        and when.month == 1
        and when.day == 1
        and when.time().isoformat() == "00:00:00"
    ):
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds")[:19] + (frac or "") + "Z"


def from_ns(ns: int) -> str:
    """Nanoseconds since the epoch as RFC 3339 UTC with nanoseconds (file mtimes)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return f"{_second(seconds)}.{frac:09d}Z"


def go_nano(seconds: int, nanos: int) -> str:
    """An instant as Go's ``RFC3339Nano`` prints it in UTC: trailing zeros of the fraction cut."""
    frac = f"{nanos:09d}".rstrip("0")
    return f"{_second(seconds)}.{frac}Z" if frac else f"{_second(seconds)}Z"


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    """``seconds`` since the epoch as Go prints the date and clock in UTC (no zone letter).

    Files of one layer share few distinct seconds: each is formatted once. The proleptic
    Gregorian date comes from integer arithmetic alone (:func:`_civil`), about four times
    cheaper than building a ``datetime``, and for every instant: a tar header can hold any time
    (base-256 fields, PAX ``mtime``). The year is printed as Go's ``time.Format`` prints it
    (``appendInt(b, year, 4)``): at least four digits, zero-padded after a ``-`` sign
    (``0201``, ``0000``, ``-0001-12-31T23:59:59``, ``292277026596-12-04T15:30:07``).
    """
    days, rest = divmod(seconds, 86400)
    year, month, day = _civil(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    if year < 0:
        return f"-{-year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _civil(days: int) -> tuple[int, int, int]:
    """Year, month, day of ``days`` since 1970-01-01 (H. Hinnant's ``civil_from_days``).

    Exact for any integer: Python's floor division makes the era arithmetic hold before
    year 0 too, where the C++ original needs its explicit adjustment.
    """
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def order_key(text: str | None) -> str:
    """A key that sorts RFC 3339 UTC times (``…:SS[.frac]Z``) by time, whatever their precision.

    Docker drops trailing zeros of the nanoseconds, so ``.123Z`` and ``.1234Z`` compare wrongly
    as strings; the fraction is padded to nine digits. ``None`` (absent) sorts first.
    """
    if not text:
        return ""
    body = text[:-1] if text.endswith("Z") else text
    head, _, frac = body.partition(".")
    return f"{head}.{frac.ljust(9, '0')}"
