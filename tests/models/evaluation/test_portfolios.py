"""Cross-sectional books: top-k, TopkDropout, quantile spread, and their dispatch from the strategy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.evaluation.config import StrategyConfig
from models.evaluation.portfolios import (
    book_size,
    long_book_signal,
    quantile_buckets,
    quantile_signal,
    topk_books,
    topk_dropout_books,
    topk_dropout_step,
    topk_signal,
)
from models.evaluation.strategy import strategy_returns

D1, D2, D3 = (np.datetime64(f"2021-01-0{d}", "ns") for d in (4, 5, 6))


def _one_date(scores: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(scores)
    return np.full(n, D1), np.array([f"T{i}" for i in range(n)]), np.array(scores, dtype="float64")


def test_topk_holds_exactly_k_long_and_k_short_at_equal_weight_and_is_neutral():
    dates, tickers, scores = _one_date([0.9, -0.5, 0.1, 0.7, -0.8, 0.0, 0.3])
    long, short = topk_books(dates, tickers, scores, topk=2)
    assert tickers[long].tolist() == ["T0", "T3"]
    assert tickers[short].tolist() == ["T1", "T4"]
    signal = topk_signal(dates, tickers, scores, topk=2)
    # signal = fraction of the cohort * n_d: each side half the capital over 2 names, n_d = 7
    np.testing.assert_allclose(signal, [1.75, -1.75, 0, 1.75, -1.75, 0, 0])
    assert signal.sum() == pytest.approx(0.0)
    assert np.abs(signal).sum() / len(signal) == pytest.approx(1.0)  # gross: the whole cohort


def test_topk_weights_through_the_strategy_timing():
    dates = pd.bdate_range("2021-01-04", periods=4)
    tickers = ["A", "B", "C", "D", "E", "F"]
    prices = pd.DataFrame(
        [(d, t, 100.0 * (1 + 0.01 * (i + 1)) ** k) for i, t in enumerate(tickers) for k, d in enumerate(dates)],
        columns=["date", "ticker", "adj_close"],
    )
    predictions = pd.DataFrame({"date": dates[0], "ticker": tickers, "predicted": "up",
                                "p_down": 0.2, "p_flat": 0.2, "p_up": [0.1, 0.2, 0.3, 0.5, 0.35, 0.6]})  # fmt: skip
    config = StrategyConfig(portfolio="topk", topk=2, cost_bps=0.0)
    daily, positions = strategy_returns(predictions, prices, lag=0, horizon=1, config=config)
    held = positions.loc[positions["long_short"] != 0].set_index("ticker")["long_short"]
    assert held.to_dict() == {"A": -0.25, "B": -0.25, "D": 0.25, "F": 0.25}
    # day 1: D and F long (+4%, +6%), A and B short (+1%, +2%)
    assert daily.loc[daily["date"] == dates[1], "long_short_gross"].item() == pytest.approx(
        0.25 * (0.04 + 0.06 - 0.01 - 0.02)
    )
    assert daily["long_short_net_exposure"].abs().max() == pytest.approx(0.0)
    assert daily.loc[daily["date"] == dates[1], "long_short_exposure"].item() == pytest.approx(1.0)


def test_fewer_tickers_than_2k_shrink_k_to_half_and_one_ticker_or_equal_scores_are_flat():
    assert [book_size(n, topk=10) for n in (0, 1, 2, 5, 19, 20, 40)] == [0, 0, 1, 2, 9, 10, 10]
    dates, tickers, scores = _one_date([0.5, 0.1, -0.2, 0.4, 0.0])
    long, short = topk_books(dates, tickers, scores, topk=10)
    assert tickers[long].tolist() == ["T0", "T3"]
    assert tickers[short].tolist() == ["T2", "T4"]
    assert not topk_signal(*_one_date([0.3]), topk=10).any()
    assert not topk_signal(*_one_date([0.2, 0.2, 0.2, 0.2]), topk=1).any()


def test_topk_dropout_swaps_the_worst_held_for_the_best_candidate():
    ranked = ["E", "A", "F", "B", "C", "D"]  # today's order, best first
    assert topk_dropout_step(["A", "B", "C"], ranked, k=3, n_drop=1) == ["E", "A", "B"]
    assert topk_dropout_step(["A", "B", "C"], ranked, k=3, n_drop=2) == ["E", "A", "F"]
    # a candidate worse than every held name is not bought and nothing is sold
    assert topk_dropout_step(["A", "B", "C"], ["A", "B", "C", "D"], k=3, n_drop=1) == ["A", "B", "C"]
    # a held name without a rank today is a forced exit; the first book is the top k
    assert topk_dropout_step(["Z", "A"], ranked, k=2, n_drop=1) == ["E", "A"]
    assert topk_dropout_step([], ranked, k=3, n_drop=1) == ["E", "A", "F"]
    # the universe shrank: the book sells its worst down to k
    assert topk_dropout_step(["A", "B", "C"], ["A", "B", "C", "D"], k=2, n_drop=1) == ["A", "B"]


def test_topk_dropout_books_on_a_hand_made_sequence():
    tickers = np.array(list("ABCDE") * 3)
    dates = np.repeat([D1, D2, D3], 5)
    scores = np.array([5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5], dtype="float64")
    long, short = topk_dropout_books(dates, tickers, scores, topk=2, n_drop=1)
    books = [(set(tickers[long & (dates == d)]), set(tickers[short & (dates == d)])) for d in (D1, D2, D3)]
    # day 1: top two A, B; bottom two E, D. Day 2 reverses the order: each side swaps one name
    # (long drops A for E, short drops E for A); day 3 swaps one more (long B for D, short D for B).
    assert books == [({"A", "B"}, {"D", "E"}), ({"B", "E"}, {"A", "D"}), ({"D", "E"}, {"A", "B"})]


def test_topk_dropout_turnover_is_bounded_by_n_drop_per_side():
    rng = np.random.default_rng(3)
    n_dates, names = 40, np.array([f"T{i:02d}" for i in range(30)])
    dates = np.repeat(pd.bdate_range("2021-01-04", periods=n_dates).to_numpy(), len(names))
    tickers = np.tile(names, n_dates)
    scores = rng.standard_normal(len(dates))
    long, short = topk_dropout_books(dates, tickers, scores, topk=5, n_drop=2)
    plain, _ = topk_books(dates, tickers, scores, topk=5)
    for side in (long, short):
        books = [set(tickers[side & (dates == d)]) for d in np.unique(dates)]
        assert all(len(b) == 5 for b in books)
        assert max(len(b - a) for a, b in itertools.pairwise(books)) == 2  # n_drop, reached
    plain_books = [set(tickers[plain & (dates == d)]) for d in np.unique(dates)]
    assert max(len(b - a) for a, b in itertools.pairwise(plain_books)) > 2  # unbounded without it


def test_quantile_spread_longs_the_top_and_shorts_the_bottom_bucket():
    dates, _tickers, scores = _one_date([0.1 * i for i in range(10)])
    assert quantile_buckets(dates, scores, quantiles=5).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    signal = quantile_signal(dates, scores, quantiles=5)
    np.testing.assert_allclose(signal, [-2.5, -2.5, 0, 0, 0, 0, 0, 0, 2.5, 2.5])  # half of 10 over 2 names
    assert not quantile_signal(*_one_date([0.1, 0.2, 0.3, 0.4])[::2], quantiles=5).any()  # 4 < 5: no bottom


def test_the_long_book_holds_the_whole_cohort_on_the_top_k():
    dates, tickers, scores = _one_date([0.1, 0.9, 0.5, 0.7])
    signal = long_book_signal(dates, tickers, scores, config=StrategyConfig(topk=2))
    np.testing.assert_allclose(signal, [0, 2, 0, 2])  # 1/2 of the cohort each, n_d = 4


def test_config_names_bad_portfolio_settings():
    with pytest.raises(ValidationError, match="n_drop must be <= topk"):
        StrategyConfig(portfolio="topk_dropout", topk=2, n_drop=3)
    with pytest.raises(ValidationError, match="portfolio"):
        StrategyConfig(portfolio="best")  # type: ignore[arg-type]
    assert StrategyConfig().portfolio == "demeaned"
    assert StrategyConfig(topk=1).n_drop == 2  # n_drop only binds the topk_dropout book
