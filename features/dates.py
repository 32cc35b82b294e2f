"""Date arguments: parsing and the checks every entry point makes (sources, store, reports, flows, CLI).

A neutral leaf module: it imports nothing from ``features``, so every package may use it.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeAlias

import pandas as pd

DateLike: TypeAlias = str | dt.date | pd.Timestamp


def parse_date(value: DateLike | None, *, name: str) -> pd.Timestamp | None:
    """Parse a date argument; ``None`` passes through.

    Raises:
        ValueError: naming the argument and echoing the value when it cannot be parsed.
    """
    if value is None or value == "":
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a date like 2020-01-31, got {name}={value!r}") from exc
    if ts is pd.NaT:
        raise ValueError(f"{name} must be a date like 2020-01-31, got {name}={value!r}")
    return ts.tz_localize(None).normalize() if ts.tzinfo else ts.normalize()


def check_range(start: pd.Timestamp | None, end: pd.Timestamp | None) -> None:
    """Raise ``ValueError`` if ``start`` is after ``end``."""
    if start is not None and end is not None and start > end:
        raise ValueError(f"start must not be after end, got start={start:%Y-%m-%d} end={end:%Y-%m-%d}")


def check_not_future(value: pd.Timestamp | None, *, name: str, today: dt.date) -> None:
    """Raise ``ValueError`` if ``value`` is after ``today``, naming the argument and both dates."""
    if value is not None and value.date() > today:
        raise ValueError(f"{name} must not be in the future (today is {today:%Y-%m-%d}), got {name}={value:%Y-%m-%d}")
