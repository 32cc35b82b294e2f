"""Price sources. Each returns the canonical frame (:mod:`features.frame`) for tickers and dates.

A source is named by a spec string, the same on the CLI, in flow parameters and in Python:

=============================== ==========================================================
spec                            what it reads
=============================== ==========================================================
``yahoo``                       Yahoo Finance through yfinance (production; needs network)
``sample``                      the real OHLCV prices bundled in ``data/sample/prices.parquet``
``sample:sp500``                20 real S&P 500 stocks, close-only (``data/sample/sp500_20.parquet``)
``dir:PATH``                    a folder of per-ticker CSV or Parquet files
``synthetic[:k=v,...]``         a seeded synthetic market (see :mod:`.synthetic`)
=============================== ==========================================================
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from features.dates import DateLike
from features.prices.sources.base import SourceError, SourceUnavailableError


class PriceSource(Protocol):
    """Anything that returns canonical prices for tickers (None = all it has) and dates."""

    @property
    def name(self) -> str: ...

    def fetch(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame: ...


def get_source(spec: str) -> PriceSource:
    """Build the source a spec string names.

    Raises:
        ValueError: for an unknown spec or bad options, naming the spec.
    """
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "yahoo" and not arg:
        from features.prices.sources.yahoo import YahooSource

        return YahooSource()
    if kind == "sample":
        from features.prices.sources.sample import SAMPLE_SETS, SampleSource

        set_name = arg.strip().lower() or "prices"
        if set_name not in SAMPLE_SETS or (set_name == "prices" and arg):
            sets = [f"sample:{s}" for s in SAMPLE_SETS if s != "prices"]
            raise ValueError(f"source must be 'sample' or one of {sets}, got source={spec!r}")
        return SampleSource(set_name=set_name)
    if kind == "dir" and arg:
        from features.prices.sources.directory import DirectorySource

        return DirectorySource(arg)
    if kind == "synthetic":
        from features.prices.sources.synthetic import SyntheticMarket

        return SyntheticMarket.from_spec(arg)
    raise ValueError(
        f"source must be one of 'yahoo', 'sample', 'sample:sp500', 'dir:PATH', 'synthetic[:key=value,...]', "
        f"got source={spec!r}"
    )


__all__ = ["PriceSource", "SourceError", "SourceUnavailableError", "get_source"]
