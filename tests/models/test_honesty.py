"""Honesty, end to end without Prefect: the backtest finds no edge where there is none, and finds
most of the edge that was planted (measured against the generator's Bayes-optimal accuracy)."""

import numpy as np
import pytest

from features.dataset import DatasetConfig, build_panel
from features.sources.synthetic import SyntheticMarket
from models.evaluation import evaluate_predictions, label_codes
from models.lstm import ModelConfig
from models.strategy import backtest_strategy
from models.training import TrainConfig
from models.walkforward import WalkForwardConfig, run_walk_forward

MODEL = ModelConfig(units=(16,), dropout=0.0, learning_rate=3e-3)
TRAIN = TrainConfig(epochs=6, batch_size=128, patience=2, seed=5)


def _backtest(signal: float):
    market = SyntheticMarket(tickers=8, days=800, seed=31, signal=signal)
    prices = market.fetch()
    panel = build_panel(prices, DatasetConfig(timesteps=10))
    preds, baselines, _ = run_walk_forward(
        panel, WalkForwardConfig(blocks=2, test_fraction=0.35), MODEL, TRAIN, run_id="honesty", verbose=0
    )
    evaluation = evaluate_predictions(preds, baselines, horizon=5)
    strategy = backtest_strategy(preds, prices, lag=1, horizon=5, n_boot=300, seed=1)
    return market, preds, evaluation, strategy


def test_random_walk_backtest_finds_no_edge():
    _, preds, evaluation, strategy = _backtest(0.0)
    n = len(preds)
    acc = evaluation["model"]["accuracy"]
    prior_acc = evaluation["baselines"]["class_prior"]["accuracy"]
    half_width = 1.96 * np.sqrt(acc * (1 - acc) / n) * 2  # x2: same-day samples are correlated
    assert abs(acc - prior_acc) <= half_width
    assert evaluation["has_edge"] is False
    assert evaluation["verdict"].startswith("No significant edge")
    ci = strategy.metrics["long_short"]["sharpe_ci"]
    assert ci["lower"] <= 0 <= ci["upper"]


def test_planted_signal_backtest_gets_close_to_bayes_optimal():
    market, preds, evaluation, _ = _backtest(1.0)
    probs = market.class_probabilities(horizon=5, lag=1, band=0.01)
    true = preds[["date", "ticker"]].merge(probs, on=["date", "ticker"], how="left")
    y = label_codes(preds["label"])
    bayes_on_same_samples = float((true[["p_down", "p_flat", "p_up"]].to_numpy().argmax(axis=1) == y).mean())
    acc = evaluation["model"]["accuracy"]
    prior_acc = evaluation["baselines"]["class_prior"]["accuracy"]
    assert acc > prior_acc + 0.1
    assert acc > bayes_on_same_samples - 0.08, (acc, bayes_on_same_samples)
    assert acc < bayes_on_same_samples + 0.03  # beating the Bayes rule by more than noise would be a leak
    assert evaluation["comparisons"]["class_prior"]["significant_edge"]
    assert evaluation["model"]["log_loss"] < evaluation["baselines"]["class_prior"]["log_loss"]
    assert pytest.approx(1.0) == preds[["p_down", "p_flat", "p_up"]].sum(axis=1).mean()
