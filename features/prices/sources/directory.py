"""A folder of per-ticker CSV or Parquet files, as users export them from other tools.

The file name (without extension) is the ticker: ``AAPL.csv``, ``^GSPC.parquet``. Column names
are matched in any letter case, ignoring spaces, underscores and other punctuation:

* a date: ``date``, ``timestamp`` or ``datetime`` (or a date index written by pandas);
* a close, at least one of ``close`` and the adjusted close ``adj close`` (also spelled
  ``Adj Close``, ``adj_close``, ``AdjClose``, ``adjusted close``). Given only ``close``,
  ``adj_close = close``; given only the adjusted close, ``close = adj_close``;
* optionally ``open, high, low`` (all three or none) and ``volume``.

A file with just a date and a close is **close-only**: its open, high, low and volume are NaN
(:mod:`features.frame`), and the features that need them are unavailable for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.dates import DateLike
from features.frame import validate_ticker
from features.prices.sources.base import SourceError, select

_SUFFIXES = (".csv", ".parquet")
_ALIASES = {"adjclose": "adj_close", "adjustedclose": "adj_close", "timestamp": "date", "datetime": "date"}
_OHLC = ("open", "high", "low")


def _normalise_column(name: str) -> str:
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    return _ALIASES.get(key, key)


class DirectorySource:
    """Reads ``<folder>/<TICKER>.csv`` or ``<folder>/<TICKER>.parquet``."""

    name = "dir"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()

    def _files(self) -> dict[str, Path]:
        if not self.folder.is_dir():
            raise SourceError(f"source 'dir:{self.folder}': no such folder")
        files = {p.stem: p for p in sorted(self.folder.iterdir()) if p.suffix.lower() in _SUFFIXES}
        if not files:
            raise SourceError(f"source 'dir:{self.folder}': no .csv or .parquet files in it")
        return files

    def read_file(self, path: Path) -> pd.DataFrame:
        """One file as a canonical-column frame (not yet validated)."""
        ticker = validate_ticker(path.stem)
        try:
            raw = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
        except Exception as exc:  # any parse error: name the file, keep the cause
            raise SourceError(f"source 'dir': cannot read {path}: {exc}") from exc
        if "date" not in {_normalise_column(c) for c in raw.columns}:
            raw = raw.reset_index()  # a date index written by pandas
        frame = raw.rename(columns=_normalise_column)
        if "date" not in frame.columns or not {"close", "adj_close"} & set(frame.columns):
            raise SourceError(
                f"source 'dir': {path} needs a date column and a close or adj close column (any case), "
                f"has {list(raw.columns)}"
            )
        ohlc = [c for c in _OHLC if c in frame.columns]
        if ohlc and len(ohlc) < len(_OHLC):
            raise SourceError(
                f"source 'dir': {path} has {ohlc} but not {[c for c in _OHLC if c not in ohlc]}: "
                "give open, high and low together or none of them (close-only)"
            )
        if "adj_close" not in frame.columns:
            frame = frame.assign(adj_close=frame["close"])
        if "close" not in frame.columns:
            frame = frame.assign(close=frame["adj_close"])
        absent = {c: np.nan for c in (*_OHLC, "volume") if c not in frame.columns}
        return frame.assign(**absent, ticker=ticker)

    def fetch(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        files = self._files()
        wanted = files if tickers is None else {t: files[t] for t in tickers if t in files}
        if tickers is not None and len(wanted) < len(tickers):
            missing = sorted(set(tickers) - set(files))
            raise SourceError(f"source 'dir:{self.folder}': no file for {missing}; has {sorted(files)}")
        frame = pd.concat([self.read_file(p) for p in wanted.values()], ignore_index=True)
        # User files are checked row by row where they enter the store (update_store rejects and
        # reports bad rows); failing the whole ticker for one bad row would lose its good rows.
        return select(frame, tickers, start, end, name=f"dir:{self.folder}", validate=False)
