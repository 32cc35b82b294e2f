"""Indicators of features/technical.py on hand-built paths, with values worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from features.frame import canonicalize
from features.technical import (
    adjusted_ohlc,
    bollinger,
    dollar_volume_change,
    drawdown,
    intraday_range,
    log_return,
    ma_distance,
    macd,
    realised_vol,
    rsi,
    volume_zscore,
)
from tests.support import make_prices

CLOSES = [10.0, 11.0, 12.0, 9.0, 9.0]


def _prices(closes: dict[str, list[float]] | None = None) -> pd.DataFrame:
    return canonicalize(make_prices(closes or {"A": CLOSES, "B": [5.0] * 5}))


def test_log_returns_restart_at_each_ticker() -> None:
    ret = log_return(_prices(), periods=2).to_numpy()
    np.testing.assert_allclose(ret[2:5], np.log([12 / 10, 9 / 11, 9 / 12]))
    assert np.isnan(ret[[0, 1, 5, 6]]).all()  # B's first rows never see A's closes
    np.testing.assert_allclose(ret[7:], 0.0)


def test_realised_vol_is_the_sample_std_of_daily_log_returns() -> None:
    vol = realised_vol(_prices(), window=3).to_numpy()
    r = np.log(np.array(CLOSES[1:]) / np.array(CLOSES[:-1]))
    np.testing.assert_allclose(vol[3:5], [np.std(r[0:3], ddof=1), np.std(r[1:4], ddof=1)])
    assert np.isnan(vol[:3]).all()
    np.testing.assert_allclose(vol[8:], 0.0)


def test_range_drawdown_and_distance_to_the_average() -> None:
    prices = _prices()
    np.testing.assert_allclose(intraday_range(prices), np.log(1.01 / 0.99))  # make_prices: high/low ±1%
    np.testing.assert_allclose(drawdown(prices, window=3).to_numpy()[2:5], [0.0, 9 / 12 - 1, 9 / 12 - 1])
    np.testing.assert_allclose(
        ma_distance(prices, window=2).to_numpy()[1:5], [11 / 10.5 - 1, 12 / 11.5 - 1, 9 / 10.5 - 1, 0]
    )


def test_rsi_is_100_when_only_rising_0_when_only_falling_and_50_when_flat() -> None:
    prices = _prices({"UP": [1.0, 2.0, 3.0, 4.0], "DOWN": [4.0, 3.0, 2.0, 1.0], "FLAT": [2.0] * 4})
    value = rsi(prices, window=2).to_numpy()
    # tickers sort DOWN, FLAT, UP; the first value is at the second change (row 2 of each)
    np.testing.assert_allclose(value[[2, 3, 6, 7, 10, 11]], [0.0, 0.0, 50.0, 50.0, 100.0, 100.0])
    assert np.isnan(value[[0, 1, 4, 5, 8, 9]]).all()


def test_adjusted_ohlc_scales_by_the_adjustment_factor() -> None:
    prices = _prices({"A": [10.0, 20.0]}).assign(adj_close=[5.0, 10.0])
    ohlc = adjusted_ohlc(prices)
    np.testing.assert_allclose(ohlc["close"], [5.0, 10.0])
    np.testing.assert_allclose(ohlc["high"], [5.05, 10.1])
    np.testing.assert_allclose(ohlc["low"], [4.95, 9.9])


def test_bollinger_volume_and_dollar_volume_on_constant_inputs() -> None:
    flat = _prices({"A": [5.0] * 6})
    bands = bollinger(flat, window=3)
    np.testing.assert_allclose(bands["pctb"].to_numpy()[2:], 0.5)  # zero-width band: the middle
    np.testing.assert_allclose(bands["width"].to_numpy()[2:], 0.0)
    np.testing.assert_allclose(volume_zscore(flat, window=3).to_numpy()[2:], 0.0)
    np.testing.assert_allclose(dollar_volume_change(flat, window=2).to_numpy()[3:], 0.0)
    assert np.isnan(dollar_volume_change(flat, window=2).to_numpy()[:3]).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: log_return(p, periods=0), "periods must be >= 1, got periods=0"),
        (lambda p: rsi(p, window=0), "window must be >= 1, got window=0"),
        (lambda p: macd(p, fast=26, slow=12), "fast must be < slow, got fast=26 slow=12"),
        (lambda p: bollinger(p, k=0), "k must be > 0, got k=0"),
    ],
)
def test_bad_settings_name_the_argument(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call(_prices())
