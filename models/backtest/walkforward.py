"""Walk-forward backtest: retrain on the past, predict the next block, stitch the blocks.

The test region (the last ``test_fraction`` of the samples, or from ``test_start``) is
cut into ``blocks`` consecutive date ranges. For each block a fresh model is trained on every
sample whose label ended before the block, less an embargo (:mod:`features.split`), so a model
never sees a label that ends inside its test block. Predictions of all blocks form one
out-of-sample series (:func:`stitch`). :mod:`models.backtest.engine` runs the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Panel
from features.split import embargo_cutoff, purged_train_mask
from models.learn.baselines import stack_folds
from models.learn.config import WalkForwardConfig


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


def stitch(
    parts: list[tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]],
) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[dict[str, Any]]]:
    """Concatenate (predictions, info, baselines) of each fold in fold order.

    Returns:
        (predictions, baseline probabilities row-aligned with them, fold summaries).

    Raises:
        ValueError: when a fold has no baselines or other baselines than the first fold.
    """
    ordered = sorted(parts, key=lambda p: int(p[1]["fold"]))
    names = [sorted(b) for _, _, b in ordered]
    if not ordered or not names[0] or any(n != names[0] for n in names):
        raise ValueError(f"every fold must have the same baselines, got {names}")
    preds = pd.concat([p for p, _, _ in ordered], ignore_index=True)
    return preds, stack_folds([b for _, _, b in ordered]), [i for _, i, _ in ordered]


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
