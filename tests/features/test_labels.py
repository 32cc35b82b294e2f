import numpy as np
import pandas as pd
import pytest
from support import make_prices

from features.frame import canonicalize
from features.labels import UNLABELED, LabelConfig, bucket, class_balance, forward_returns, make_labels


def test_forward_return_timing_is_entry_at_t_plus_lag_exit_at_t_plus_lag_plus_horizon():
    path = [100.0, 101.0, 103.0, 99.0, 104.0, 110.0, 108.0]
    prices = canonicalize(make_prices({"A": path}))
    fwd = forward_returns(prices, horizon=2, lag=1)
    # decision at t=0: enter at close 1 (101), exit at close 3 (99)
    assert fwd["forward_return"].iloc[0] == pytest.approx(99 / 101 - 1, abs=1e-15)
    assert fwd["forward_return"].iloc[3] == pytest.approx(108 / 104 - 1, abs=1e-15)
    assert fwd["label_end"].iloc[0] == prices["date"].iloc[3]
    # the last lag + horizon rows have no label, ever
    assert fwd["forward_return"].iloc[-3:].isna().all()
    assert fwd["label_end"].iloc[-3:].isna().all()


def test_lag_zero_enters_at_the_decision_close():
    prices = canonicalize(make_prices({"A": [100.0, 110.0, 121.0]}))
    fwd = forward_returns(prices, horizon=1, lag=0)
    np.testing.assert_allclose(fwd["forward_return"].iloc[:2], [0.1, 0.1])


def test_bucket_classes_with_ties_at_the_band_edge_flat():
    r = np.array([-0.05, -0.01, -0.0099, 0.0, 0.01, 0.0101, np.nan])
    assert list(bucket(r, band=0.01)) == [0, 1, 1, 1, 1, 2, UNLABELED]


def test_labels_never_cross_tickers():
    prices = canonicalize(make_prices({"A": [100.0, 150.0, 200.0], "B": [10.0, 10.0, 10.0, 10.0]}))
    lab = make_labels(prices, LabelConfig(horizon=1, lag=1, band=0.01))
    a = lab[lab["ticker"] == "A"]
    assert list(a["label"]) == [2, UNLABELED, UNLABELED]  # A's tail must not borrow B's prices
    assert list(lab[lab["ticker"] == "B"]["label"]) == [1, 1, UNLABELED, UNLABELED]


def test_class_balance_and_config_validation():
    assert class_balance(np.array([0, 0, 1, 2, -1])) == {"down": 0.5, "flat": 0.25, "up": 0.25}
    with pytest.raises(ValueError, match="horizon"):
        LabelConfig(horizon=0)
    with pytest.raises(ValueError, match="band"):
        LabelConfig(band=-0.1)


def test_appending_future_rows_only_fills_in_missing_labels():
    path = list(100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.02, 40))))
    full = canonicalize(make_prices({"A": path}))
    short = full.iloc[:30].reset_index(drop=True)
    cfg = LabelConfig(horizon=5, lag=1)
    a, b = make_labels(short, cfg), make_labels(full, cfg).iloc[:30]
    known = a["label"] != UNLABELED
    assert known.sum() == 30 - 6
    pd.testing.assert_series_equal(a.loc[known, "label"], b.loc[known, "label"])
