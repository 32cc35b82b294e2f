"""Universes: which tickers a backtest may hold on each date, read from a CSV of memberships.

A universe file is a CSV with a ``ticker`` column and, optionally, ``start`` and ``end`` columns:
the first and last date (inclusive, ``YYYY-MM-DD``) on which the ticker was a member. An empty
``start`` means "member since before the data", an empty ``end`` "still a member". A ticker may
appear on several rows (it left and joined again)::

    ticker,start,end
    AAPL,,
    ENRN,1995-01-03,2001-11-30

The membership mask (:meth:`Universe.mask`) says, row by row, whether a price row's ticker was a
member on that row's date. :func:`features.dataset.build_panel` applies it: a row outside
membership is no sample, carries no label and is left out of every cross-section (the
``cross_section`` labels, ``cs_norm``, and so the portfolios and the equal-weight universe built
from the predictions). Its features are still computed, so a member's first windows may read its
history from before it joined: that is not look-ahead (the history is in the past of the date).

**Survivorship**: a universe without membership dates is usually today's members, chosen with
hindsight; :func:`survivorship_warning` says so for the report.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

SURVIVOR_SOURCES = ("sample:sp500",)
"""Sources whose tickers are today's survivors (``sample:sp500``: 20 stocks of the S&P 500 in 2022)."""


class Membership(BaseModel):
    """One span of a ticker's membership, dates inclusive (None = open on that side)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticker: str = Field(min_length=1)
    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Membership:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end must be on or after start, got start={self.start}, end={self.end}")
        return self


class Universe(BaseModel):
    """The tickers of a backtest and when each was a member (see the module docstring).

    Attributes:
        members: membership spans, in the file's order.
        name: where it came from (the file name), for messages and the report.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    members: tuple[Membership, ...] = Field(min_length=1)
    name: str = ""

    @property
    def tickers(self) -> tuple[str, ...]:
        """Distinct tickers, in the order they first appear."""
        return tuple(dict.fromkeys(m.ticker for m in self.members))

    @property
    def dated(self) -> bool:
        """Whether any membership has a start or end date (False: a plain ticker list)."""
        return any(m.start is not None or m.end is not None for m in self.members)

    def mask(self, tickers: np.ndarray, dates: np.ndarray) -> np.ndarray:
        """Whether each row's ticker was a member on the row's date.

        Args:
            tickers: (n_rows,) ticker symbols.
            dates: (n_rows,) datetime64 dates.

        Returns:
            bool array (n_rows,); False for tickers not in the universe.
        """
        tick = np.asarray(tickers).astype(str)
        day = np.asarray(dates).astype("datetime64[D]")
        out = np.zeros(len(tick), dtype=bool)
        for m in self.members:
            span = tick == m.ticker
            if m.start is not None:
                span &= day >= np.datetime64(m.start, "D")
            if m.end is not None:
                span &= day <= np.datetime64(m.end, "D")
            out |= span
        return out


def load_universe(path: str | Path) -> Universe:
    """Read and check a universe CSV (``ticker`` and optional ``start``, ``end`` columns).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file (and the row, counted as in a spreadsheet with the header as row 1)
            for a missing ``ticker`` column, an unknown column, an empty ticker, a date that does not
            parse, an end before its start, or overlapping spans of one ticker.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"universe file {str(path)!r} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"universe file {str(path)!r} is not a readable CSV: {exc}") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "ticker" not in frame.columns:
        raise ValueError(f"universe file {str(path)!r} needs a 'ticker' column, got columns {list(frame.columns)}")
    unknown = sorted(set(frame.columns) - {"ticker", "start", "end"})
    if unknown:
        raise ValueError(f"universe file {str(path)!r} has unknown columns {unknown}; allowed: ticker, start, end")
    if frame.empty:
        raise ValueError(f"universe file {str(path)!r} lists no tickers")
    members = [_row(path, i + 2, row) for i, row in enumerate(frame.to_dict("records"))]
    _check_overlaps(path, members)
    return Universe(members=tuple(members), name=path.name)


def _row(path: Path, line: int, row: dict[str, str]) -> Membership:
    where = f"universe file {str(path)!r} row {line}"
    ticker = row["ticker"].strip().upper()
    if not ticker:
        raise ValueError(f"{where}: empty ticker")
    dates: dict[str, dt.date | None] = {}
    for col in ("start", "end"):
        text = (row.get(col) or "").strip()
        try:
            dates[col] = dt.date.fromisoformat(text) if text else None
        except ValueError:
            raise ValueError(f"{where}: {col} must be a date like 2020-01-31, got {text!r}") from None
    try:
        return Membership(ticker=ticker, **dates)
    except ValueError as exc:
        start, end = dates["start"], dates["end"]
        raise ValueError(f"{where}: end must be on or after start, got start={start}, end={end}") from exc


def _check_overlaps(path: Path, members: list[Membership]) -> None:
    lo, hi = dt.date.min, dt.date.max
    for ticker in dict.fromkeys(m.ticker for m in members):
        spans = sorted((m.start or lo, m.end or hi) for m in members if m.ticker == ticker)
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start <= end:
                raise ValueError(f"universe file {str(path)!r}: {ticker}'s membership spans overlap ({start} <= {end})")


def survivorship_warning(universe: Universe | None, *, source: str) -> str | None:
    """The report's warning when the tickers were likely chosen with hindsight, else None.

    Warns for a universe file without membership dates and for a survivor-only source
    (:data:`SURVIVOR_SOURCES`) unless a dated universe restricts it.
    """
    if universe is not None and universe.dated:
        return None
    if universe is not None:
        return (
            f"Survivorship bias: the universe {universe.name or 'file'} has no membership dates, so every ticker "
            "counts as a member on every date; if it lists today's members, the results flatter the model "
            "(failed and delisted companies are missing). Add start/end columns."
        )
    if source.strip().lower() in SURVIVOR_SOURCES:
        return (
            f"Survivorship bias: {source} holds 20 stocks that were in the S&P 500 in 2022 (today's survivors), "
            "over their whole history; companies that failed or left the index are missing, which flatters "
            "every result. Pass a --universe with membership dates on point-in-time data for a fair test."
        )
    return None
