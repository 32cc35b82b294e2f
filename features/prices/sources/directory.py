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

Dates are anything pandas parses, or ``YYYYMMDD`` integers (``20110103``); an empty or
unparsable date is refused, naming the file and its row.

One bad file never sinks the folder. Hidden files (``.x.csv``, macOS's ``._AAPL.csv``) are
skipped silently (logged at DEBUG). Read without ``tickers``, every other file that cannot be a
ticker is named in one warning and skipped, and the good ones are returned: a name that is no
valid symbol (``a b.csv``, ``-rf.csv``), an unreadable or empty file, a file without the needed
columns, and both files of an ambiguous ticker (``AAPL.csv`` beside ``AAPL.parquet``, or ``AAPL.csv``
beside ``aapl.csv``: tickers that differ only in case would share a file on case-insensitive file
systems). When ``tickers`` names one of them, or no file is good, it is an error naming the files.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from features.dates import DateLike
from features.frame import validate_ticker
from features.prices.sources.base import SourceError, select

_SUFFIXES = (".csv", ".parquet")
_ALIASES = {"adjclose": "adj_close", "adjustedclose": "adj_close", "timestamp": "date", "datetime": "date"}
_OHLC = ("open", "high", "low")
_log = logging.getLogger("updown")


def _normalise_column(name: str) -> str:
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    return _ALIASES.get(key, key)


class DirectorySource:
    """Reads ``<folder>/<TICKER>.csv`` or ``<folder>/<TICKER>.parquet``."""

    name = "dir"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()

    def _files(self) -> tuple[dict[str, Path], dict[str, str]]:
        """The files by ticker, and the files (or tickers) that cannot be one, with why.

        Raises:
            SourceError: the folder does not exist or has no visible ``.csv``/``.parquet`` file.
        """
        if not self.folder.is_dir():
            raise SourceError(f"source 'dir:{self.folder}': no such folder")
        candidates = [p for p in sorted(self.folder.iterdir()) if p.suffix.lower() in _SUFFIXES]
        by_key: dict[str, list[Path]] = defaultdict(list)
        bad: dict[str, str] = {}
        for path in candidates:
            if path.name.startswith("."):
                _log.debug("source 'dir:%s': hidden file %s skipped", self.folder, path.name)
                continue
            try:
                validate_ticker(path.stem)
            except ValueError:
                bad[path.name] = f"{path} is not named after a ticker (letters, digits, '.', '=', '-', leading '^')"
                continue
            by_key[path.stem.lower()].append(path)
        files: dict[str, Path] = {}
        for paths in by_key.values():
            if len(paths) == 1:
                files[paths[0].stem] = paths[0]
                continue
            names = ", ".join(p.name for p in paths)
            why = (
                "give one file per ticker"
                if len({p.stem for p in paths}) == 1
                else "tickers that differ only in letter case would share a file on case-insensitive file systems"
            )
            for path in paths:
                bad[path.stem] = f"{names} in {self.folder} are the same ticker: {why}; remove all but one"
        if not files and not bad:
            raise SourceError(f"source 'dir:{self.folder}': no .csv or .parquet files in it")
        return files, bad

    def read_file(self, path: Path) -> pd.DataFrame:
        """One file as a canonical-column frame (not yet validated).

        Raises:
            SourceError: naming the file: unreadable, empty, missing or duplicated columns, bad dates.
        """
        ticker = validate_ticker(path.stem)
        try:
            raw = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
        except Exception as exc:  # any parse error: name the file, keep the cause
            raise SourceError(f"source 'dir': cannot read {path}: {exc}") from exc
        if "date" not in {_normalise_column(c) for c in raw.columns}:
            raw = raw.reset_index()  # a date index written by pandas
        names = [_normalise_column(c) for c in raw.columns]
        twins = sorted({str(c) for c, n in zip(raw.columns, names, strict=True) if names.count(n) > 1})
        if twins:
            raise SourceError(f"source 'dir': {path} has columns {twins} that mean the same; keep one of each")
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
        if frame.empty:
            raise SourceError(f"source 'dir': {path} has no rows")
        frame = frame.assign(date=_dates(frame["date"], path))
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
        """The prices of ``tickers`` (None: every good file; bad ones are named in a warning each and skipped).

        Raises:
            SourceError: a requested ticker has no file or a bad one, or no file in the folder is
                good; naming the files and why.
        """
        files, bad = self._files()
        if tickers is not None:
            refused = {t: bad[t] for t in tickers if t in bad}
            if refused:
                raise SourceError(f"source 'dir:{self.folder}': " + "; ".join(refused.values()))
            missing = sorted(t for t in tickers if t not in files)
            if missing:
                raise SourceError(f"source 'dir:{self.folder}': no file for {missing}; has {sorted(files)}")
            frame = pd.concat([self.read_file(files[t]) for t in dict.fromkeys(tickers)], ignore_index=True)
        else:
            parts = []
            for path in files.values():
                try:
                    parts.append(self.read_file(path))
                except SourceError as exc:
                    bad[path.name] = str(exc)
            for why in dict.fromkeys(bad.values()):
                _log.warning("source 'dir:%s': skipped: %s", self.folder, why)
            if not parts:
                raise SourceError(
                    f"source 'dir:{self.folder}': no usable file; skipped {len(bad)}: " + "; ".join(bad.values())
                )
            frame = pd.concat(parts, ignore_index=True)
        # User files are checked row by row where they enter the store (update_store rejects and
        # reports bad rows); failing the whole ticker for one bad row would lose its good rows.
        return select(frame, tickers, start, end, name=f"dir:{self.folder}", validate=False)


def _dates(column: pd.Series, path: Path) -> pd.Series:
    """``column`` parsed as dates: ``YYYYMMDD`` integers or anything pandas parses; refuse by file and row.

    A CSV's rows are named by line (the header is line 1, the first data row line 2), a Parquet
    file's by row (the first is row 1).
    """
    csv = path.suffix.lower() == ".csv"

    def where(row: int) -> str:
        return f"line {row + 2}" if csv else f"row {row + 1}"

    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    elif pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        whole = column.notna() & (column == np.floor(column)) & column.between(1000_01_01, 9999_12_31)
        text = column.where(whole).astype("Int64").astype("string")
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        if (column.notna() & parsed.isna()).any():
            row = int(np.flatnonzero((column.notna() & parsed.isna()).to_numpy())[0])
            raise SourceError(
                f"source 'dir': {path} {where(row)}: date {column.iloc[row]!r} is a number but not a YYYYMMDD date"
            )
    else:
        try:
            parsed = pd.to_datetime(column, errors="coerce")
        except (ValueError, TypeError) as exc:  # e.g. mixed UTC offsets
            raise SourceError(f"source 'dir': {path}: cannot read its dates: {exc}") from exc
        if not pd.api.types.is_datetime64_any_dtype(parsed):
            raise SourceError(f"source 'dir': {path}: its dates mix UTC offsets; give plain dates (YYYY-MM-DD)")
    empty = parsed.isna().to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        value = column.iloc[row]
        what = "is empty" if pd.isna(value) or str(value).strip() == "" else f"{value!r} is not a date"
        raise SourceError(f"source 'dir': {path} {where(row)}: the date {what} ({int(empty.sum())} such rows)")
    return parsed
