"""The price store: one Parquet file per ticker under ``<data root>/prices/``.

Files are named ``<TICKER>.parquet`` (tickers are validated, so a name never escapes the
folder) and hold the canonical frame of :mod:`features.frame` for that ticker. Every write
merges with what is stored (new rows win on the same date), validates the result and
replaces the file atomically, so re-running the same update changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.frame import (
    COLUMNS,
    PriceDataError,
    canonicalize,
    empty_frame,
    validate_prices,
    validate_ticker,
)
from features.io import write_parquet
from features.sources.base import DateLike, check_range, parse_date


class PriceStore:
    """Reads and writes canonical prices under ``root/prices``.

    Args:
        root: The data root (``./data`` by default in the CLI).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.folder = self.root / "prices"

    def path(self, ticker: str) -> Path:
        """The file of ``ticker`` (validated)."""
        return self.folder / f"{validate_ticker(ticker)}.parquet"

    def tickers(self) -> list[str]:
        """Tickers with a stored file, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.parquet"))

    def write(self, frame: pd.DataFrame) -> dict[str, int]:
        """Merge ``frame`` into the store, ticker by ticker.

        The whole frame is validated before any file is touched; a bad frame raises
        :class:`~features.frame.PriceDataError` and leaves the store as it was.

        Returns:
            Number of rows that were new or changed, per ticker.
        """
        incoming = validate_prices(canonicalize(frame), name="prices to store")
        changed: dict[str, int] = {}
        for ticker, rows in incoming.groupby("ticker", sort=True):
            old = self.read([str(ticker)])
            merged = (
                pd.concat([old, rows], ignore_index=True)
                .drop_duplicates(["ticker", "date"], keep="last")
                .pipe(canonicalize)
            )
            validate_prices(merged, name=str(self.path(str(ticker))))
            diff = len(rows.merge(old, how="left", on=list(COLUMNS), indicator=True).query("_merge == 'left_only'"))
            if diff:
                write_parquet(merged, self.path(str(ticker)))
            changed[str(ticker)] = diff
        return changed

    def read(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """Canonical prices for ``tickers`` (None = all stored) in an inclusive date range.

        Tickers without a file are skipped; use :meth:`tickers` to see what is stored.

        Raises:
            PriceDataError: when a stored file cannot be read, naming the file.
        """
        lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
        check_range(lo, hi)
        names = self.tickers() if tickers is None else tickers
        filters = []
        if lo is not None:
            filters.append(("date", ">=", lo))
        if hi is not None:
            filters.append(("date", "<=", hi))
        parts = []
        for ticker in names:
            path = self.path(ticker)
            if not path.is_file():
                continue
            try:
                table = pq.read_table(path, columns=list(COLUMNS), filters=filters or None)
            except Exception as exc:  # corrupt or foreign file: name it
                raise PriceDataError(f"cannot read stored prices {path}: {exc}") from exc
            parts.append(table.to_pandas())
        if not parts:
            return empty_frame()
        return canonicalize(pd.concat(parts, ignore_index=True))
