import json
import math

import numpy as np
import pandas as pd
import pytest

from features.labels import forward_returns
from features.prices.sources.synthetic import SyntheticMarket
from models.evaluation.attribution import daily_rate
from models.evaluation.strategy import (
    VARIANTS,
    StrategyConfig,
    backtest_strategy,
    break_even_cost,
    drawdown,
    max_drawdown,
    performance,
    position_weights,
    strategy_returns,
    strategy_table,
)

DAYS = pd.bdate_range("2024-01-01", periods=7)
RET_A = [0.0, 0.10, 0.10, -0.10, 0.10, 0.0, 0.05]
RET_B = [0.0, -0.05, 0.05, 0.02, -0.04, 0.03, 0.01]


def two_tickers() -> pd.DataFrame:
    adj = np.r_[100 * np.cumprod(1 + np.array(RET_A)), 50 * np.cumprod(1 + np.array(RET_B))]
    return pd.DataFrame({"date": list(DAYS) * 2, "ticker": ["A"] * 7 + ["B"] * 7, "adj_close": adj})


def hand_predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [DAYS[0], DAYS[0], DAYS[1], DAYS[1]],
            "ticker": ["A", "B", "A", "B"],
            "predicted": ["up", "flat", "down", "up"],
        }
    )


def test_pnl_timing_weights_turnover_and_costs_on_a_hand_built_path():
    # lag 1, horizon 2, two tickers a day -> each prediction is a 1 / (2 * 2) = 0.25 slot.
    # Decision d0: entered at close d1, held d2 and d3 (A long, B flat).
    # Decision d1: entered at close d2, held d3 and d4 (A short, B long).
    config = StrategyConfig(cost_bps=10, neutral="none")  # the directional book: +1 up, -1 down
    res = backtest_strategy(hand_predictions(), two_tickers(), lag=1, horizon=2, config=config, n_boot=20)
    daily = res.daily
    assert list(daily["date"]) == list(DAYS[2:6])  # first holding day .. the exit trade after the last
    # Weights long/short: A = (0.25, 0.25 - 0.25, -0.25, 0) on d2..d5; B = (0, 0.25, 0.25, 0).
    gross = [0.25 * 0.10, 0.0 * -0.10 + 0.25 * 0.02, -0.25 * 0.10 + 0.25 * -0.04, 0.0]
    turnover = [0.25, 0.25 + 0.25, 0.25 + 0.0, 0.25 + 0.25]
    np.testing.assert_allclose(daily["long_short_gross"], gross)
    np.testing.assert_allclose(daily["long_short_turnover"], turnover)
    np.testing.assert_allclose(daily["long_short_net"], np.array(gross) - 0.001 * np.array(turnover))
    np.testing.assert_allclose(daily["long_short_exposure"], [0.25, 0.25, 0.5, 0.0])
    np.testing.assert_allclose(daily["long_short_net_exposure"], [0.25, 0.25, 0.0, 0.0])
    # Long only: A = (0.25, 0.25, 0, 0), B = (0, 0.25, 0.25, 0).
    np.testing.assert_allclose(daily["long_only_gross"], [0.025, 0.25 * -0.10 + 0.25 * 0.02, 0.25 * -0.04, 0.0])
    np.testing.assert_allclose(daily["long_only_turnover"], [0.25, 0.25, 0.25, 0.25])
    # Buy and hold: every prediction long -> A and B = (0.25, 0.5, 0.25, 0).
    np.testing.assert_allclose(
        daily["buy_and_hold_gross"], [0.25 * (0.10 + 0.05), 0.5 * (-0.10 + 0.02), 0.25 * (0.10 - 0.04), 0.0]
    )
    np.testing.assert_allclose(daily["buy_and_hold_turnover"], [0.5, 0.5, 0.5, 0.5])
    assert daily["n_tickers"].tolist() == [2, 2, 2, 0]
    pos = res.positions.set_index(["date", "ticker"])
    assert pos.loc[(DAYS[3], "A"), "long_short"] == 0.0
    assert pos.loc[(DAYS[4], "A"), "long_short"] == -0.25
    m = res.metrics["long_short"]
    assert m["total_return"] == pytest.approx(np.prod(1 + daily["long_short_net"]) - 1)
    assert m["gross_total_return"] == pytest.approx(np.prod(1 + np.array(gross)) - 1)
    assert m["turnover"] == pytest.approx(np.mean(turnover))
    assert m["hit_rate"] == pytest.approx(2 / 3)  # three days with a position: +, +, -
    assert m["break_even_cost_bps"] is None  # loses money before costs


