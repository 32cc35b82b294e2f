"""The backtest run folder: every artefact, metrics.json written once, the strategy P&L computed once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import models.reporting.run_folder as backtest_report
from features.labels import CLASSES
from features.prices.sources.synthetic import SyntheticMarket
from models.evaluation.metrics import evaluate_predictions
from models.evaluation.strategy import backtest_strategy
from models.reporting.run_folder import record_trial, write_backtest_report

PRICES = SyntheticMarket(tickers=3, days=200, seed=8).fetch()


def _predictions(seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    keys = PRICES.loc[PRICES["date"] >= PRICES["date"].iloc[120], ["date", "ticker"]].reset_index(drop=True)
    keys = keys[keys["date"] <= PRICES["date"].max() - pd.Timedelta(days=14)].reset_index(drop=True)
    probs = rng.dirichlet([2, 2, 2], size=len(keys))
    labels = np.asarray(CLASSES, dtype=object)[rng.integers(0, 3, len(keys))]
    frame = keys.assign(
        horizon=np.int32(5), p_down=probs[:, 0], p_flat=probs[:, 1], p_up=probs[:, 2],
        predicted=np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)], model_id="r-s0-f0",
        fold=np.int32((np.arange(len(keys)) >= len(keys) // 2).astype("int32")),
        forward_return=rng.normal(0, 0.02, len(keys)), label=labels,
    )  # fmt: skip
    prior = np.tile([0.3, 0.4, 0.3], (len(keys), 1))
    return frame, {"class_prior": prior, "noise": rng.dirichlet([5, 5, 5], size=len(keys))}


RUN_INFO = {"run_id": "r", "data_fingerprint": "abc", "config": {"model": {"units": [8]}}}


def test_the_run_folder_holds_every_artefact_and_metrics_json_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    predictions, baselines = _predictions()
    calls: dict[str, int] = {"returns": 0, "metrics.json": 0}
    real_returns, real_write = backtest_report.strategy_returns, backtest_report.write_json

    def count_returns(*args: Any, **kwargs: Any) -> Any:
        calls["returns"] += 1
        return real_returns(*args, **kwargs)

    def count_writes(content: Any, path: Path) -> Any:
        calls["metrics.json"] += Path(path).name == "metrics.json"
        return real_write(content, path)

    monkeypatch.setattr(backtest_report, "strategy_returns", count_returns)
    monkeypatch.setattr(backtest_report, "write_json", count_writes)
    run = tmp_path / "run"
    run.mkdir()
    content = write_backtest_report(
        run, predictions, baselines, PRICES, folds=[{"fold": 0}, {"fold": 1}], horizon=5, lag=1,
        run_info=RUN_INFO, trials_folder=tmp_path, seed=3, extra={"seeds": {"seeds": [0]}},
        started=time.perf_counter() - 2.0,
    )  # fmt: skip
    assert calls == {"returns": 1, "metrics.json": 1}
    assert sorted(p.name for p in run.iterdir()) == sorted([
        "predictions.parquet", "metrics.json", "metrics.parquet", "equity.parquet", "equity.png", "confusion.png",
        "reliability.png", "rolling_accuracy.png", "report.html",
    ])  # fmt: skip
    assert json.loads((run / "metrics.json").read_text()) == json.loads(json.dumps(content))
    assert content["wall_seconds"] >= 2.0
    assert content["run_id"] == "r"
    assert content["folds"] == [{"fold": 0}, {"fold": 1}]
    assert content["seeds"] == {"seeds": [0]}
    assert content["trials"]["n_trials"] == 1
    # the numbers are those of the evaluation and the strategy on the same predictions
    evaluation = evaluate_predictions(predictions, baselines, horizon=5)
    assert content["model"]["log_loss"] == evaluation["model"]["log_loss"]
    assert set(content["baselines"]) == {"class_prior", "noise"}
    strategy = backtest_strategy(predictions, PRICES, lag=1, horizon=5, n_trials=1, trial_sharpe_variance=0.0, seed=3)
    assert content["strategy"] == strategy.to_json()
    stored = pd.read_parquet(run / "predictions.parquet")
    pd.testing.assert_frame_equal(stored, predictions, check_exact=True)


def test_without_a_start_time_no_wall_seconds(tmp_path: Path):
    predictions, baselines = _predictions()
    content = write_backtest_report(
        tmp_path, predictions, baselines, PRICES, folds=[], horizon=5, lag=1, run_info=RUN_INFO,
        trials_folder=tmp_path,
    )  # fmt: skip
    assert "wall_seconds" not in content


def test_the_trials_ledger_counts_configurations_on_the_same_data(tmp_path: Path):
    assert record_trial(tmp_path, data_fingerprint="d", config_key="a", daily_sharpe=0.1) == (1, 0.0)
    assert record_trial(tmp_path, data_fingerprint="d", config_key="a", daily_sharpe=0.3) == (1, 0.0)  # replaced
    n, var = record_trial(tmp_path, data_fingerprint="d", config_key="b", daily_sharpe=0.1)
    assert (n, var) == (2, pytest.approx(np.var([0.3, 0.1], ddof=1)))
    assert record_trial(tmp_path, data_fingerprint="other", config_key="a", daily_sharpe=0.5) == (1, 0.0)
