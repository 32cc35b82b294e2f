"""Walk-forward backtest: retrain on the past, predict the next block, stitch the blocks.

The test region (the last ``test_fraction`` of the samples, or from ``test_start``) is
cut into ``blocks`` consecutive date ranges. For each block a fresh model is trained on every
sample whose label ended before the block, less an embargo (:mod:`features.split`), so a model
never sees a label that ends inside its test block. Predictions of all blocks form one
out-of-sample series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Panel
from features.labels import CLASSES, class_balance
from features.split import embargo_cutoff, purged_train_mask
from features.windows import WindowSet
from models.baselines import BaselineData, fit_baselines, stack_folds
from models.config import WalkForwardConfig
from models.evaluation import prior_probs
from models.lstm import ModelConfig
from models.reports import prediction_frame
from models.training import (
    FittedModel,
    TrainConfig,
    describe_fit,
    fit_model,
    normalised_data,
    predict_proba,
)


@dataclass(frozen=True)
class Fold:
    """One retrain/test block: test decision dates ``[test_start, test_end]``."""

    index: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_label_cutoff: pd.Timestamp
    train_rows: np.ndarray
    test_rows: np.ndarray
    embargo: int
    train_start: pd.Timestamp | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "fold": self.index,
            "test_start": str(self.test_start.date()),
            "test_end": str(self.test_end.date()),
            "train_labels_end_before": str(self.train_label_cutoff.date()),
            "train_window_start": None if self.train_start is None else str(self.train_start.date()),
            "n_train_candidates": len(self.train_rows),
            "n_test": len(self.test_rows),
            "embargo": self.embargo,
        }


def plan_folds(panel: Panel, config: WalkForwardConfig) -> list[Fold]:
    """Cut the test region into blocks and purge each block's training samples.

    Raises:
        ValueError: when the data cannot give ``blocks`` non-empty blocks with training data.
    """
    samples = panel.samples(labeled=True)
    if len(samples) == 0:
        raise ValueError("no labeled samples: the date range is shorter than warm-up + timesteps + horizon")
    sample_dates = panel.dates[samples]
    days = pd.DatetimeIndex(np.unique(sample_dates))
    if config.test_start is not None:
        first = int(days.searchsorted(pd.Timestamp(config.test_start)))
    else:  # the last test_fraction of the *samples*, so a universe that thins out is still tested fairly
        cut = np.sort(sample_dates)[int(np.floor(len(sample_dates) * (1 - config.test_fraction)))]
        first = int(days.searchsorted(cut))
    test_days = np.asarray(days[first:])
    if config.retrain_every is not None:
        chunks = [test_days[i : i + config.retrain_every] for i in range(0, len(test_days), config.retrain_every)]
    elif len(test_days) >= config.blocks:
        chunks = list(np.array_split(test_days, config.blocks))
    else:
        chunks = []
    if len(chunks) < 2:
        raise ValueError(
            f"the test region ({len(test_days)} dates from {test_days[0] if len(test_days) else 'none'}) gives "
            f"{len(chunks)} block(s) with blocks={config.blocks}, retrain_every={config.retrain_every}; "
            "a walk-forward needs at least two: widen the date range or shorten the blocks"
        )
    embargo = panel.config.label.horizon if config.embargo is None else config.embargo
    folds = []
    for i, chunk in enumerate(chunks):
        start, end = pd.Timestamp(chunk[0]), pd.Timestamp(chunk[-1])
        in_block = (sample_dates >= start) & (sample_dates <= end)
        usable = purged_train_mask(panel.label_end[samples], panel.calendar, start, embargo=embargo)
        train_start = None
        if config.window == "rolling":
            assert config.train_days is not None
            cutoff_pos = int(panel.calendar.searchsorted(embargo_cutoff(panel.calendar, start, embargo=embargo)))
            train_start = panel.calendar[max(cutoff_pos - config.train_days, 0)]
            usable &= sample_dates >= train_start
        train = samples[usable]
        if len(train) == 0:
            raise ValueError(f"fold {i} starting {start.date()} has no training samples; move test_start later")
        folds.append(
            Fold(
                index=i,
                test_start=start,
                test_end=end,
                train_label_cutoff=embargo_cutoff(panel.calendar, start, embargo=embargo),
                train_rows=train,
                test_rows=samples[in_block],
                embargo=embargo,
                train_start=train_start,
            )
        )
    return folds


@dataclass
class FoldResult:
    """Out-of-sample predictions of one fold, its baseline probabilities and a summary."""

    predictions: pd.DataFrame
    info: dict[str, Any]
    fitted: FittedModel
    baselines: dict[str, np.ndarray]


def run_fold(
    panel: Panel,
    fold: Fold,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    model_id: str,
    callbacks: list[Any] | None = None,
    verbose: int | str = "auto",
    initial_weights: str | None = None,
    adj_close: np.ndarray | None = None,
) -> FoldResult:
    """Train on the fold's training samples and predict its test block.

    ``initial_weights`` (a ``.keras`` file, e.g. the previous block's model) warm-starts training.
    Label schemes with fitted cut points (quantile) are fitted here, on the fold's training rows.
    With ``adj_close`` (row-aligned with the panel) the baselines of :mod:`models.baselines` are
    fitted on the same training rows and predict the same test rows; without it only the class
    prior is available (from the fold summary).
    """
    panel = panel.fit_labels(fold.train_rows)
    fitted = fit_model(
        panel,
        fold.train_rows,
        model_config,
        train_config,
        callbacks=callbacks or [],
        verbose=verbose,
        embargo=fold.embargo,
        initial_weights=initial_weights,
    )
    data = normalised_data(panel, fitted.scaler)
    windows = WindowSet(data, fold.test_rows, timesteps=panel.config.timesteps)
    probs = predict_proba(fitted.model, windows, temperature=fitted.temperature, class_weights=fitted.class_weights)
    rows = fold.test_rows
    used = np.concatenate([fitted.fit_rows, fitted.val_rows])
    frame = prediction_frame(
        panel.keys.iloc[rows], probs, horizon=panel.config.label.horizon, model_id=model_id
    ).assign(
        fold=np.int32(fold.index),
        forward_return=panel.forward_return[rows],
        label=np.asarray(CLASSES, dtype=object)[panel.label[rows]],
    )
    info = {
        **fold.describe(),
        **describe_fit(panel, fitted),
        "model_id": model_id,
        "test_class_balance": class_balance(panel.label[rows]),
        "train_class_prior": prior_probs(panel.label[fitted.fit_rows]).tolist(),
        "train_labels_end_max": str(pd.Timestamp(panel.label_end[used].max()).date()),
        "label_state": panel.label_state,
    }
    baselines: dict[str, np.ndarray] = {}
    if adj_close is not None:
        inputs = BaselineData.from_panel(panel, adj_close=adj_close, lags=5)
        baselines = fit_baselines(
            inputs.take(fold.train_rows),
            inputs.take(rows),
            seed=train_config.seed,
            history=inputs.take(panel.samples()),
        )
    return FoldResult(predictions=frame, info=info, fitted=fitted, baselines=baselines)


def run_walk_forward(
    panel: Panel,
    wf_config: WalkForwardConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    run_id: str,
    on_fold: Callable[[FoldResult], None] | None = None,
    verbose: int | str = "auto",
) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[dict[str, Any]]]:
    """Run every fold in order (the plain-Python path; flows run folds as tasks).

    Returns:
        (stitched predictions, baseline probabilities row-aligned with them, fold summaries).
    """
    results = []
    for fold in plan_folds(panel, wf_config):
        result = run_fold(panel, fold, model_config, train_config, model_id=f"{run_id}-f{fold.index}", verbose=verbose)
        if on_fold is not None:
            on_fold(result)
        results.append(result)

    return stitch([(r.predictions, r.info, r.baselines) for r in results])


def stitch(
    parts: list[tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]],
) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[dict[str, Any]]]:
    """Concatenate (predictions, info, baselines) of each fold in fold order.

    Baseline probabilities come out row-aligned with the stitched predictions. Folds run without
    baselines fall back to the class prior of each fold's training labels.
    """
    ordered = sorted(parts, key=lambda p: int(p[1]["fold"]))
    preds = pd.concat([p for p, _, _ in ordered], ignore_index=True)
    if all(b for _, _, b in ordered):
        baselines = stack_folds([b for _, _, b in ordered])
    else:
        baselines = {
            "class_prior": np.vstack([np.tile(np.asarray(i["train_class_prior"]), (len(p), 1)) for p, i, _ in ordered])
        }
    return preds, baselines, [i for _, i, _ in ordered]


def seed_summary(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation (ddof=1) across seeds of every numeric headline metric.

    Args:
        per_seed: seed -> metrics dict (e.g. ``evaluate_predictions(...)["model"]``).

    Returns:
        ``{"seeds": [...], "per_seed": {...}, "mean": {metric: m}, "std": {metric: s}}``.
    """
    names = [k for k, v in next(iter(per_seed.values())).items() if isinstance(v, int | float) and k != "n"]
    values = {k: np.array([float(m[k]) for m in per_seed.values()]) for k in names}
    return {
        "seeds": list(per_seed),
        "per_seed": {str(s): {k: m[k] for k in names} for s, m in per_seed.items()},
        "mean": {k: float(v.mean()) for k, v in values.items()},
        "std": {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()},
    }
