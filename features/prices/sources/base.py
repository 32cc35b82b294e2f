"""Shared pieces of the price sources: errors, range filtering, fetch results (dates: :mod:`features.dates`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import dates
from features.frame import canonicalize, validate_prices

# Corporate actions as sources report them, one row per (ticker, date) with an event:
# ``dividend`` in the price's currency per share (0.0 = none), ``split_ratio`` new shares per
# old share (2.0 for a 2:1 split, 0.5 for a 1:2 reverse split; 1.0 = none).
EVENT_COLUMNS: tuple[str, ...] = ("date", "ticker", "dividend", "split_ratio")

# Regular-session close by exchange time zone, for when the source does not say: 16:00 in New
# York. Anywhere else the day counts as open until local midnight (never take a bar too early).
KNOWN_CLOSE: dict[str, dt.time] = {"America/New_York": dt.time(16, 0)}


class SourceError(RuntimeError):
    """A source could not return prices; the message names the source."""


class SourceUnavailableError(SourceError):
    """The source cannot be reached at all (e.g. no network); nothing was written."""


def select(
    frame: pd.DataFrame,
    tickers: list[str] | None,
    start: dates.DateLike | None,
    end: dates.DateLike | None,
    *,
    name: str,
    validate: bool = True,
) -> pd.DataFrame:
    """Canonicalise, validate and cut ``frame`` to tickers and an inclusive date range.

    ``validate=False`` (user files) leaves row-level checks to :func:`features.prices.update.update_store`,
    which rejects bad rows one by one and reports them instead of failing the whole ticker.

    Raises:
        SourceError: when a requested ticker is not in the frame.
    """
    lo, hi = dates.parse_date(start, name="start"), dates.parse_date(end, name="end")
    dates.check_range(lo, hi)
    out = canonicalize(frame)
    if validate:
        validate_prices(out, name=name)
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


def still_forming(
    index: pd.DatetimeIndex,
    *,
    now: dt.datetime,
    session_end: pd.Timestamp | None = None,
    grace: pd.Timedelta | None = None,
) -> np.ndarray:
    """Which daily bars are not final yet at ``now``: the rule for dropping today's bar.

    A bar dated after the exchange's today is never final; one dated today is final from
    ``grace`` after the regular session's end: ``session_end`` when it falls on today, else the
    close in :data:`KNOWN_CLOSE` for the time zone, else local midnight (conservative).

    Args:
        index: Bar dates as midnight in the exchange's time zone (tz-aware), as yfinance gives.
        now: The current time, time-zone aware.
        session_end: The end of the current regular session, if the source reports it.
        grace: How long after the close a bar still counts as forming (late prints, auction);
            None = none.

    Returns:
        Boolean array, True for a bar to leave out.

    Raises:
        ValueError: for a naive ``now`` or ``index``, naming it.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must return a time-zone aware datetime, got now()={now!r}")
    if index.tz is None:
        raise ValueError(f"index must be time-zone aware (the exchange's), got tz=None for {index[:3]!r}")
    local_now = pd.Timestamp(now).tz_convert(index.tz)
    today = local_now.normalize()
    close = today + pd.Timedelta(days=1)
    known = KNOWN_CLOSE.get(str(index.tz))
    if known is not None:
        close = today + pd.Timedelta(hours=known.hour, minutes=known.minute)
    if session_end is not None and session_end.tz_convert(index.tz).normalize() == today:
        close = session_end.tz_convert(index.tz)
    days = index.normalize()
    final_from = close + (grace if grace is not None else pd.Timedelta(0))
    return np.asarray((days > today) | ((days == today) & (local_now < final_from)), dtype=bool)


def empty_events() -> pd.DataFrame:
    """An events frame (:data:`EVENT_COLUMNS`) with no rows and the right dtypes."""
    return canonical_events(pd.DataFrame({c: [] for c in EVENT_COLUMNS}))


def canonical_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Events with canonical columns and dtypes, sorted by ``(ticker, date)``, one row per key.

    A missing ``dividend`` becomes 0.0 and a missing or zero ``split_ratio`` 1.0 (no split);
    rows with neither a dividend nor a split are dropped. Of duplicate keys the last wins.
    """
    out = frame.copy()
    for col, default in (("dividend", 0.0), ("split_ratio", 1.0)):
        if col not in out.columns:
            out[col] = default
    out = out.loc[:, list(EVENT_COLUMNS)]
    out["date"] = pd.to_datetime(out["date"]).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    out["ticker"] = out["ticker"].astype(str)
    out["dividend"] = pd.to_numeric(out["dividend"], errors="coerce").fillna(0.0).astype("float64")
    ratio = pd.to_numeric(out["split_ratio"], errors="coerce").astype("float64")
    out["split_ratio"] = ratio.where(ratio.notna() & (ratio != 0.0), 1.0)
    out = out[(out["dividend"] != 0.0) | (out["split_ratio"] != 1.0)]
    out = out.drop_duplicates(["ticker", "date"], keep="last")
    return out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class FetchResult:
    """What a source returned for a request, good tickers and failed ones apart.

    Attributes:
        prices: Canonical columns and dtypes (:func:`features.frame.canonicalize`), sorted, but
            **not validated**: rows may break the contract; :mod:`features.prices.validation` decides.
        events: Dividends and splits (:data:`EVENT_COLUMNS`) in the fetched range, or None when
            the source does not report corporate actions at all (sample, synthetic, dir).
        failures: Ticker -> why it has no prices (unknown symbol, rate limit, not tried...).
    """

    prices: pd.DataFrame
    events: pd.DataFrame | None = None
    failures: Mapping[str, str] = field(default_factory=dict)
