"""The real prices bundled with the project in ``data/sample/``.

Two sets, named in the source spec (provenance, licences and measurements:
``data/sample/README.md``):

================ ======================= ============================================================
spec             file                    what it holds
================ ======================= ============================================================
``sample``       ``prices.parquet``      two US indices 1999-2018 and five US stocks 2000-2013, OHLCV
``sample:sp500`` ``sp500_20.parquet``    20 S&P 500 stocks 1990-2022, **close-only** (adjusted
                                         closes: ``close == adj_close``; open, high, low, volume NaN)
================ ======================= ============================================================

The files are found next to the source tree (editable installs and checkouts);
``UPDOWN_SAMPLE_PATH`` points the ``sample`` set elsewhere (the ``sp500`` set always reads the
bundled file unless a ``path`` is given).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from features.dates import DateLike
from features.prices.sources.base import SourceError, select
from features.settings import DEFAULT_SAMPLE_PATH, Settings

SAMPLE_SETS: dict[str, str] = {"prices": "prices.parquet", "sp500": "sp500_20.parquet"}
"""Set name -> file under ``data/sample/``; ``prices`` is the plain ``sample`` spec's set."""

SP500_TICKERS: tuple[str, ...] = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)  # fmt: skip
"""The 20 tickers of ``sample:sp500``."""

SP500_DEFAULT_START = dt.date(2005, 1, 1)
"""Where ``sample:sp500`` starts when no start is asked for (``--start 1990-01-02`` reaches back).

The file's prices are rounded to 3 decimals, and split-adjusted prices before 2005 can be a few
tenths of a dollar (AAPL 0.2-1.0):
through 2004 AAPL's median half-tick error is 0.1-0.27% of its price every year, and in the 1990s
2-13% of daily returns are exactly zero on average (RRC: 91% in 1990). From 2005 on every ticker's
median half-tick error is under 0.04% of its price and about 1% of daily returns are zero
(measured in ``data/sample/README.md``)."""


class SampleSource:
    """Reads one bundled sample set (see the module's table)."""

    def __init__(self, path: Path | None = None, *, set_name: str = "prices") -> None:
        if set_name not in SAMPLE_SETS:
            raise ValueError(f"set_name must be one of {sorted(SAMPLE_SETS)}, got set_name={set_name!r}")
        self.set_name = set_name
        self.name = "sample" if set_name == "prices" else f"sample:{set_name}"
        if path is not None:
            self.path = Path(path)
        elif set_name == "prices":
            self.path = Settings.from_env().sample_path
        else:
            self.path = DEFAULT_SAMPLE_PATH.parent / SAMPLE_SETS[set_name]

    def fetch(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """The set's rows of ``tickers`` between ``start`` and ``end`` (``sample:sp500``: from 2005 unless asked)."""
        if start is None and self.set_name == "sp500":
            start = SP500_DEFAULT_START
        if not self.path.is_file():
            raise SourceError(
                f"source {self.name!r}: bundled data not found at {self.path}; "
                "set UPDOWN_SAMPLE_PATH or regenerate it with scripts/make_sample_data.py"
            )
        return select(pd.read_parquet(self.path), tickers, start, end, name=f"{self.name}:{self.path}")