def test_held_days_compound_to_the_label_forward_return():
    prices = SyntheticMarket(tickers=1, days=30, seed=3).fetch()
    lag, horizon, t = 2, 3, 10
    pred = pd.DataFrame({"date": [prices["date"].iloc[t]], "ticker": [prices["ticker"].iloc[t]], "predicted": ["up"]})
    res = backtest_strategy(pred, prices, lag=lag, horizon=horizon, config=StrategyConfig(cost_bps=0), n_boot=10)
    held = res.daily[res.daily["long_only_exposure"] > 0]
    assert list(held["date"]) == list(prices["date"].iloc[t + lag + 1 : t + lag + horizon + 1])
    np.testing.assert_allclose(held["long_only_exposure"], 1 / horizon)
    label = forward_returns(prices, horizon=horizon, lag=lag)["forward_return"].iloc[t]
    assert np.prod(1 + horizon * held["long_only_gross"].to_numpy()) - 1 == pytest.approx(label)
    assert res.metrics["long_short"]["total_return"] == 0.0  # one ticker: a dollar-neutral book holds nothing


def test_prediction_without_a_price_is_rejected():
    pred = hand_predictions().assign(ticker=["A", "C", "A", "B"])
    with pytest.raises(ValueError, match="without a price"):
        backtest_strategy(pred, two_tickers(), lag=1, horizon=2)
    with pytest.raises(ValueError, match="horizon"):
        backtest_strategy(hand_predictions(), two_tickers(), lag=1, horizon=0)


def test_max_drawdown_of_a_hand_path():
    r = np.array([0.1, -0.2, 0.05, -0.1, 0.3])
    # equity 1.1, 0.88, 0.924, 0.8316, 1.08108: peak 1.1, trough 0.8316
    assert max_drawdown(r) == pytest.approx(1 - 0.8316 / 1.1)
    np.testing.assert_allclose(drawdown(r), [0.0, -0.2, 0.924 / 1.1 - 1, 0.8316 / 1.1 - 1, 1.08108 / 1.1 - 1])
    assert max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(0.1)  # starting capital is a peak
    assert max_drawdown(np.array([0.01, 0.02])) == 0.0


def test_performance_hand_example():
    r = np.array([0.01, -0.02, 0.03, 0.0])
    p = performance(r, turnover=np.array([1.0, 0.0, 0.5, 0.5]), exposure=np.array([1.0, 1.0, 1.0, 0.0]))
    total = 1.01 * 0.98 * 1.03 - 1
    assert p["total_return"] == pytest.approx(total)
    assert p["annualised_return"] == pytest.approx((1 + total) ** (252 / 4) - 1)
    assert p["sharpe"] == pytest.approx(0.005 / np.std(r, ddof=1) * math.sqrt(252))
    assert p["sortino"] == pytest.approx(0.005 / math.sqrt(0.02**2 / 4) * math.sqrt(252))
    assert p["hit_rate"] == pytest.approx(2 / 3)  # the flat last day has no exposure
    assert p["turnover"] == 0.5
    assert p["annual_turnover"] == 126.0
    assert p["exposure"] == 0.75
    assert p["calmar"] == pytest.approx(p["annualised_return"] / 0.02)


def test_break_even_cost_zeroes_the_mean_net_return():
    gross = np.array([0.002, -0.001, 0.002])
    turnover = np.array([0.2, 0.2, 0.2])
    cost = break_even_cost(gross, turnover)
    assert cost == pytest.approx(50.0)  # 1e4 * 0.001 / 0.2
    assert np.mean(gross - cost * 1e-4 * turnover) == pytest.approx(0.0)
    assert break_even_cost(-gross, turnover) is None


def test_cost_sensitivity_and_tidy_table():
    prices = SyntheticMarket(tickers=4, days=120, seed=9).fetch()
    rng = np.random.default_rng(0)
    pred = prices.loc[prices["date"] < prices["date"].iloc[100], ["date", "ticker"]].reset_index(drop=True)
    pred["predicted"] = rng.choice(["down", "flat", "up"], len(pred))
    res = backtest_strategy(pred, prices, lag=1, horizon=5, config=StrategyConfig(cost_bps=5), n_boot=50)
    grid = res.cost_sensitivity
    assert sorted(grid["variant"].unique()) == sorted(VARIANTS)
    ls = grid[grid["variant"] == "long_short"].sort_values("cost_bps")
    assert ls["cost_bps"].tolist() == [0.0, 2.0, 5.0, 10.0, 20.0]
    assert ls["total_return"].is_monotonic_decreasing
    at5 = ls[ls["cost_bps"] == 5.0].iloc[0]
    assert at5["total_return"] == pytest.approx(res.metrics["long_short"]["total_return"])
    assert (res.daily["long_short_exposure"] <= 1 + 1e-12).all()
    np.testing.assert_allclose(res.daily["buy_and_hold_exposure"].iloc[10:90], 1.0)
    table = strategy_table(res)
    row = table[(table["metric"] == "sharpe") & (table["subject"] == "long_only") & (table["scope"] == "all")]
    assert row["value"].iloc[0] == pytest.approx(res.metrics["long_only"]["sharpe"])
    assert ((table["scope"] == "cost=20bps") & (table["metric"] == "sharpe")).sum() == 3
    json.dumps(res.to_json(), allow_nan=False)


