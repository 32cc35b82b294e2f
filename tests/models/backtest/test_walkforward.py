"""Walk-forward plan (folds, purge, embargo, rolling window), stitching and the seed summary, on hand-checked values."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from features.dataset import DatasetConfig, build_panel
from features.prices.sources.synthetic import SyntheticMarket
from models.backtest.walkforward import plan_folds, seed_summary, stitch
from models.learn.config import WalkForwardConfig

PANEL = build_panel(SyntheticMarket(tickers=2, days=300, seed=4).fetch(), DatasetConfig(timesteps=8))


def test_blocks_cover_the_test_region_in_order_without_overlap():
    folds = plan_folds(PANEL, WalkForwardConfig(blocks=3, test_fraction=0.3))
    samples = PANEL.samples(labeled=True)
    dates = PANEL.dates[samples]
    assert [f.index for f in folds] == [0, 1, 2]
    for before, after in itertools.pairwise(folds):
        assert before.test_end < after.test_start
    tested = np.concatenate([f.test_rows for f in folds])
    assert len(np.unique(tested)) == len(tested)
    assert len(tested) == pytest.approx(0.3 * len(samples), abs=2 * 2)  # whole dates of 2 tickers
    assert pd.Timestamp(dates.max()) == folds[-1].test_end
    # the test blocks split the test dates evenly (np.array_split): lengths differ by at most one date
    n_dates = [len(np.unique(PANEL.dates[f.test_rows])) for f in folds]
    assert max(n_dates) - min(n_dates) <= 1


def test_training_labels_end_an_embargo_before_each_block():
    for embargo in (None, 9):
        for fold in plan_folds(PANEL, WalkForwardConfig(blocks=2, embargo=embargo)):
            assert fold.embargo == (5 if embargo is None else embargo)  # None = the label horizon
            assert pd.DatetimeIndex(PANEL.label_end[fold.train_rows]).max() < fold.train_label_cutoff
            cal = PANEL.calendar
            gap = cal.searchsorted(fold.test_start) - cal.searchsorted(fold.train_label_cutoff)
            assert gap == fold.embargo


def test_rolling_window_keeps_the_last_train_days():
    folds = plan_folds(PANEL, WalkForwardConfig(blocks=2, window="rolling", train_days=60))
    for fold in folds:
        assert fold.train_start is not None
        assert PANEL.dates[fold.train_rows].min() >= fold.train_start
        assert len(np.unique(PANEL.dates[fold.train_rows])) <= 60
    assert folds[1].train_start > folds[0].train_start
    assert folds[0].describe()["train_window_start"] == str(folds[0].train_start.date())


def test_too_few_dates_for_two_blocks_is_a_clear_error():
    with pytest.raises(ValueError, match="a walk-forward needs at least two"):
        plan_folds(PANEL, WalkForwardConfig(retrain_every=10_000))


def test_stitch_orders_folds_and_aligns_baselines():
    def part(fold: int, rows: int) -> tuple[pd.DataFrame, dict, dict]:
        preds = pd.DataFrame({"fold": [fold] * rows, "p_up": [fold / 10] * rows})
        return preds, {"fold": fold}, {"class_prior": np.full((rows, 3), fold)}

    preds, baselines, info = stitch([part(1, 2), part(0, 1)])
    assert list(preds["fold"]) == [0, 1, 1]
    assert [i["fold"] for i in info] == [0, 1]
    np.testing.assert_array_equal(baselines["class_prior"][:, 0], [0, 1, 1])
    with pytest.raises(ValueError, match="same baselines"):
        stitch([part(0, 1), (part(1, 1)[0], {"fold": 1}, {})])


def test_seed_summary_mean_and_sample_std():
    summary = seed_summary(
        {0: {"accuracy": 0.5, "n": 10, "verdict": "x"}, 1: {"accuracy": 0.7, "n": 10, "verdict": "y"}}
    )
    assert summary["seeds"] == [0, 1]
    assert summary["mean"] == {"accuracy": pytest.approx(0.6)}
    assert summary["std"] == {"accuracy": pytest.approx(np.sqrt(0.02))}
    assert summary["per_seed"] == {"0": {"accuracy": 0.5}, "1": {"accuracy": 0.7}}
    assert seed_summary({3: {"accuracy": 0.4}})["std"] == {"accuracy": 0.0}
