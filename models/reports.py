"""Parquet prediction reports: the schema, writing them atomically, reading them back.

Schema (both kinds; one row per decision date and ticker):

================ ============== =========================================================
column           dtype          meaning
================ ============== =========================================================
date             timestamp[ns]  decision date: features use data up to this day's close
ticker           string         symbol
horizon          int32          trading days the predicted return spans
p_down           float64        probability the return is below -band
p_flat           float64        probability it is within ±band
p_up             float64        probability it is above +band (the three sum to 1)
predicted        string         the most probable class: down / flat / up
model_id         string         the model that made the prediction
fold             int32          (backtest only) walk-forward block
forward_return   float64        (backtest only) the realised return the label was made from
label            string         (backtest only) the realised class: down / flat / up
================ ============== =========================================================

Layout under the data root::

    reports/daily/date=YYYY-MM-DD/predictions.parquet     (one hive partition per as-of date)
    reports/backtest/<run id>/predictions.parquet, metrics.json

Daily partitions follow the hive convention: ``date`` lives in the folder name, not inside the
file, so ``pandas.read_parquet("<root>/reports/daily")``, ``pyarrow.dataset`` and DuckDB's
``read_parquet('<root>/reports/daily/*/*.parquet')`` read the whole history directly.
:func:`read_predictions` returns it with ``date`` as ``datetime64[ns]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.io import write_parquet
from features.labels import CLASSES
from features.sources.base import DateLike, parse_date

PREDICTION_COLUMNS: tuple[str, ...] = (
    "date", "ticker", "horizon", "p_down", "p_flat", "p_up", "predicted", "model_id",
)  # fmt: skip
BACKTEST_COLUMNS: tuple[str, ...] = (*PREDICTION_COLUMNS, "fold", "forward_return", "label")


def prediction_frame(keys: pd.DataFrame, probs: np.ndarray, *, horizon: int, model_id: str) -> pd.DataFrame:
    """Build report rows from ``date, ticker`` keys and (n, 3) probabilities."""
    probs = np.asarray(probs, dtype="float64")
    if probs.shape != (len(keys), len(CLASSES)):
        raise ValueError(f"probs must have shape ({len(keys)}, 3), got {probs.shape}")
    return pd.DataFrame(
        {
            "date": keys["date"].to_numpy(dtype="datetime64[ns]"),
            "ticker": keys["ticker"].astype(str).to_numpy(),
            "horizon": np.full(len(keys), horizon, dtype="int32"),
            "p_down": probs[:, 0],
            "p_flat": probs[:, 1],
            "p_up": probs[:, 2],
            "predicted": np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)] if len(keys) else [],
            "model_id": model_id,
        }
    )


def check_predictions(frame: pd.DataFrame, *, backtest: bool = False) -> pd.DataFrame:
    """Return ``frame`` in schema column order, or raise ``ValueError`` naming what is wrong."""
    columns = list(BACKTEST_COLUMNS if backtest else PREDICTION_COLUMNS)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"prediction report is missing columns {missing}")
    probs = frame.loc[:, ["p_down", "p_flat", "p_up"]].to_numpy(dtype="float64")
    if len(frame) and not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("prediction report: p_down + p_flat + p_up must be 1 on every row")
    if not frame["predicted"].isin(CLASSES).all():
        raise ValueError(f"prediction report: predicted must be one of {CLASSES}")
    return frame.loc[:, columns].reset_index(drop=True)


def daily_path(root: Path, as_of: pd.Timestamp) -> Path:
    """``<root>/reports/daily/date=YYYY-MM-DD/predictions.parquet``."""
    return Path(root) / "reports" / "daily" / f"date={as_of:%Y-%m-%d}" / "predictions.parquet"


def write_daily(
    root: Path, as_of: pd.Timestamp, frame: pd.DataFrame, *, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write (or atomically replace) the daily partition of ``as_of``.

    Raises:
        ValueError: when a row's ``date`` is not ``as_of`` or the frame breaks the schema.
    """
    frame = check_predictions(frame)
    if (frame["date"] != as_of).any():
        raise ValueError(f"every row of the daily report for as_of={as_of:%Y-%m-%d} must have that date")
    return write_parquet(frame.drop(columns="date"), daily_path(root, as_of), metadata=metadata)


def daily_dates(root: Path) -> list[pd.Timestamp]:
    """As-of dates with a published daily partition, oldest first."""
    folder = Path(root) / "reports" / "daily"
    if not folder.is_dir():
        return []
    out = []
    for part in folder.glob("date=*/predictions.parquet"):
        try:
            out.append(pd.Timestamp(part.parent.name.removeprefix("date=")))
        except ValueError:
            continue
    return sorted(out)


def _with_date(table: pa.Table, as_of: pd.Timestamp) -> pd.DataFrame:
    frame = table.to_pandas()
    frame.insert(0, "date", pd.Series(as_of, index=frame.index, dtype="datetime64[ns]"))
    return frame


def read_daily(root: Path, *, date: DateLike | None = None, tickers: list[str] | None = None) -> pd.DataFrame:
    """The daily predictions of ``date`` (default: the latest published), optionally some tickers.

    Raises:
        FileNotFoundError: naming the folder when nothing (or nothing for ``date``) is published.
    """
    wanted = parse_date(date, name="date")
    dates = daily_dates(root)
    if not dates:
        raise FileNotFoundError(f"no daily reports under {Path(root) / 'reports' / 'daily'}; run `updown daily` first")
    as_of = dates[-1] if wanted is None else wanted
    path = daily_path(root, as_of)
    if not path.is_file():
        have = f"{dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d}"
        raise FileNotFoundError(f"no daily report for date={as_of:%Y-%m-%d} (published: {have})")
    frame = _with_date(pq.read_table(path), as_of)
    if tickers is not None:
        frame = frame[frame["ticker"].isin(tickers)].reset_index(drop=True)
    return frame.loc[:, list(PREDICTION_COLUMNS)]


def read_predictions(
    root: Path,
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
    tickers: list[str] | None = None,
) -> pd.DataFrame:
    """All published daily predictions between ``start`` and ``end`` (inclusive), sorted.

    Returns:
        The report schema with ``date`` as ``datetime64[ns]``; empty when nothing matches.
    """
    lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
    parts = [
        _with_date(pq.read_table(daily_path(root, d)), d)
        for d in daily_dates(root)
        if (lo is None or d >= lo) and (hi is None or d <= hi)
    ]
    if not parts:
        return prediction_frame(pd.DataFrame({"date": [], "ticker": []}), np.zeros((0, 3)), horizon=0, model_id="")
    frame = pd.concat(parts, ignore_index=True)
    if tickers is not None:
        frame = frame[frame["ticker"].isin(tickers)]
    return frame.sort_values(["date", "ticker"]).reset_index(drop=True).loc[:, list(PREDICTION_COLUMNS)]
