from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.frame import canonicalize
from features.segments import DEFAULT_MAX_GAP, Segments, segment_starts
from tests.support import make_prices

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "prices.parquet"


def test_gaps_are_counted_in_business_days():
    # Fri -> Mon is 1 business day; 10 Sep 2001 -> 17 Sep 2001 (the 9/11 closure) is 5; 6 is a gap.
    dates = pd.to_datetime(["2001-09-07", "2001-09-10", "2001-09-17", "2001-09-25", "2001-09-26"]).to_numpy()
    codes = np.array([0, 0, 0, 0, 1])
    assert list(segment_starts(codes, dates, max_gap=5)) == [True, False, False, True, True]
    assert list(segment_starts(codes, dates, max_gap=6)) == [True, False, False, False, True]
    assert list(segment_starts(codes, dates, max_gap=4)) == [True, False, True, True, True]
    with pytest.raises(ValueError, match="max_gap=0"):
        segment_starts(codes, dates, max_gap=0)


def test_segment_layout_positions_and_rows_left():
    seg = Segments.from_starts(np.array([True, False, False, True, False, True]))
    assert seg.codes.tolist() == [0, 0, 0, 1, 1, 2]
    assert seg.pos.tolist() == [0, 1, 2, 0, 1, 0]
    assert seg.left.tolist() == [2, 1, 0, 1, 0, 0]


def test_shift_never_reads_another_segment():
    seg = Segments.from_starts(np.array([True, False, False, True, False]))
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(seg.shift(v, 1), [np.nan, 1, 2, np.nan, 4])
    np.testing.assert_array_equal(seg.shift(v, -1), [2, 3, np.nan, 5, np.nan])
    np.testing.assert_array_equal(seg.shift(v, -2), [3, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(seg.shift(v, 9), [np.nan] * 5)
    d = pd.bdate_range("2020-01-01", periods=5).to_numpy()
    assert np.isnat(seg.shift_dates(d, -1)[[2, 4]]).all()
    assert seg.shift_dates(d, -1)[0] == d[1]


def test_rolling_restarts_in_each_segment():
    seg = Segments.from_starts(np.array([True, False, False, True, False, False]))
    v = np.array([1.0, 2.0, 4.0, 10.0, 20.0, 40.0])
    np.testing.assert_array_equal(seg.rolling(v, 2, "mean"), [np.nan, 1.5, 3.0, np.nan, 15.0, 30.0])
    np.testing.assert_array_equal(seg.rolling(v, 3, "max"), [np.nan, np.nan, 4.0, np.nan, np.nan, 40.0])
    np.testing.assert_allclose(seg.rolling(v, 2, "std", ddof=0), [np.nan, 0.5, 1.0, np.nan, 5.0, 10.0])


def test_smooth_is_the_sma_seeded_recursion_per_segment():
    seg = Segments.from_starts(np.array([True, False, False, False, True, False, False, False]))
    v = np.array([np.nan, 2.0, 4.0, 8.0, np.nan, 1.0, 1.0, 4.0])
    out = seg.smooth(v, alpha=0.5, window=2, first=1)
    # seed at position first + window - 1 = 2: mean(2, 4) = 3; then 0.5 * 3 + 0.5 * 8 = 5.5
    np.testing.assert_array_equal(out, [np.nan, np.nan, 3.0, 5.5, np.nan, np.nan, 1.0, 2.5])
    with pytest.raises(ValueError, match="alpha"):
        seg.smooth(v, alpha=0.0, window=2)


def test_unsorted_prices_are_refused():
    prices = canonicalize(make_prices({"A": [1.0, 2.0], "B": [3.0, 4.0]}))
    with pytest.raises(ValueError, match="sorted"):
        Segments.of(prices.iloc[[0, 2, 1, 3]].reset_index(drop=True))  # tickers interleaved
    with pytest.raises(ValueError, match="sorted"):
        Segments.of(prices.iloc[[1, 0, 2, 3]].reset_index(drop=True))  # dates backwards


def test_the_bundled_sample_has_no_gap_under_the_default_rule():
    prices = pd.read_parquet(SAMPLE)
    seg = Segments.of(prices, max_gap=DEFAULT_MAX_GAP)
    assert seg.codes.max() + 1 == prices["ticker"].nunique()
    assert Segments.of(prices, max_gap=4).codes.max() + 1 > prices["ticker"].nunique()  # 9/11 is exactly 5
