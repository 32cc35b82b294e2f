"""Settlement of published daily predictions and the live scorecard (plain functions).

A daily prediction for decision date ``t`` settles once its label window has closed: with the
timing of :mod:`features.labels` (entry close ``t + lag``, exit close ``t + lag + horizon``,
``adj_close``), computed by :func:`features.labels.make_labels` with the label config and fitted
label state stored in the predicting model's metadata, never re-implemented here.

The scorecard compares each model's live accuracy and log-loss on settled rows with what its
**holdout** promised (``metadata["holdout"]``: a slice after the validation slice that neither the
fit, nor early stopping, nor the temperature saw, :func:`models.serving.scoring.train_production_model`).
Models stored before holdouts existed (or trained with ``holdout_fraction=0``) fall back to their
validation metrics (``metadata["validation"]``), which early stopping and calibration chose on and
so promise too much; the scorecard's ``expected_from`` column says which one each row uses.

Settled rows overlap in time (a new ``horizon``-day window starts every day) and tickers move together,
so the rows are far from independent; the intervals therefore use an effective sample size of ``n_dates
/ horizon`` (non-overlapping decision dates) times the tickers per date, capped at ``n``, which is still
optimistic when tickers are correlated. A flag is a prompt to look, not a test result.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.dates import DateLike
from features.labels import UNLABELED, LabelConfig, QuantileBand, make_labels
from features.prices.store import PriceStore
from features.storage.atomic import write_parquet
from features.storage.layout import DataRoot
from models.evaluation.metrics import label_codes, sample_log_loss
from models.serving.predictions import (
    PREDICTION_COLUMNS,
    PROB_COLUMNS,
    partition_footers,
    read_predictions,
    settled_frame,
    write_settled,
)
from models.serving.registry import RegistryError, load_metadata

SCORECARD_COLUMNS: tuple[str, ...] = (
    "model_id", "n", "n_dates", "first_date", "last_date", "accuracy", "log_loss",
    "window_dates", "window_n", "window_accuracy", "window_log_loss",
    "expected_accuracy", "expected_log_loss", "accuracy_lower", "accuracy_upper", "log_loss_upper", "status",
    "expected_from",
)  # fmt: skip
EXPECTED_FROM: tuple[str, ...] = ("holdout", "validation", "none")
"""Where a scorecard row's expectation comes from: the model's holdout, its validation slice (older
models, optimistic), or nowhere."""
MIN_SETTLED = 30


def label_config_of(metadata: Mapping[str, Any]) -> tuple[LabelConfig, QuantileBand | None]:
    """The label timing/scheme a model was trained with, and its frozen quantile band if any."""
    config = LabelConfig.model_validate(metadata["dataset"]["label"])
    state = metadata.get("label_state") or {}
    band = QuantileBand.from_dict(state) if config.scheme == "quantile" and state.get("thresholds") else None
    if config.scheme == "quantile" and band is None:
        raise ValueError(f"model {metadata.get('model_id')!r} uses scheme='quantile' but stores no fitted thresholds")
    return config, band


def settle(predictions: pd.DataFrame, prices: pd.DataFrame, metadata: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The predictions whose label window has closed, with their realised return and label.

    Args:
        predictions: report rows (:data:`models.serving.predictions.PREDICTION_COLUMNS`), any dates and models.
        prices: canonical prices sorted by ``(ticker, date)``, covering each prediction's date
            through its exit close (and ``vol_window`` days before it for the scaled schemes).
        metadata: registry metadata by model id, for every ``model_id`` in ``predictions``.

    Returns:
        :data:`models.serving.predictions.SETTLED_COLUMNS` rows, in the order of ``predictions``; rows whose
        window has not closed yet (or whose price is missing) are left out.

    Raises:
        KeyError: naming a model id without metadata.
    """
    parts = []
    for model_id, rows in predictions.groupby("model_id", sort=False):
        if model_id not in metadata:
            raise KeyError(f"no metadata for model_id={model_id!r}; cannot settle its predictions")
        config, band = label_config_of(metadata[str(model_id)])
        labels = make_labels(prices, config, band=band)
        realised = labels.loc[labels["label"] != UNLABELED, ["date", "ticker", "forward_return", "label", "label_end"]]
        joined = rows.reset_index().merge(realised, on=["date", "ticker"], how="inner").set_index("index")
        parts.append(joined)
    if not parts:
        return settled_frame(predictions.iloc[:0], np.zeros(0), np.zeros(0), np.zeros(0, dtype="datetime64[ns]"))
    done = pd.concat(parts).sort_index()
    return settled_frame(
        done.loc[:, list(PREDICTION_COLUMNS)],
        done["forward_return"].to_numpy(),
        done["label"].to_numpy(dtype="int64"),
        done["label_end"].to_numpy(),
    )


