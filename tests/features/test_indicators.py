import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import make_prices

from features.frame import canonicalize
from features.indicators import DEFAULT_FEATURES, compute_features, realised_vol, volume_zscore

PATH = [100.0, 102.0, 101.0, 105.0, 104.0, 108.0, 110.0, 107.0]


def test_log_returns_match_hand_values_and_never_cross_tickers():
    prices = canonicalize(make_prices({"A": PATH, "B": [50.0, 51.0, 52.0]}))
    f = compute_features(prices, names=["ret_1", "ret_5"])
    a, b = f[f["ticker"] == "A"], f[f["ticker"] == "B"]
    assert np.isnan(a["ret_1"].iloc[0])
    assert np.isnan(b["ret_1"].iloc[0])
    assert a["ret_1"].iloc[1] == pytest.approx(np.log(102 / 100), abs=1e-12)
    assert a["ret_5"].iloc[5] == pytest.approx(np.log(108 / 100), abs=1e-12)
    assert a["ret_5"].iloc[:5].isna().all()
    assert b["ret_1"].iloc[2] == pytest.approx(np.log(52 / 51), abs=1e-12)


def test_realised_vol_and_ma_distance_hand_values():
    prices = canonicalize(make_prices({"A": PATH}))
    vol = realised_vol(prices, window=3)
    r = np.diff(np.log(PATH))
    assert vol.iloc[3] == pytest.approx(np.std(r[0:3], ddof=1), abs=1e-12)
    assert vol.iloc[7] == pytest.approx(np.std(r[4:7], ddof=1), abs=1e-12)
    from features.indicators import ma_distance

    assert ma_distance(prices, window=4).iloc[4] == pytest.approx(104 / np.mean(PATH[1:5]) - 1, abs=1e-12)


def test_volume_zscore_is_zero_for_constant_volume_and_handles_zero():
    prices = canonicalize(make_prices({"A": PATH}, volume=0.0))
    z = volume_zscore(prices, window=3)
    assert z.iloc[:2].isna().all()
    assert (z.iloc[2:] == 0.0).all()


def test_unknown_feature_is_named():
    prices = canonicalize(make_prices({"A": PATH}))
    with pytest.raises(ValueError, match="bogus"):
        compute_features(prices, names=["ret_1", "bogus"])


@st.composite
def price_paths(draw):
    n_tickers = draw(st.integers(1, 3))
    n = draw(st.integers(25, 60))
    closes = {}
    for i in range(n_tickers):
        steps = draw(st.lists(st.floats(-0.08, 0.08), min_size=n, max_size=n))
        closes[f"T{i}"] = list(100 * np.exp(np.cumsum(steps)))
    cut = draw(st.integers(1, n - 1))
    return closes, cut


@settings(max_examples=40, deadline=None)
@given(price_paths())
def test_features_up_to_a_cut_ignore_everything_after_it(case):
    """No look-ahead: every feature at dates <= cut is identical with or without later rows."""
    closes, cut = case
    full = canonicalize(make_prices(closes))
    full["volume"] = np.arange(len(full)) % 7 + 1.0
    cut_date = pd.bdate_range("2020-01-01", periods=cut)[-1]
    past = full[full["date"] <= cut_date].reset_index(drop=True)
    f_full = compute_features(full, names=DEFAULT_FEATURES)
    f_past = compute_features(past, names=DEFAULT_FEATURES)
    expected = f_full[f_full["date"] <= cut_date].reset_index(drop=True)
    pd.testing.assert_frame_equal(f_past, expected, check_exact=True)
