import numpy as np
import pandas as pd
import pytest

from features.split import embargo_cutoff
from models.learn.config import TrainConfig
from models.learn.training import (
    average_uniqueness,
    balanced_class_weight,
    chronological_holdout,
    chronological_validation,
    sample_weights_of,
    uniqueness_weights,
)


def test_validation_slice_is_last_in_time_and_purged(small_panel):
    rows = small_panel.samples()
    fit, val = chronological_validation(small_panel, rows, val_fraction=0.2, embargo=5)
    fit_dates, val_dates = small_panel.dates[fit], small_panel.dates[val]
    assert fit_dates.max() < val_dates.min()
    cutoff = embargo_cutoff(small_panel.calendar, pd.Timestamp(val_dates.min()), embargo=5)
    assert (pd.DatetimeIndex(small_panel.label_end[fit]) < cutoff).all()
    assert len(val) == pytest.approx(0.2 * len(rows), rel=0.1)


def test_balanced_class_weights_hand_values():
    assert balanced_class_weight(np.array([0, 0, 0, 1, 2, 2])) == {0: 6 / 9, 1: 2.0, 2: 1.0}
    assert balanced_class_weight(np.array([0, 2]))[1] == 1.0  # absent class


def test_average_uniqueness_by_hand():
    # lag=1, horizon=2: sample rows 0, 1, 2 span price rows [1,3], [2,4], [3,5]; concurrency 1,2,3,2,1 on
    # rows 1..5. Row 10 (another ticker's sample) spans [11,13] alone.
    u = average_uniqueness(np.array([0, 1, 2, 10]), lag=1, horizon=2)
    np.testing.assert_allclose(u, [(1 + 1 / 2 + 1 / 3) / 3, (1 / 2 + 1 / 3 + 1 / 2) / 3, (1 / 3 + 1 / 2 + 1) / 3, 1.0])
    w = uniqueness_weights(np.array([0, 1, 2, 10]), lag=1, horizon=2)  # mean of u is 2/3
    np.testing.assert_allclose(w, [11 / 12, 8 / 12, 11 / 12, 3 / 2])
    assert w.mean() == pytest.approx(1.0)


def test_non_overlapping_labels_are_fully_unique_and_order_does_not_matter():
    np.testing.assert_allclose(average_uniqueness(np.array([4, 0, 2]), lag=0, horizon=1), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(average_uniqueness(np.array([2, 0, 1]), lag=0, horizon=1), [3 / 4, 3 / 4, 1 / 2])
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        average_uniqueness(np.array([0]), lag=0, horizon=0)


def test_sample_weights_follow_the_config(small_panel):
    rows = small_panel.samples()[:50]
    assert sample_weights_of(small_panel, rows, TrainConfig()) is None
    label = small_panel.config.label
    got = sample_weights_of(small_panel, rows, TrainConfig(sample_weights="uniqueness"))
    np.testing.assert_allclose(got, uniqueness_weights(rows, lag=label.lag, horizon=label.horizon))


def test_holdout_is_after_everything_and_purged(small_panel):
    rows = small_panel.samples()
    train, held = chronological_holdout(small_panel, rows, holdout_fraction=0.2, embargo=5)
    assert small_panel.dates[train].max() < small_panel.dates[held].min()
    cutoff = embargo_cutoff(small_panel.calendar, pd.Timestamp(small_panel.dates[held].min()), embargo=5)
    assert (pd.DatetimeIndex(small_panel.label_end[train]) < cutoff).all()
    _, val = chronological_validation(small_panel, train, val_fraction=0.15, embargo=5)
    assert small_panel.dates[val].max() < small_panel.dates[held].min()
    same, none = chronological_holdout(small_panel, rows, holdout_fraction=0.0, embargo=5)
    assert np.array_equal(same, rows)
    assert len(none) == 0
    with pytest.raises(ValueError, match="holdout_fraction must be in"):
        chronological_holdout(small_panel, rows, holdout_fraction=0.5, embargo=5)
