"""Purge and embargo: no training label reaches into a test period."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.split import embargo_cutoff, purged_train_mask, purged_train_mask_around


def test_embargo_cutoff_counts_trading_days():
    cal = pd.bdate_range("2021-01-04", periods=20)
    assert embargo_cutoff(cal, cal[10], embargo=0) == cal[10]
    assert embargo_cutoff(cal, cal[10], embargo=3) == cal[7]
    with pytest.raises(ValueError, match="embargo"):
        embargo_cutoff(cal, cal[10], embargo=-1)


def _gap_in_trading_days(cal: pd.DatetimeIndex, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Trading days strictly between dates a < b (negative when the intervals touch or overlap)."""
    return cal.searchsorted(b) - cal.searchsorted(a) - 1


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 10), st.integers(0, 10), st.integers(20, 80), st.integers(0, 3))
def test_no_training_label_window_reaches_the_test_period(horizon, embargo, test_pos, lag):
    cal = pd.bdate_range("2021-01-04", periods=100)
    span = lag + horizon
    decision = cal[:-span].to_numpy()
    label_end = cal[span:].to_numpy()
    keep = purged_train_mask(label_end, cal, cal[test_pos], embargo=embargo)
    kept_ends = pd.DatetimeIndex(label_end[keep])
    assert (kept_ends < cal[test_pos - embargo]).all()
    # no kept training label window [decision, label_end] overlaps any test label window, and
    # at least `embargo` trading days separate them
    test = decision >= cal[test_pos]
    if keep.any() and test.any():
        assert _gap_in_trading_days(cal, label_end[keep].max(), decision[test].min()) >= embargo
    # and nothing usable is thrown away: the first dropped label ends at or after the cutoff
    dropped = pd.DatetimeIndex(label_end[~keep])
    assert (dropped >= cal[test_pos - embargo]).all()
    assert keep.sum() == max(test_pos - embargo - span, 0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10), st.integers(0, 10), st.integers(10, 60), st.integers(1, 25), st.integers(0, 2))
def test_a_test_block_in_the_middle_is_purged_on_both_sides(horizon, embargo, start, length, lag):
    cal = pd.bdate_range("2021-01-04", periods=120)
    span = lag + horizon
    decision = cal.to_numpy()
    label_end = np.full(len(cal), np.datetime64("NaT"), dtype="datetime64[ns]")
    label_end[:-span] = cal[span:].to_numpy()
    test = (decision >= cal[start]) & (decision <= cal[start + length - 1]) & ~np.isnat(label_end)
    test_label_end = label_end[test].max()
    keep = purged_train_mask_around(
        decision, label_end, cal, test_start=cal[start], test_label_end=test_label_end, embargo=embargo
    )
    assert not (keep & test).any()
    assert not keep[np.isnat(label_end)].any()
    for i in np.flatnonzero(keep):  # every kept window is disjoint from every test window, with the embargo
        before = _gap_in_trading_days(cal, np.array([label_end[i]]), decision[test].min())[0]
        after = _gap_in_trading_days(cal, np.array([test_label_end]), np.array([decision[i]]))[0]
        assert before >= embargo or after >= embargo
    # maximal: the training rows kept are exactly those at the legal ends of the calendar
    n_before = max(start - embargo - span, 0)
    first_after = cal.searchsorted(test_label_end) + 1 + embargo
    n_after = max(len(cal) - span - first_after, 0)
    assert keep.sum() == n_before + n_after


def test_unlabeled_samples_are_never_training_samples():
    cal = pd.bdate_range("2021-01-04", periods=10)
    ends = np.array([cal[1], np.datetime64("NaT")], dtype="datetime64[ns]")
    assert list(purged_train_mask(ends, cal, cal[5], embargo=0)) == [True, False]
