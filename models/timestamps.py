"""The range of timestamps cityeye accepts from outside: years 1970 to 2999 once in UTC.

Python's datetime spans years 1 to 9999, but converting `0001-01-01T00:00:00+14:00` to UTC, or adding a window
to `9999-12-31`, overflows; databases hold narrower ranges still. Every timestamp that comes from a request, a
cursor or a file is checked here first, so it is a clear error, never an `OverflowError` deeper down.
"""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def checked_utc(value: datetime) -> datetime:
    """`value` in UTC (naive = UTC); ValueError when it is outside [1970-01-01, 3000-01-01) UTC."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None or value.utcoffset() is None else value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"timestamp {value.isoformat()} is out of range: it must be in 1970-01-01 .. 2999-12-31 UTC")
    return utc


def checked(value: datetime) -> datetime:
    """`value` unchanged (its zone kept) once `checked_utc` accepts it: for pydantic validators."""
    checked_utc(value)
    return value