def expectation(metadata: Mapping[str, Any] | None) -> tuple[float, float, str]:
    """(expected accuracy, expected log-loss, source) of a model: its holdout metrics, else its validation ones.

    ``source`` is one of :data:`EXPECTED_FROM`: the first of the two blocks the metadata holds (a metric
    it lacks is NaN), ``"none"`` with NaN expectations when it holds neither.
    """
    for source in EXPECTED_FROM[:2]:
        block = (metadata or {}).get(source) or {}
        if block:
            acc, loss = block.get("accuracy"), block.get("log_loss")
            return (math.nan if acc is None else float(acc), math.nan if loss is None else float(loss), source)
    return math.nan, math.nan, "none"


def scorecard(
    settled: pd.DataFrame,
    metadata: Mapping[str, Mapping[str, Any]],
    *,
    window: int = 60,
    z: float = 2.0,
    min_settled: int = MIN_SETTLED,
) -> pd.DataFrame:
    """Live accuracy and log-loss per model, overall and over its last ``window`` decision dates.

    The drift check runs on the window: ``accuracy_lower..accuracy_upper`` is the expected
    (holdout, or validation) accuracy ``± z * sqrt(p (1 - p) / n_eff)`` and ``log_loss_upper`` the expected
    log-loss ``+ z * s / sqrt(n_eff)`` (``s`` the live per-row log-loss std), where ``n_eff`` is
    described in the module docstring.

    Args:
        settled: :data:`models.serving.predictions.SETTLED_COLUMNS` rows.
        metadata: registry metadata by model id (its ``holdout`` block is the expectation, else its
            ``validation`` block, :func:`expectation`; a model with neither gets NaN expectations and
            status ``no expectation``).
        window: decision dates in the rolling window (>= 1).
        z: half-width of the intervals in standard errors (> 0).
        min_settled: fewer settled rows in the window than this gives status ``too few``.

    Returns:
        One row per model (:data:`SCORECARD_COLUMNS`), sorted by model id. ``status`` is ``ok``,
        ``below expectation`` (accuracy under the interval or log-loss over its bound),
        ``above expectation`` (accuracy over the interval: on real prices, suspect a leak),
        ``too few`` or ``no expectation``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got window={window}")
    if z <= 0:
        raise ValueError(f"z must be > 0, got z={z}")
    rows = [
        _scorecard_row(str(model_id), frame, metadata.get(str(model_id)), window=window, z=z, min_settled=min_settled)
        for model_id, frame in settled.groupby("model_id", sort=True)
    ]
    out = pd.DataFrame(rows, columns=list(SCORECARD_COLUMNS))
    return out.astype({"n": "int64", "n_dates": "int64", "window_dates": "int64", "window_n": "int64"})


def _scorecard_row(
    model_id: str,
    frame: pd.DataFrame,
    metadata: Mapping[str, Any] | None,
    *,
    window: int,
    z: float,
    min_settled: int,
) -> dict[str, Any]:
    """One model's scorecard row from its settled rows (see :func:`scorecard`)."""
    y = label_codes(frame["label"])
    probs = frame.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    hit = probs.argmax(axis=1) == y
    loss = sample_log_loss(y, probs)
    dates = np.sort(frame["date"].unique())
    recent = frame["date"].isin(dates[-window:]).to_numpy()
    n_win, n_dates_win = int(recent.sum()), min(window, len(dates))
    horizon = max(int(frame["horizon"].max()), 1)
    n_eff = min(float(n_win), max(n_dates_win / horizon, 1.0) * n_win / n_dates_win)
    exp_acc, exp_loss, source = expectation(metadata)
    acc_w, loss_w = float(hit[recent].mean()), float(loss[recent].mean())
    half = z * math.sqrt(exp_acc * (1 - exp_acc) / n_eff) if not math.isnan(exp_acc) else math.nan
    loss_sd = float(loss[recent].std(ddof=1)) if n_win > 1 else math.nan
    loss_upper = exp_loss + z * loss_sd / math.sqrt(n_eff)
    status = _status(
        acc_w, loss_w, exp_acc=exp_acc, exp_loss=exp_loss, half=half, loss_upper=loss_upper,
        enough=n_win >= min_settled,
    )  # fmt: skip
    return {
        "model_id": model_id, "n": len(frame), "n_dates": len(dates),
        "first_date": pd.Timestamp(dates[0]), "last_date": pd.Timestamp(dates[-1]),
        "accuracy": float(hit.mean()), "log_loss": float(loss.mean()),
        "window_dates": n_dates_win, "window_n": n_win, "window_accuracy": acc_w, "window_log_loss": loss_w,
        "expected_accuracy": exp_acc, "expected_log_loss": exp_loss,
        "accuracy_lower": exp_acc - half, "accuracy_upper": exp_acc + half, "log_loss_upper": loss_upper,
        "status": status, "expected_from": source,
    }  # fmt: skip


def _status(
    accuracy: float, log_loss: float, *, exp_acc: float, exp_loss: float, half: float, loss_upper: float, enough: bool
) -> str:
    """The drift verdict of a model's live window against its expectation."""
    if math.isnan(exp_acc) or math.isnan(exp_loss):
        return "no expectation"
    if not enough:
        return "too few"
    if accuracy < exp_acc - half or log_loss > loss_upper:
        return "below expectation"
    if accuracy > exp_acc + half:
        return "above expectation"
    return "ok"


