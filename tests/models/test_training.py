import numpy as np
import pandas as pd
import pytest

from features.split import embargo_cutoff
from models.training import balanced_class_weight, chronological_validation, fit_model
from tests.support import TINY_MODEL, TINY_TRAIN


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


def test_same_seed_same_predictions_on_cpu(small_panel):
    rows = small_panel.samples()[:600]
    a = fit_model(small_panel, rows, TINY_MODEL, TINY_TRAIN, verbose=0)
    b = fit_model(small_panel, rows, TINY_MODEL, TINY_TRAIN, verbose=0)
    np.testing.assert_array_equal(a.val_probs, b.val_probs)
    assert a.history["loss"] == b.history["loss"]
    np.testing.assert_allclose(a.val_probs.sum(axis=1), 1.0)
    # the scaler saw only rows up to the last fit sample
    last_fit = small_panel.dates[a.fit_rows].max()
    expected = np.nanmean(small_panel.X[small_panel.dates <= last_fit], axis=0)
    np.testing.assert_allclose(a.scaler.mean_, expected)


def test_too_little_data_is_a_clear_error(small_panel):
    with pytest.raises(ValueError, match="at least 4 dates"):
        fit_model(small_panel, small_panel.samples()[:2], TINY_MODEL, TINY_TRAIN, verbose=0)


def test_warm_start_begins_from_the_given_weights(small_panel, tmp_path):
    rows = small_panel.samples()[:400]
    first = fit_model(small_panel, rows, TINY_MODEL, TINY_TRAIN, verbose=0)
    first.model.save(tmp_path / "prev.keras")
    frozen = TINY_MODEL.model_copy(update={"learning_rate": 1e-12})  # training cannot move the weights
    warm = fit_model(small_panel, rows, frozen, TINY_TRAIN, verbose=0, initial_weights=tmp_path / "prev.keras")
    for a, b in zip(first.model.get_weights(), warm.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    other = TINY_MODEL.model_copy(update={"units": (5, 4)})
    with pytest.raises(ValueError, match="different architecture"):
        fit_model(small_panel, rows, other, TINY_TRAIN, verbose=0, initial_weights=tmp_path / "prev.keras")
