import numpy as np
import pandas as pd
import pytest

from features.split import embargo_cutoff
from models.learn.training import balanced_class_weight, chronological_validation


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
