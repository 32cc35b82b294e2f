"""cross_sectional_rank: percentile ranks within each date, ties averaged, NaN kept."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.cross_section import cross_sectional_rank


def test_ranks_within_each_date() -> None:
    dates = np.array(["d1", "d1", "d1", "d2", "d2", "d3"])
    values = np.array([3.0, 1.0, 2.0, 5.0, 5.0, 7.0])

    ranks = cross_sectional_rank(values, dates)

    # d1: 1 < 2 < 3 -> 0, 0.5, 1; d2: a tie -> both average rank 1.5 of 2 -> 0.5; d3 alone -> 0.5
    np.testing.assert_allclose(ranks, [1.0, 0.0, 0.5, 0.5, 0.5, 0.5])


def test_nan_is_not_counted_and_stays_nan() -> None:
    dates = np.array([1, 1, 1])
    ranks = cross_sectional_rank(np.array([np.nan, 4.0, 2.0]), dates)
    assert np.isnan(ranks[0])
    np.testing.assert_allclose(ranks[1:], [1.0, 0.0])


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        cross_sectional_rank(np.array([1.0, 2.0]), np.array([1]))


def test_zscore_within_each_date_robust_to_one_ticker_and_zero_spread() -> None:
    from features.cross_section import cross_sectional_zscore

    dates = np.array(["d1", "d1", "d1", "d2", "d2", "d3", "d4", "d4"])
    values = np.array([1.0, 2.0, 3.0, 5.0, 5.0, 7.0, np.nan, 4.0])
    z = cross_sectional_zscore(values, dates)
    s = np.sqrt(2 / 3)  # population std of 1, 2, 3
    np.testing.assert_allclose(z[:3], [-1 / s, 0.0, 1 / s])
    np.testing.assert_array_equal(z[3:6], [0.0, 0.0, 0.0])  # zero spread, then alone on d3
    assert np.isnan(z[6])
    assert z[7] == 0.0


def test_rank_norm_is_the_centred_rank_scaled_to_unit_std() -> None:
    from features.cross_section import cross_sectional_rank_norm

    dates = np.zeros(5, dtype=int)
    got = cross_sectional_rank_norm(np.array([3.0, 1.0, 2.0, 5.0, 4.0]), dates)
    np.testing.assert_allclose(got, (np.array([0.5, 0.0, 0.25, 1.0, 0.75]) - 0.5) * np.sqrt(12))
    big = cross_sectional_rank_norm(np.random.default_rng(0).normal(size=10_001), np.zeros(10_001))
    assert abs(big.std() - 1.0) < 1e-3
    assert abs(big.mean()) < 1e-12


def test_normalise_skips_columns_and_names_a_bad_method() -> None:
    from features.cross_section import cross_sectional_normalise, cross_sectional_zscore

    X = np.array([[1.0, 10.0], [3.0, 20.0], [2.0, 30.0]])
    dates = np.array([1, 1, 2])
    out = cross_sectional_normalise(X, dates, method="zscore", skip=[1])
    np.testing.assert_array_equal(out[:, 1], X[:, 1])
    np.testing.assert_array_equal(out[:, 0], cross_sectional_zscore(X[:, 0], dates))
    np.testing.assert_array_equal(cross_sectional_normalise(X, dates, method="none"), X)
    with pytest.raises(ValueError, match="method='minmax'"):
        cross_sectional_normalise(X, dates, method="minmax")


@settings(max_examples=20, deadline=None)
@given(st.integers(30, 60), st.integers(5, 55), st.sampled_from(["zscore", "rank"]), st.integers(0, 2**16))
def test_cs_norm_features_ignore_prices_after_their_date(n, cut, method, seed) -> None:
    """No look-ahead: changing every price after a day changes no cs-normalised feature of that day or before."""
    import pandas as pd

    from features.dataset import DatasetConfig, build_panel
    from features.frame import canonicalize
    from tests.support import make_prices

    rng = np.random.default_rng(seed)
    paths = {f"T{i}": list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))) for i in range(5)}
    paths["T5"] = list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n - 7))))  # ends early
    prices = canonicalize(make_prices(paths))
    cut_date = pd.bdate_range("2020-01-01", periods=n)[min(cut, n - 1)]
    later = (prices["date"] > cut_date).to_numpy()
    changed = prices.copy()
    for col in ("open", "high", "low", "close", "adj_close", "volume"):
        changed.loc[later, col] = prices.loc[later, col] * rng.uniform(0.8, 1.25, int(later.sum()))
    config = DatasetConfig(features=("ret_1", "ret_5", "vol_20", "rel_close", "rel_volume"), cs_norm=method)
    before, after = build_panel(prices, config), build_panel(changed, config)
    past = ~later
    np.testing.assert_array_equal(before.X[past], after.X[past])
    np.testing.assert_array_equal(before.window_ok[past], after.window_ok[past])
    finite = np.isfinite(before.X[:, 0])
    assert not np.array_equal(before.X[later & finite], after.X[later & finite]) or not (later & finite).any()
