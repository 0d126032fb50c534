"""timefmt's integer date arithmetic against Python's ``datetime`` and against Go's printed forms.

``_second`` builds no ``datetime``: its proleptic Gregorian dates are checked here against
``datetime`` on random instants spread over the whole of years 1–9999 (a fixed seed, so every
run checks the same instants), every day boundary of the leap-year corner cases, and beyond
that range against what Go's ``time.Format`` prints (``appendInt(b, year, 4)``: at least four
digits, zero-padded after the sign).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from storagekit.timefmt import _second, from_ns, go_nano

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_1 = -62135596800  # 0001-01-01T00:00:00Z
YEAR_10000 = 253402300800  # 10000-01-01T00:00:00Z


def _by_datetime(seconds: int, nanos: int) -> str:
    """Go's RFC3339Nano in UTC, the slow way."""
    text = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    year, rest = text.split("-", 1)
    frac = f"{nanos:09d}".rstrip("0")
    return f"{int(year):04d}-{rest}" + (f".{frac}" if frac else "") + "Z"


def test_random_instants_of_years_1_to_9999_equal_datetime() -> None:
    rng = random.Random(20261206)
    for _ in range(100_000):
        seconds = rng.randrange(YEAR_1, YEAR_10000)
        nanos = rng.choice((0, rng.randrange(1_000_000_000), rng.randrange(1000) * 1_000_000))
        _second.cache_clear()
        assert go_nano(seconds, nanos) == _by_datetime(seconds, nanos), seconds
        assert from_ns(seconds * 10**9 + nanos) == (
            _by_datetime(seconds, 0)[:19] + f".{nanos:09d}Z"
        )


@pytest.mark.parametrize(
    "year", [1, 4, 99, 100, 200, 399, 400, 401, 999, 1000, 1582, 1600, 1700, 1900, 1969, 1970,
             1972, 2000, 2038, 2100, 2400, 9996, 9999],
)
def test_every_day_of_corner_years_equals_datetime(year: int) -> None:
    """Each day of a year around the 4/100/400-year rules, at its first and last second."""
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        start = int((day - EPOCH).total_seconds())
        for seconds in (start, start + 86399):
            assert _second.__wrapped__(seconds) == _by_datetime(seconds, 0)[:19]
        if day.month == 12 and day.day == 31:
            break
        day += timedelta(days=1)


def test_outside_years_1_to_9999_as_go_prints_them() -> None:
    """Go: ``time.Unix(s, 0).UTC().Format(time.RFC3339Nano)`` (years signed, four digits)."""
    cases = {
        YEAR_1 - 1: "0000-12-31T23:59:59Z",
        YEAR_1 - 366 * 86400: "0000-01-01T00:00:00Z",  # year 0 is a leap year
        YEAR_1 - 366 * 86400 - 1: "-0001-12-31T23:59:59Z",
        YEAR_10000: "10000-01-01T00:00:00Z",
        2**63 - 1: "292277026596-12-04T15:30:07Z",
        -(2**63): "-292277022657-01-27T08:29:52Z",
    }
    for seconds, text in cases.items():
        assert go_nano(seconds, 0) == text
    assert go_nano(-(2**63), 500) == "-292277022657-01-27T08:29:52.0000005Z"
