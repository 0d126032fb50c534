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
    except ValueError:
        return None
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        when -= sign * timedelta(hours=hours, minutes=minutes)
    if (
        when.year == 1
        and when.month == 1
        and when.day == 1
        and when.time().isoformat() == "00:00:00"
    ):
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + (frac or "") + "Z"


def from_ns(ns: int) -> str:
    """Nanoseconds since the epoch as RFC 3339 UTC with nanoseconds (file mtimes)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return f"{_second(seconds)}.{frac:09d}Z"


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    """Files of one layer share few distinct seconds: format each once."""
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S")
