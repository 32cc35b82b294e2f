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
    reports/settled/date=YYYY-MM-DD/settled.parquet       (the same rows once their horizon elapsed)
    reports/backtest/<run id>/predictions.parquet, metrics.json

Settled partitions (written by the daily flow, see :mod:`models.serving.settlement`) add the backtest's
``forward_return`` and ``label`` columns and ``label_end`` (timestamp[ns], the exit close).

Daily partitions follow the hive convention: ``date`` lives in the folder name, not inside the
file, so ``pandas.read_parquet("<root>/reports/daily")``, ``pyarrow.dataset`` and DuckDB's
``read_parquet('<root>/reports/daily/*/*.parquet')`` read the whole history directly.
:func:`read_predictions` returns it with ``date`` as ``datetime64[ns]``.

A partition file that cannot be read (truncated, garbage) is moved to the root's quarantine folder
with a warning naming it (:mod:`features.storage.quarantine`) and is from then on absent: readers
skip it, settlement settles that date again, ``updown daily`` republishes it when asked. A
``date=`` folder without its file (empty, or only a killed writer's hidden temp file) is no
partition. Quarantined files live outside ``reports/`` and do not end in ``.parquet``, so the
globs above never see them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.dates import DateLike, parse_date
from features.labels import CLASSES, PROB_COLUMNS
from features.storage import layout
from features.storage.atomic import write_parquet
from features.storage.layout import DataRoot
from features.storage.quarantine import CorruptFileError, quarantine, quarantined
from features.storage.remote import readable_root

PREDICTION_COLUMNS: tuple[str, ...] = ("date", "ticker", "horizon", *PROB_COLUMNS, "predicted", "model_id")
BACKTEST_COLUMNS: tuple[str, ...] = (*PREDICTION_COLUMNS, "fold", "forward_return", "label")
OPTIONAL_BACKTEST_COLUMNS: tuple[str, ...] = ("hold_days",)
"""Kept after the backtest columns when present: ``hold_days`` (int, days the position is held,
:func:`features.labels.holding_days`) under the ``triple_barrier`` scheme, read by the strategy P&L."""
SETTLED_COLUMNS: tuple[str, ...] = (*PREDICTION_COLUMNS, "forward_return", "label", "label_end")
KINDS: tuple[str, ...] = ("daily", "settled", "backtest")
ReportKind = Literal["daily", "settled", "backtest"]


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
    if backtest:
        columns += [c for c in OPTIONAL_BACKTEST_COLUMNS if c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"prediction report is missing columns {missing}")
    probs = frame.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    if len(frame) and not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("prediction report: p_down + p_flat + p_up must be 1 on every row")
    if not frame["predicted"].isin(CLASSES).all():
        raise ValueError(f"prediction report: predicted must be one of {CLASSES}")
    return frame.loc[:, columns].reset_index(drop=True)


def daily_path(root: Path, as_of: pd.Timestamp) -> Path:
    """``<root>/reports/daily/date=YYYY-MM-DD/predictions.parquet``."""
    return DataRoot(root).partition("daily", as_of)


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
    return partition_dates(root, kind="daily")


def _with_date(table: pa.Table, as_of: pd.Timestamp) -> pd.DataFrame:
    frame = table.to_pandas()
    frame.insert(0, "date", pd.Series(as_of, index=frame.index, dtype="datetime64[ns]"))
    return frame


def read_daily(root: str | Path, *, date: DateLike | None = None, tickers: list[str] | None = None) -> pd.DataFrame:
    """The daily predictions of ``date`` (default: the latest published), optionally some tickers.

    ``root`` is a data root path or URL (a URL is read through a local mirror, like :func:`read_predictions`).

    Raises:
        FileNotFoundError: naming the folder when nothing (or nothing for ``date``) is published.
        CorruptFileError: the partition of ``date`` is corrupt (it is quarantined, the message says where).
    """
    wanted = parse_date(date, name="date")
    root = readable_root(root, [layout.DAILY])
    dates = daily_dates(root)
    if not dates:
        raise FileNotFoundError(
            f"no daily reports under {DataRoot(root).partitions_dir('daily')}; run `updown daily` first"
        )
    if wanted is None:  # the latest readable partition: a corrupt one is quarantined and the one before taken
        table = None
        for as_of in reversed(dates):
            table = read_partition(root, as_of, kind="daily")
            if table is not None:
                break
        if table is None:  # every one corrupt (now quarantined): name the latest
            _missing_daily(root, daily_path(root, dates[-1]), dates[-1], [])
    else:
        as_of = wanted
        path = daily_path(root, as_of)
        table = read_partition(root, as_of, kind="daily") if path.is_file() else None
        if table is None:
            _missing_daily(root, path, as_of, dates)
    frame = _with_date(table, as_of)
    if tickers is not None:
        frame = frame[frame["ticker"].isin(tickers)].reset_index(drop=True)
    return frame.loc[:, list(PREDICTION_COLUMNS)]


def _missing_daily(root: Path, path: Path, as_of: pd.Timestamp, dates: list[pd.Timestamp]) -> NoReturn:
    """Raise the error for an absent daily partition: corrupt (and quarantined), or never published."""
    copies = quarantined(DataRoot(root), path)
    if copies:
        raise CorruptFileError(
            f"the daily report {path} was corrupt and is quarantined as {copies[-1]}; "
            f"republish it with `updown daily --as-of {as_of:%Y-%m-%d}`"
        )
    have = f"{dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d}" if dates else "none"
    raise FileNotFoundError(f"no daily report for date={as_of:%Y-%m-%d} (published: {have})")


def read_partition(root: Path, as_of: pd.Timestamp, *, kind: ReportKind = "daily") -> pa.Table | None:
    """The partition of ``as_of`` as stored (without ``date``); None when it is absent or corrupt.

    A corrupt file is moved to quarantine with a warning naming it (:func:`set_aside`).

    Raises:
        OSError: the file cannot be read for another reason than its content (e.g. permissions).
    """
    path = partition_path(root, as_of, kind=kind)
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        return None
    except (pa.ArrowException, ValueError) as exc:
        if isinstance(exc, OSError):
            raise
        set_aside(root, path, exc)
        return None


def partition_footers(root: Path, *, kind: ReportKind = "daily") -> dict[pd.Timestamp, tuple[int, dict[str, str]]]:
    """Rows and key-value metadata of every readable partition of ``kind``, by date (footers only).

    A partition whose footer cannot be read is moved to quarantine with a warning and left out.
    """
    out: dict[pd.Timestamp, tuple[int, dict[str, str]]] = {}
    for day in partition_dates(root, kind=kind):
        path = partition_path(root, day, kind=kind)
        try:
            meta = pq.read_metadata(path)
        except FileNotFoundError:
            continue
        except (pa.ArrowException, ValueError) as exc:
            if isinstance(exc, OSError):
                raise
            set_aside(root, path, exc)
            continue
        raw = meta.metadata or {}
        out[day] = (int(meta.num_rows), {k.decode(): v.decode() for k, v in raw.items() if k != b"pandas"})
    return out


def set_aside(root: Path, path: Path, problem: Exception) -> Path | None:
    """Quarantine the corrupt report ``path`` unless a writer replaced it since (then leave it).

    Reports have no lock: the file is moved only if it is still the same file (inode) and still
    unreadable; the ``date=`` folder it leaves empty is removed. Returns where it went (None: not moved).
    """
    try:
        before = path.stat()
        pq.read_metadata(path)
        pq.read_table(path)
    except FileNotFoundError:
        return None
    except Exception:  # still corrupt
        pass
    else:
        return None  # readable now: a writer replaced it
    if path.stat().st_ino != before.st_ino:
        return None
    moved = quarantine(DataRoot(root), path, reason=f"cannot read report {path}: {problem}")
    if moved is not None:
        with contextlib.suppress(OSError):  # not empty (a writer's temp file) or gone
            os.rmdir(path.parent)
    return moved


def partition_path(root: Path, as_of: pd.Timestamp, *, kind: ReportKind = "daily") -> Path:
    """``<root>/reports/<kind>/date=YYYY-MM-DD/<file>`` for the partitioned kinds (daily, settled)."""
    if kind == "backtest":
        raise ValueError(f"kind must be one of {sorted(layout.PARTITION_FILES)} for a partition, got kind={kind!r}")
    return DataRoot(root).partition(kind, as_of)


def partition_dates(root: Path, *, kind: ReportKind = "daily") -> list[pd.Timestamp]:
    """Dates with a partition of ``kind`` (daily or settled), oldest first."""
    if kind == "backtest":
        raise ValueError(f"kind must be one of {sorted(layout.PARTITION_FILES)} for a partition, got kind={kind!r}")
    out = []
    for day in DataRoot(root).partition_days(kind):
        try:
            out.append(pd.Timestamp(day))
        except ValueError:
            continue
    return sorted(out)


def settled_frame(
    predictions: pd.DataFrame, forward_return: np.ndarray, labels: np.ndarray, label_end: np.ndarray
) -> pd.DataFrame:
    """Report rows plus their realised ``forward_return``, class name ``label`` and ``label_end``.

    Args:
        predictions: rows in the report schema.
        forward_return: realised returns (n,), fractions.
        labels: class codes (n,) 0/1/2.
        label_end: dates (n,) of the exit close.
    """
    out = check_predictions(predictions)
    codes = np.asarray(labels, dtype="int64")
    if len(codes) != len(out) or ((codes < 0) | (codes >= len(CLASSES))).any():
        raise ValueError(f"labels must be {len(out)} class codes in 0..{len(CLASSES) - 1}")
    return out.assign(
        forward_return=np.asarray(forward_return, dtype="float64"),
        label=np.asarray(CLASSES, dtype=object)[codes] if len(codes) else np.array([], dtype=object),
        label_end=np.asarray(label_end, dtype="datetime64[ns]"),
    )


def write_settled(
    root: Path, as_of: pd.Timestamp, frame: pd.DataFrame, *, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write (or atomically replace) the settled partition of decision date ``as_of``."""
    missing = [c for c in SETTLED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"settled report is missing columns {missing}")
    check_predictions(frame)
    if (frame["date"] != as_of).any():
        raise ValueError(f"every row of the settled report for as_of={as_of:%Y-%m-%d} must have that date")
    out = frame.loc[:, list(SETTLED_COLUMNS)].drop(columns="date").reset_index(drop=True)
    return write_parquet(out, partition_path(root, as_of, kind="settled"), metadata=metadata)


def backtest_runs(root: Path) -> list[str]:
    """Ids of the finished backtest runs under ``<root>/reports/backtest``, oldest first."""
    return DataRoot(root).finished_runs()


def _empty(kind: ReportKind) -> pd.DataFrame:
    frame = prediction_frame(pd.DataFrame({"date": [], "ticker": []}), np.zeros((0, 3)), horizon=0, model_id="")
    if kind == "settled":
        return settled_frame(frame, np.zeros(0), np.zeros(0, dtype="int64"), np.zeros(0, dtype="datetime64[ns]"))
    if kind == "backtest":
        return frame.assign(
            fold=np.zeros(0, dtype="int32"), forward_return=np.zeros(0), label=np.array([], dtype=object)
        )
    return frame


def _typed(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    dtypes = {"date": "datetime64[ns]", "label_end": "datetime64[ns]", "horizon": "int32", "fold": "int32"}
    dtypes |= dict.fromkeys((*PROB_COLUMNS, "forward_return"), "float64")
    present = {c: t for c, t in dtypes.items() if c in frame.columns}
    return frame.loc[:, list(columns)].astype(present)


def read_predictions(
    root: str | Path,
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
    tickers: list[str] | None = None,
    kind: ReportKind = "daily",
    run_id: str | None = None,
) -> pd.DataFrame:
    """Published predictions between ``start`` and ``end`` (decision dates, inclusive), sorted.

    Args:
        root: the data root: a path, or a URL (``s3://...``), read through a local mirror
            (:func:`features.storage.remote.readable_root`).
        start: first decision date (None = from the first).
        end: last decision date (None = up to the last).
        tickers: only these symbols (None = all).
        kind: ``daily`` (the published partitions), ``settled`` (the daily rows whose horizon has
            elapsed, with ``forward_return``, ``label`` and ``label_end``) or ``backtest`` (one run's
            out-of-sample predictions, with ``fold``, ``forward_return`` and ``label``).
        run_id: for ``backtest``, the run (default: the latest finished run).

    Returns:
        The kind's schema (:data:`PREDICTION_COLUMNS`, :data:`SETTLED_COLUMNS` or
        :data:`BACKTEST_COLUMNS`) with ``date`` as ``datetime64[ns]``, ``horizon`` (and ``fold``)
        int32, probabilities float64; sorted by date then ticker; empty when nothing matches.

    Raises:
        ValueError: an unknown ``kind``, or ``run_id`` with a kind other than ``backtest``.
        FileNotFoundError: ``kind="backtest"`` and the run (or any finished run) does not exist.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got kind={kind!r}")
    if run_id is not None and kind != "backtest":
        raise ValueError(f"run_id is only used with kind='backtest', got kind={kind!r}")
    lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
    if kind != "backtest":
        root = readable_root(root, [layout.DAILY if kind == "daily" else layout.SETTLED])
    else:  # the run id is checked before it becomes a path: ../../x is refused, never read
        root = readable_root(root, [layout.run_predictions(run_id)])
    columns = {"daily": PREDICTION_COLUMNS, "settled": SETTLED_COLUMNS, "backtest": BACKTEST_COLUMNS}[kind]
    if kind == "backtest":
        frame = _read_backtest(root, run_id)
        keep = np.ones(len(frame), dtype=bool)
        if lo is not None:
            keep &= (frame["date"] >= lo).to_numpy()
        if hi is not None:
            keep &= (frame["date"] <= hi).to_numpy()
        frame = frame[keep]
    else:
        days = [d for d in partition_dates(root, kind=kind) if (lo is None or d >= lo) and (hi is None or d <= hi)]
        tables = {d: read_partition(root, d, kind=kind) for d in days}  # a corrupt one is quarantined: None
        parts = [_with_date(t, d) for d, t in tables.items() if t is not None]
        frame = pd.concat(parts, ignore_index=True) if parts else _empty(kind)
    if tickers is not None:
        frame = frame[frame["ticker"].isin(tickers)]
    return _typed(frame.sort_values(["date", "ticker"]).reset_index(drop=True), columns)


def _read_backtest(root: Path, run_id: str | None) -> pd.DataFrame:
    runs = backtest_runs(root)
    folder = DataRoot(root).backtest_dir
    if run_id is None:
        if not runs:
            raise FileNotFoundError(f"no finished backtest runs under {folder}; run `updown backtest` first")
        run_id = runs[-1]
    path = DataRoot(root).backtest_predictions(run_id)
    if not path.is_file():
        raise FileNotFoundError(f"no backtest run {run_id!r} under {folder} (finished runs: {runs})")
    return pq.read_table(path).to_pandas()
