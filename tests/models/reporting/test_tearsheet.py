"""Tear-sheet figures on hand-built series with exact expected values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.reporting.tearsheet import (
    drawdown_periods,
    monthly_returns,
    return_distribution,
    rolling_risk,
    trading_stats,
    yearly_returns,
)


def _returns(values: list[float], start: str = "2020-01-29") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype="float64")


def test_monthly_and_yearly_returns_compound_within_each_period():
    # 2020-01-29..31 (3 days in January), then 2020-02-03, 02-04
    r = _returns([0.1, -0.1, 0.0, 0.05, 0.05])
    table = monthly_returns(r)
    assert table.loc[2020, 1] == pytest.approx(1.1 * 0.9 - 1)
    assert table.loc[2020, 2] == pytest.approx(1.05**2 - 1)
    assert np.isnan(table.loc[2020, 3])
    assert list(table.columns) == list(range(1, 13))
    assert yearly_returns(r).loc[2020] == pytest.approx(1.1 * 0.9 * 1.05**2 - 1)


def test_drawdown_periods_find_start_trough_recovery_depth_and_length():
    # equity 1.1, 0.99, 0.88, 1.1 (recovered), 1.21, 1.089 (under water at the end)
    r = _returns([0.1, -0.1, -1 / 9, 0.25, 0.1, -0.1])
    d = drawdown_periods(r, top=5)
    dates = r.index
    assert len(d) == 2
    first = d.iloc[0]
    assert first["depth"] == pytest.approx(0.88 / 1.1 - 1)
    assert (first["start"], first["trough"], first["recovery"]) == (dates[0], dates[2], dates[3])
    assert first["length"] == 3
    second = d.iloc[1]
    assert second["depth"] == pytest.approx(-0.1)
    assert second["start"] == dates[4]
    assert pd.isna(second["recovery"])
    assert second["length"] == 1
    assert len(drawdown_periods(r, top=1)) == 1
    with pytest.raises(ValueError, match="top"):
        drawdown_periods(r, top=0)


def test_rolling_risk_and_distribution():
    r = _returns([0.01, -0.01, 0.02, 0.0, 0.01])
    risk = rolling_risk(r, window=3, periods_per_year=4)
    window = np.array([0.01, -0.01, 0.02])
    assert np.isnan(risk["sharpe"].iloc[1])
    assert risk["sharpe"].iloc[2] == pytest.approx(window.mean() / window.std(ddof=1) * 2)
    assert risk["volatility"].iloc[2] == pytest.approx(window.std(ddof=1) * 2)
    dist = return_distribution(_returns([-0.02, -0.01, 0.0, 0.01, 0.02]))
    assert dist["skew"] == pytest.approx(0.0)
    assert dist["excess_kurtosis"] == pytest.approx(np.mean(np.array([-2, -1, 0, 1, 2]) ** 4) / 2**2 - 3)
    assert dist["worst_day"] == -0.02
    assert dist["best_day"] == 0.02


def test_trading_stats_count_changes_holding_periods_and_profit_factor():
    dates = pd.bdate_range("2021-01-04", periods=4)
    daily = pd.DataFrame({
        "date": dates, "v_net": [0.02, -0.01, 0.0, 0.01], "v_turnover": [1.0, 0.0, 2.0, 0.0],
        "v_exposure": [1.0, 1.0, 1.0, 0.0], "v_net_exposure": [1.0, 1.0, -1.0, 0.0],
    })  # fmt: skip
    # A: long days 0-1, short day 2, flat day 3; B: no position
    positions = pd.DataFrame({"date": dates[:3], "ticker": "A", "v": [1.0, 1.0, -1.0]})
    stats = trading_stats(daily, positions, variant="v", periods_per_year=4)
    assert stats["position_changes"] == 3  # open long, flip short, close
    assert stats["average_holding_days"] == pytest.approx(1.5)  # 3 held days over 2 entries
    assert stats["annual_turnover"] == pytest.approx(3.0)
    assert stats["profit_factor"] == pytest.approx(0.03 / 0.01)
    assert stats["position_changes_per_year"] == pytest.approx(3.0)
