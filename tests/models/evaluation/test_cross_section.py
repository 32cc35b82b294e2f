"""Qlib's cross-sectional table: IC, ICIR, Rank IC, Rank ICIR, per year, and the top-k book against the universe."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.evaluation.config import StrategyConfig
from models.evaluation.cross_section import (
    cross_section_report,
    cross_section_table,
    excess_figures,
    ic_figures,
)
from models.evaluation.ranking import daily_ic

TICKERS = ["A", "B", "C", "D"]


def _prices(dates: pd.DatetimeIndex, growth: dict[str, list[float]]) -> pd.DataFrame:
    """Closes compounding each ticker's daily returns (the first close is 100)."""
    rows = []
    for t, rets in growth.items():
        close = 100 * np.cumprod([1.0, *(1 + np.asarray(rets))])
        rows += [(d, t, c) for d, c in zip(dates, close, strict=True)]
    return pd.DataFrame(rows, columns=["date", "ticker", "adj_close"])


def _predictions(dates: pd.DatetimeIndex, scores: list[list[float]], fwd: list[list[float]]) -> pd.DataFrame:
    rows = []
    for d, s_day, r_day in zip(dates, scores, fwd, strict=True):
        rows += [(d, t, s, r) for t, s, r in zip(TICKERS, s_day, r_day, strict=True)]
    frame = pd.DataFrame(rows, columns=["date", "ticker", "score", "forward_return"])
    # P(up) - P(down) = score
    return frame.assign(p_down=0.3 - frame["score"] / 2, p_up=0.3 + frame["score"] / 2, p_flat=0.4,
                        predicted="up").drop(columns="score")  # fmt: skip


def test_ic_icir_rank_ic_on_a_constructed_example():
    dates = pd.bdate_range("2021-01-04", periods=4)
    up = [0.1, 0.2, 0.3, 0.4]
    # forward returns in the score's order on dates 1, 2 and 4 (IC = rank IC = 1), reversed on date 3 (-1)
    fwd = [[0.01, 0.02, 0.03, 0.04]] * 2 + [[0.04, 0.03, 0.02, 0.01], [0.01, 0.02, 0.03, 0.04]]
    figs = ic_figures(daily_ic(np.repeat(dates.to_numpy(), 4), np.tile(up, 4), np.ravel(fwd)), horizon=1)
    # daily ICs 1, 1, -1, 1: mean 0.5, std (ddof 1) 1, so ICIR 0.5
    assert figs["ic"] == pytest.approx(0.5)
    assert figs["rank_ic"] == pytest.approx(0.5)
    assert figs["icir"] == pytest.approx(0.5)
    assert figs["rank_icir"] == pytest.approx(0.5)
    assert figs["n_dates"] == 4
    assert math.isfinite(figs["ic_t_stat"])
    prices = _prices(pd.bdate_range("2021-01-04", periods=6), {t: [0.0] * 5 for t in TICKERS})
    report = cross_section_report(_predictions(dates, [up] * 4, fwd), prices, lag=0, horizon=1)
    assert report.summary["meaningful"] is True
    assert report.summary["overall"]["ic"] == pytest.approx(0.5)
    assert report.summary["overall"]["rank_icir"] == pytest.approx(0.5)
    assert report.ic["ic"].tolist() == pytest.approx([1, 1, -1, 1])


def test_each_baselines_ic_is_given_beside_the_models():
    dates = pd.bdate_range("2021-01-04", periods=4)
    fwd = [[0.01, 0.02, 0.03, 0.04], [0.04, 0.03, 0.02, 0.01], [0.01, 0.03, 0.02, 0.04], [0.02, 0.01, 0.04, 0.03]]
    predictions = _predictions(dates, [[0.1, 0.2, 0.3, 0.4]] * 4, fwd)
    r = np.ravel(fwd)
    oracle = np.column_stack([-r, np.zeros_like(r), r])  # P(up) - P(down) = 2r: ranks every date right
    prior = np.tile([0.3, 0.4, 0.3], (len(r), 1))  # the same score for every ticker: no cross-section
    prices = _prices(pd.bdate_range("2021-01-04", periods=6), {t: [0.0] * 5 for t in TICKERS})
    report = cross_section_report(predictions, prices, lag=0, horizon=1, baselines={"oracle": oracle, "prior": prior})
    figures = report.summary["baselines"]
    assert figures["oracle"]["ic"] == pytest.approx(1.0)
    assert figures["oracle"]["rank_ic"] == pytest.approx(1.0)
    assert figures["oracle"]["n_dates"] == 4
    assert figures["prior"]["n_dates"] == 0
    assert figures["prior"]["ic"] is None  # NaN, stored as JSON null
    assert report.summary["overall"]["ic"] < 0.5  # the model's fixed ranking is right on one date in four
    table = cross_section_table(report.summary)
    oracle_ic = table.loc[(table["subject"] == "oracle") & (table["metric"] == "cs_ic"), ["scope", "value"]]
    assert oracle_ic.values.tolist() == [["all", pytest.approx(1.0)]]