def test_the_default_long_short_is_dollar_neutral_on_a_hand_built_path():
    # Same decisions as above; without probabilities the signals +1/0/-1 are demeaned per date and scaled to
    # the cohort's gross: d0 (A up, B flat) -> A +0.25, B -0.25; d1 (A down, B up) -> A -0.25, B +0.25.
    config = StrategyConfig(cost_bps=10, borrow_bps=252e4 / 1e4)  # 252 bps a year: 1e-4 a day per unit short
    res = backtest_strategy(hand_predictions(), two_tickers(), lag=1, horizon=2, config=config, n_boot=20)
    daily = res.daily
    gross = [0.25 * 0.10 - 0.25 * 0.05, 0.0, -0.25 * 0.10 + 0.25 * -0.04, 0.0]
    np.testing.assert_allclose(daily["long_short_gross"], gross, atol=1e-15)
    np.testing.assert_allclose(daily["long_short_net_exposure"], 0.0, atol=1e-15)
    np.testing.assert_allclose(daily["long_short_exposure"], [0.5, 0.0, 0.5, 0.0], atol=1e-15)
    np.testing.assert_allclose(daily["long_short_short_exposure"], [0.25, 0.0, 0.25, 0.0], atol=1e-15)
    turnover = [0.5, 0.5, 0.5, 0.5]
    np.testing.assert_allclose(daily["long_short_turnover"], turnover, atol=1e-15)
    borrow = 1e-4 * np.array([0.25, 0.0, 0.25, 0.0])
    np.testing.assert_allclose(daily["long_short_net"], np.array(gross) - 1e-3 * np.array(turnover) - borrow)
    assert res.metrics["long_short"]["net_exposure"] == pytest.approx(0.0, abs=1e-15)
    assert res.settings["borrow_bps"] == 252.0
    assert res.settings["neutral"] == "demean"
    with pytest.raises(ValueError, match="cost_bps"):
        StrategyConfig(cost_bps=-1)
    with pytest.raises(ValueError, match="extra"):
        StrategyConfig(costs=5)  # type: ignore[call-arg]


