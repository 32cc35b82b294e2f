import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.scaling import FeatureScaler
from features.split import embargo_cutoff, purged_train_mask


def test_embargo_cutoff_counts_trading_days():
    cal = pd.bdate_range("2021-01-04", periods=20)
    assert embargo_cutoff(cal, cal[10], embargo=0) == cal[10]
    assert embargo_cutoff(cal, cal[10], embargo=3) == cal[7]
    with pytest.raises(ValueError, match="embargo"):
        embargo_cutoff(cal, cal[10], embargo=-1)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 10), st.integers(0, 10), st.integers(20, 80))
def test_no_training_label_window_reaches_the_test_period(horizon, embargo, test_pos):
    cal = pd.bdate_range("2021-01-04", periods=100)
    decision = cal[:-horizon]
    label_end = cal[horizon:].to_numpy()
    keep = purged_train_mask(label_end, cal, cal[test_pos], embargo=embargo)
    kept_ends = pd.DatetimeIndex(label_end[keep])
    assert (kept_ends < cal[test_pos - embargo]).all()
    # and nothing usable is thrown away: the first dropped label ends at or after the cutoff
    dropped = pd.DatetimeIndex(label_end[~keep])
    assert (dropped >= cal[test_pos - embargo]).all()
    assert keep.sum() == max(test_pos - embargo - horizon, 0)
    assert len(decision) == len(label_end)


def test_unlabeled_samples_are_never_training_samples():
    cal = pd.bdate_range("2021-01-04", periods=10)
    ends = np.array([cal[1], np.datetime64("NaT")], dtype="datetime64[ns]")
    assert list(purged_train_mask(ends, cal, cal[5], embargo=0)) == [True, False]


def test_scaler_fits_train_only_and_round_trips_through_json():
    X = np.array([[1.0, 10.0], [3.0, 10.0], [np.nan, 10.0], [100.0, 10.0]])
    scaler = FeatureScaler(clip=3.0).fit(X[:3], ["a", "b"])
    assert scaler.mean_.tolist() == [2.0, 10.0]
    assert scaler.scale_.tolist() == [1.0, 1.0]  # constant column keeps scale 1
    z = scaler.transform(X)
    assert z.dtype == np.float32
    assert z[0, 0] == -1.0
    assert z[3, 0] == 3.0
    assert np.isnan(z[2, 0])
    again = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(again.transform(X), z)


def test_unfitted_scaler_refuses():
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureScaler().transform(np.zeros((1, 1)))
    with pytest.raises(ValueError, match="no finite training value"):
        FeatureScaler().fit(np.full((2, 1), np.nan), ["a"])