def test_figures_are_split_by_calendar_year():
    dates = pd.DatetimeIndex(["2020-12-30", "2020-12-31", "2021-01-04"])
    s = [0.1, 0.2, 0.3, 0.4]
    fwd = [[0.01, 0.02, 0.03, 0.04], [0.04, 0.03, 0.02, 0.01], [0.01, 0.02, 0.04, 0.03]]
    prices = _prices(pd.DatetimeIndex([*dates, "2021-01-05"]), {t: [0.0] * 3 for t in TICKERS})
    summary = cross_section_report(_predictions(dates, [s] * 3, fwd), prices, lag=0, horizon=1).summary
    assert list(summary["by_year"]) == ["2020", "2021"]
    assert summary["by_year"]["2020"]["ic"] == pytest.approx(0.0)  # +1 then -1
    assert summary["by_year"]["2020"]["n_dates"] == 2
    assert summary["by_year"]["2021"]["n_dates"] == 1
    assert summary["by_year"]["2021"]["rank_ic"] == pytest.approx(0.8)  # ranks 1 2 3 4 against 1 2 4 3
    assert summary["by_year"]["2021"]["icir"] is None  # one date: no std (NaN, None in JSON)
    table = cross_section_table(summary)
    assert table.loc[(table["metric"] == "cs_rank_ic") & (table["scope"] == "year=2021"), "value"].item() == 0.8


def test_excess_return_ir_and_drawdown_by_hand():
    figs = excess_figures(np.array([0.01, -0.02, 0.03]), np.array([0.0, 0.0, 0.01]))
    # excess 0.01, -0.02, 0.02: mean 0.01/3; deviations 0.02/3, -0.07/3, 0.05/3 -> variance (4+49+25)e-4/9/2
    mean, sd = 0.01 / 3, math.sqrt(78e-4 / 9 / 2)
    assert figs["annualised_excess_return"] == pytest.approx(252 * mean)
    assert figs["information_ratio"] == pytest.approx(mean / sd * math.sqrt(252))
    assert figs["max_drawdown"] == pytest.approx(-0.02)  # summed: 0.01, -0.01, 0.01
    assert figs["n_days"] == 3


def test_the_top_k_book_against_the_equal_weight_universe_on_a_tiny_example():
    days = pd.bdate_range("2021-01-04", periods=3)
    growth = {"A": [0.01, 0.02], "B": [0.03, -0.01], "C": [-0.02, 0.00], "D": [0.00, 0.05]}
    prices = _prices(days, growth)
    # decision at the close of day 0 and day 1 (lag 0, horizon 1): the top-1 book holds D, then B
    scores = [[0.1, 0.2, 0.3, 0.4], [0.1, 0.4, 0.3, 0.2]]
    fwd = [[0.01, 0.03, -0.02, 0.0], [0.02, -0.01, 0.0, 0.05]]
    config = StrategyConfig(topk=1, cost_bps=0.0)
    report = cross_section_report(_predictions(days[:2], scores, fwd), prices, lag=0, horizon=1, config=config)
    top = np.array([0.0, -0.01])  # D on day 1, B on day 2
    universe = np.array([(0.01 + 0.03 - 0.02 + 0.0) / 4, (0.02 - 0.01 + 0.0 + 0.05) / 4])
    expected = excess_figures(top, universe)
    overall = report.summary["overall"]
    assert overall["annualised_excess_return"] == pytest.approx(expected["annualised_excess_return"])
    assert overall["information_ratio"] == pytest.approx(expected["information_ratio"])
    assert overall["max_drawdown"] == pytest.approx(-0.005 - 0.025)  # both days below the universe
    assert overall["universe_annualised_return"] == pytest.approx(252 * universe.mean())
    assert report.summary["book"] == {"topk": 1, "n_drop": None, "rule": "topk", "cost_bps": 0.0,
                                      "k_per_date_median": 1.0}  # fmt: skip
    costly = cross_section_report(_predictions(days[:2], scores, fwd), prices, lag=0, horizon=1,
                                  config=StrategyConfig(topk=1, cost_bps=10.0)).summary["overall"]  # fmt: skip
    # turnover: buy D (1) for day 1, swap D for B (2) for day 2; 3 over 2 days (no later price to sell B on)
    assert costly["annualised_excess_return"] == pytest.approx(overall["annualised_excess_return"] - 252 * 10e-4 * 1.5)
    # 4 names over 5 buckets fill buckets 2..5 (ceil(5 rank / 4)): the top holds the best name, bucket 1 none
    assert report.quantiles["5"].tolist() == pytest.approx(top)
    assert report.quantiles["2"].tolist() == pytest.approx([0.01, 0.02])  # A, the worst score both days
    assert report.quantiles["1"].tolist() == [0.0, 0.0]
    assert report.quantiles["long_short"].tolist() == pytest.approx(top)


@pytest.mark.parametrize("n_tickers", [1, 2])
def test_one_or_two_tickers_are_not_a_cross_section(n_tickers: int):
    days = pd.bdate_range("2021-01-04", periods=3)
    prices = _prices(days, {t: [0.01, 0.0] for t in TICKERS[:n_tickers]})
    preds = pd.DataFrame({"date": np.repeat(days[:2], n_tickers), "ticker": TICKERS[:n_tickers] * 2, "p_down": 0.2,
                          "p_flat": 0.3, "p_up": 0.5, "predicted": "up", "forward_return": 0.01})  # fmt: skip
    report = cross_section_report(preds, prices, lag=0, horizon=1)
    assert report.summary == {
        "meaningful": False,
        "median_tickers": float(n_tickers),
        "note": f"Not meaningful: a cross-section needs at least 3 tickers per date, this run has a median of "
        f"{n_tickers}; IC, ICIR and the top-k book are not computed.",
    }
    assert report.ic.empty
    assert report.quantiles.empty
    assert cross_section_table(report.summary).empty