def drift_messages(card: pd.DataFrame) -> list[str]:
    """One warning line per model whose live window is outside its expectation."""
    out = []
    for row in card[card["status"].isin(["below expectation", "above expectation"])].itertuples():
        out.append(
            f"model {row.model_id}: live performance {row.status} over its last {row.window_dates} decision dates "
            f"({row.window_n} settled rows): accuracy {row.window_accuracy:.4f} "
            f"vs expected {row.expected_accuracy:.4f} "
            f"(interval {row.accuracy_lower:.4f}..{row.accuracy_upper:.4f}), log-loss {row.window_log_loss:.4f} vs "
            f"expected {row.expected_log_loss:.4f} (bound {row.log_loss_upper:.4f})"
        )
    return out


def unsettled(
    published: Mapping[pd.Timestamp, int], settled: Mapping[pd.Timestamp, int], *, before: DateLike | None = None
) -> list[pd.Timestamp]:
    """Decision dates whose published rows are not all settled yet, oldest first.

    Args:
        published: rows per published daily partition, by date.
        settled: rows per settled partition, by date.
        before: only dates strictly before this one (a date cannot settle on its own day).
    """
    cut = None if before is None else pd.Timestamp(before)
    return sorted(d for d, n in published.items() if settled.get(d, 0) < n and (cut is None or d < cut))


def scorecard_path(root: Path) -> Path:
    """``<root>/reports/scorecard.parquet``: one row per model, rewritten by every settlement."""
    return DataRoot(root).scorecard


@dataclass
class SettlementReport:
    """What :func:`settle_store` did: dates (re)settled, rows added, the scorecard, warnings."""

    settled_dates: list[pd.Timestamp] = field(default_factory=list)
    new_rows: int = 0
    pending_dates: int = 0
    skipped_models: list[str] = field(default_factory=list)
    scorecard: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SCORECARD_COLUMNS)))
    warnings: list[str] = field(default_factory=list)


def settle_store(
    root: Path, *, window: int = 60, z: float = 2.0, lookback_days: int = 120, now: dt.datetime | None = None
) -> SettlementReport:
    """Settle every published daily partition whose rows are not all settled, then rescore.

    Reads the stored prices (it never fetches), writes each (re)settled decision date to
    ``<root>/reports/settled/date=YYYY-MM-DD/settled.parquet`` atomically (with ``settled_at``
    and the daily partition's ``daily_created_at`` as key-value metadata; a daily partition
    republished since, e.g. by another model, is settled again) and rewrites
    :func:`scorecard_path`. Idempotent: running it twice on the same data writes the same rows.

    Args:
        root: the data root.
        window: decision dates in the scorecard's rolling window.
        z: half-width of the scorecard's intervals, in standard errors.
        lookback_days: calendar days of prices read before the oldest pending date (the
            ``volatility`` and ``triple_barrier`` schemes need ``vol_window`` days of history).
        now: the settlement time recorded in the metadata (default: now, UTC).
    """
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    report = SettlementReport()
    # footers only, each read once; a corrupt partition is quarantined and counts as absent
    published = partition_footers(root, kind="daily")
    done = partition_footers(root, kind="settled")
    created = {d: meta.get("created_at", "") for d, (_, meta) in published.items()}
    stale = {d for d, (_, meta) in done.items() if d in created and meta.get("daily_created_at") != created[d]}
    counts = {d: 0 if d in stale else n for d, (n, _) in done.items()}
    pending = unsettled({d: n for d, (n, _) in published.items()}, counts)
    report.pending_dates = len(pending)
    if pending:
        preds = read_predictions(root, start=pending[0])
        preds = preds[preds["date"].isin(pending)]
        metadata: dict[str, Mapping[str, Any]] = {}
        for model_id in preds["model_id"].unique():
            try:
                metadata[model_id] = load_metadata(root, model_id)
            except RegistryError as exc:
                report.skipped_models.append(model_id)
                report.warnings.append(f"cannot settle predictions of model {model_id}: {exc}")
        preds = preds[preds["model_id"].isin(list(metadata))]
        tickers = sorted(preds["ticker"].unique())
        prices = PriceStore(root).read(tickers, start=pending[0] - pd.Timedelta(days=lookback_days))
        out = settle(preds, prices, metadata) if len(preds) and len(prices) else settle(preds.iloc[:0], prices, {})
        for day, rows in out.groupby("date", sort=True):
            day = pd.Timestamp(day)
            if len(rows) > counts.get(day, 0) or day in stale:
                write_settled(root, day, rows, metadata={"settled_at": stamp, "daily_created_at": created[day]})
                report.settled_dates.append(day)
                report.new_rows += len(rows) - counts.get(day, 0)
    settled = read_predictions(root, kind="settled")
    if len(settled):
        ids = settled["model_id"].unique()
        expectations = {}
        for model_id in ids:
            try:
                expectations[model_id] = load_metadata(root, model_id)
            except RegistryError:
                expectations[model_id] = {}
        report.scorecard = scorecard(settled, expectations, window=window, z=z)
        write_parquet(report.scorecard, scorecard_path(root), metadata={"updated_at": stamp})
        report.warnings += drift_messages(report.scorecard)
    return report
