"""Honesty, end to end without Prefect: the backtest finds no edge where there is none, and finds
most of the edge that was planted (measured against the generator's Bayes-optimal accuracy).

It runs the engine the backtest flow runs (:class:`models.backtest.engine.Backtest`), blocks in this process,
against all six baselines."""

import numpy as np
import pytest

from features.dataset import DatasetConfig
from features.prices.sources.synthetic import SyntheticMarket
from features.prices.store import PriceStore
from models.backtest.engine import Backtest
from models.evaluation.metrics import evaluate_predictions, label_codes
from models.evaluation.strategy import backtest_strategy
from models.learn.baselines import BASELINES
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig

MODEL = ModelConfig(units=(16,), dropout=0.0, learning_rate=3e-3)
TRAIN = TrainConfig(epochs=6, batch_size=128, patience=2, seed=5)


def _backtest(signal: float, root):
    market = SyntheticMarket(tickers=8, days=800, seed=31, signal=signal)
    prices = market.fetch()
    PriceStore(root).write(prices)
    backtest = Backtest.prepare(
        root, sorted(prices["ticker"].unique()), dataset=DatasetConfig(timesteps=10),
        walk_forward=WalkForwardConfig(blocks=2, test_fraction=0.35), model=MODEL, training=TRAIN, use_cache=False,
    )  # fmt: skip
    result = backtest.run("honesty", root / "run")
    preds, baselines = result.predictions, result.baselines
    assert sorted(baselines) == sorted(BASELINES)  # every baseline, on the model's very rows
    assert {len(p) for p in baselines.values()} == {len(preds)}
    evaluation = evaluate_predictions(preds, baselines, horizon=5)
    strategy = backtest_strategy(preds, prices, lag=1, horizon=5, n_boot=300, seed=1)
    return market, preds, evaluation, strategy, baselines


def test_random_walk_backtest_finds_no_edge(tmp_path):
    _, preds, evaluation, strategy, _ = _backtest(0.0, tmp_path)
    n = len(preds)
    acc = evaluation["model"]["accuracy"]
    prior_acc = evaluation["baselines"]["class_prior"]["accuracy"]
    half_width = 1.96 * np.sqrt(acc * (1 - acc) / n) * 2  # x2: same-day samples are correlated
    assert abs(acc - prior_acc) <= half_width
    assert evaluation["has_edge"] is False
    assert evaluation["verdict"].startswith("No significant edge")
    ci = strategy.metrics["long_short"]["sharpe_ci"]
    assert ci["lower"] <= 0 <= ci["upper"]


def test_planted_signal_backtest_gets_close_to_bayes_optimal(tmp_path):
    market, preds, evaluation, _, _ = _backtest(1.0, tmp_path)
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


def test_a_forecaster_that_knows_a_clear_planted_signal_has_an_edge_over_all_six_baselines(tmp_path):
    # About the verdict, not learning: the market's own class probabilities stand in for the model, on the
    # very rows and against the very baselines the engine fitted. A clear signal must read as an edge.
    market, preds, _, _, baselines = _backtest(1.0, tmp_path)
    oracle = preds[["date", "ticker"]].merge(
        market.class_probabilities(horizon=5, lag=1, band=0.01), on=["date", "ticker"], how="left"
    )
    probs = np.clip(oracle[["p_down", "p_flat", "p_up"]].to_numpy(), 1e-6, 1.0)
    knowing = preds.assign(p_down=probs[:, 0], p_flat=probs[:, 1], p_up=probs[:, 2])
    knowing[["p_down", "p_flat", "p_up"]] = probs / probs.sum(axis=1, keepdims=True)
    evaluation = evaluate_predictions(knowing, baselines, horizon=5)
    assert sorted(evaluation["comparisons"]) == sorted(BASELINES)
    assert evaluation["has_edge"] is True, evaluation["verdict_lines"]
    assert evaluation["verdict"].startswith("Edge")
