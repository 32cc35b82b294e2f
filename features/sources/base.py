"""Shared pieces of the price sources: date handling, errors, range filtering."""

from __future__ import annotations

import datetime as dt
from typing import TypeAlias

import pandas as pd

from features.frame import canonicalize, validate_prices

DateLike: TypeAlias = str | dt.date | pd.Timestamp


class SourceError(RuntimeError):
    """A source could not return prices; the message names the source."""


class SourceUnavailableError(SourceError):
    """The source cannot be reached at all (e.g. no network); nothing was written."""


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


def select(
    frame: pd.DataFrame,
    tickers: list[str] | None,
    start: DateLike | None,
    end: DateLike | None,
    *,
    name: str,
) -> pd.DataFrame:
    """Canonicalise, validate and cut ``frame`` to tickers and an inclusive date range.

    Raises:
        SourceError: when a requested ticker is not in the frame.
    """
    lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
    check_range(lo, hi)
    out = validate_prices(canonicalize(frame), name=name)
    if tickers is not None:
        missing = sorted(set(tickers) - set(out["ticker"].unique()))
        if missing:
            have = sorted(out["ticker"].unique())
            raise SourceError(f"source {name!r} has no prices for {missing}; it has {have}")
        out = out[out["ticker"].isin(tickers)]
    if lo is not None:
        out = out[out["date"] >= lo]
    if hi is not None:
        out = out[out["date"] <= hi]
    return out.reset_index(drop=True)