def _rising_market(seed: int, *, tickers: int = 20, days: int = 400, drift: float = 0.0015) -> pd.DataFrame:
    """A market that rises (drift a day) with a common factor: buy-and-hold has a large Sharpe."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.008, (days, 1))
    log_ret = drift + market + rng.normal(0, 0.01, (days, tickers))
    dates = pd.bdate_range("2020-01-01", periods=days)
    adj = 100 * np.exp(np.cumsum(log_ret, axis=0))
    return pd.DataFrame(
        {
            "date": np.tile(dates, tickers),
            "ticker": np.repeat([f"T{k:02d}" for k in range(tickers)], days),
            "adj_close": adj.T.ravel(),
        }
    )  # fmt: skip  (sorted by ticker, date: the canonical order)


def _predictions(prices: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
    """Predictions on every (date, ticker) but the last 10 days, with P(up) - P(down) = score (row-aligned with
    ``prices``; |score| < 2/3)."""
    keep = (prices["date"] < prices["date"].unique()[-10]).to_numpy()
    keys = prices.loc[keep, ["date", "ticker"]].reset_index(drop=True)
    s = np.asarray(score, dtype="float64")[keep]
    p_up, p_down = 1 / 3 + s / 2, 1 / 3 - s / 2
    pred = np.where(p_up > 1 / 3, "up", "down")
    return keys.assign(p_down=p_down, p_flat=1 / 3, p_up=p_up, predicted=pred)


def test_an_always_up_predictor_on_a_rising_market_has_no_active_sharpe():
    psr, old_psr = [], []
    for seed in range(6):
        prices = _rising_market(seed)
        rng = np.random.default_rng(100 + seed)
        preds = _predictions(prices, rng.uniform(0.01, 0.3, len(prices)))  # always up, confidence at random
        assert (preds["predicted"] == "up").all()
        free = StrategyConfig(cost_bps=0)  # before costs: (a random book's costs alone would push PSR to 0)
        res = backtest_strategy(preds, prices, lag=1, horizon=5, config=free, n_boot=50, seed=seed)
        m = res.metrics["long_short"]
        assert abs(m["net_exposure"]) < 1e-12
        assert abs(m["beta"]) < 0.1
        assert abs(m["active_sharpe"]) < 2.5  # noise: n = 385 days, sd of an annualised Sharpe ~ 0.8
        psr.append(m["psr"])
        assert res.metrics["buy_and_hold"]["sharpe"] > 1.5  # the market did rise
        assert res.metrics["long_only"]["beta"] == pytest.approx(1.0)  # long only = the market here
        assert res.metrics["long_only"]["psr"] is None or math.isnan(res.metrics["long_only"]["psr"])
        old = backtest_strategy(
            preds, prices, lag=1, horizon=5, config=free.model_copy(update={"neutral": "none"}), n_boot=50
        )
        old_psr.append(probabilistic_psr_of_total(old))
    assert 0.2 < float(np.mean(psr)) < 0.8, psr
    assert min(old_psr) > 0.98  # what the directional book's total-return PSR used to claim


def probabilistic_psr_of_total(result) -> float:
    from models.evaluation.significance import probabilistic_sharpe_ratio

    return probabilistic_sharpe_ratio(result.daily["long_short_net"].to_numpy())["psr"]


def test_a_planted_cross_sectional_signal_earns_alpha_with_no_beta():
    prices = _rising_market(3)
    fwd = forward_returns(prices, horizon=5, lag=1)["forward_return"].to_numpy()
    rng = np.random.default_rng(0)
    z = np.nan_to_num(fwd) + rng.normal(0, 0.03, len(fwd))  # a noisy view of the next 5 days
    res = backtest_strategy(_predictions(prices, np.clip(z, -0.3, 0.3)), prices, lag=1, horizon=5, n_boot=200)
    m = res.metrics["long_short"]
    assert m["alpha"] > 0.05
    assert abs(m["beta"]) < 0.05
    assert m["psr"] > 0.99
    assert m["sharpe_ci"]["lower"] > 0
    assert m["dsr"] == m["psr"]  # one trial


def test_the_risk_free_rate_lowers_sharpe_and_alpha():
    prices = _rising_market(4, tickers=5, days=200)
    preds = _predictions(prices, np.random.default_rng(2).uniform(-0.3, 0.3, len(prices)))
    plain = backtest_strategy(preds, prices, lag=1, horizon=5, n_boot=20)
    rf = backtest_strategy(preds, prices, lag=1, horizon=5, config=StrategyConfig(risk_free=0.05), n_boot=20)
    r = plain.daily["long_only_net"].to_numpy()
    daily_rf = daily_rate(0.05)
    assert rf.metrics["long_only"]["sharpe"] == pytest.approx((r - daily_rf).mean() / r.std(ddof=1) * math.sqrt(252))
    assert rf.metrics["long_only"]["sharpe"] < plain.metrics["long_only"]["sharpe"]
    assert rf.metrics["long_short"]["alpha"] != pytest.approx(plain.metrics["long_short"]["alpha"])


def test_barrier_exits_close_the_position_at_the_touch_day():
    # one ticker; decision on day 0, lag 1: entry at the close of day 1, horizon 4. The label's barrier was
    # touched on day 2 of the hold (hold_days=2): the position earns days 2 and 3 and is cash afterwards.
    closes = [100.0, 100.0, 110.0, 121.0, 60.5, 30.25, 30.25]
    prices = pd.DataFrame({"date": pd.bdate_range("2021-01-04", periods=7), "ticker": "AAA", "adj_close": closes})
    preds = pd.DataFrame({"date": prices["date"].iloc[:1], "ticker": ["AAA"], "predicted": ["up"], "hold_days": [2]})
    weights = position_weights(
        np.array([1.0]), np.array([0]), preds["date"].to_numpy(), prices["ticker"].to_numpy(),
        lag=1, horizon=4, hold_days=np.array([2]),
    )  # fmt: skip
    np.testing.assert_allclose(weights, [0, 0, 0.25, 0.25, 0, 0, 0])
    daily, _ = strategy_returns(preds, prices, lag=1, horizon=4, config=StrategyConfig(cost_bps=0.0, neutral="none"))
    gross = daily.set_index("date")["long_only_gross"]
    np.testing.assert_allclose(gross.to_numpy(), [0.25 * 0.1, 0.25 * 0.1, 0.0])  # never the -50% days
    held = strategy_returns(preds.drop(columns="hold_days"), prices, lag=1, horizon=4,
                            config=StrategyConfig(cost_bps=0.0, neutral="none"))[0]  # fmt: skip
    np.testing.assert_allclose(held["long_only_gross"].to_numpy(), [0.025, 0.025, -0.125, -0.125, 0.0])
    with pytest.raises(ValueError, match=r"hold_days must hold 1 values in 1\.\.horizon=4"):
        position_weights(np.array([1.0]), np.array([0]), preds["date"].to_numpy(), prices["ticker"].to_numpy(),
                         lag=1, horizon=4, hold_days=np.array([5]))  # fmt: skip
