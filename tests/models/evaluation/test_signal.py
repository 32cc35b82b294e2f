"""Signal figures of a score: IC over time and by year, quintile returns, rank autocorrelation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.evaluation.signal import ic_by_year, ic_series, quantile_returns, score_autocorrelation


def _panel(n_dates: int = 6, n_tickers: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dates = np.repeat(pd.bdate_range("2019-12-30", periods=n_dates).to_numpy(), n_tickers)
    tickers = np.tile(np.array([f"T{i}" for i in range(n_tickers)]), n_dates)
    scores = np.tile(np.arange(n_tickers, dtype="float64"), n_dates)
    return dates, tickers, scores


def test_a_score_equal_to_the_return_has_ic_one_and_sorted_quintiles():
    dates, _, scores = _panel()
    returns = scores / 100
    series = ic_series(dates, scores, returns, window=2)
    assert np.allclose(series["ic"], 1.0)
    assert np.allclose(series["rank_ic_rolling"], 1.0)
    years = ic_by_year(dates, scores, returns)
    assert list(years.index) == [2019, 2020]
    assert years.loc[2019, "n_dates"] == 2
    assert years.loc[2020, "ic"] == pytest.approx(1.0)
    q = quantile_returns(dates, scores, returns)
    assert q["mean_return"].tolist() == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
    assert q["n"].tolist() == [6] * 5


def test_quantiles_spread_few_tickers_and_leave_empty_ones_nan():
    dates = np.array(["2020-01-01"] * 2, dtype="datetime64[ns]")
    q = quantile_returns(dates, np.array([1.0, 2.0]), np.array([-0.01, 0.03]))
    assert q["n"].tolist() == [0, 0, 1, 0, 1]  # ranks 1, 2 of 2 -> ceil(2.5), ceil(5)
    assert q.loc[5, "mean_return"] == pytest.approx(0.03)
    assert np.isnan(q.loc[1, "mean_return"])


def test_rank_autocorrelation_is_one_for_a_fixed_ranking_and_minus_one_when_it_reverses():
    dates, tickers, scores = _panel()
    assert score_autocorrelation(dates, tickers, scores, lags=(1, 2)).tolist() == pytest.approx([1.0, 1.0])
    flipping = np.where(np.repeat(np.arange(6) % 2, 5) == 1, -scores, scores)
    auto = score_autocorrelation(dates, tickers, flipping, lags=(1, 2))
    assert auto.loc[1] == pytest.approx(-1.0)
    assert auto.loc[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lags"):
        score_autocorrelation(dates, tickers, scores, lags=(0,))
