"""Everything a backtest run leaves behind, from stitched out-of-sample predictions.

``write_backtest_report`` writes into a run folder: ``predictions.parquet`` (the report schema),
``metrics.json`` (config, folds, model vs every baseline, significance, strategy, verdict),
``metrics.parquet`` (the same numbers as a tidy ``metric, subject, scope, value`` table),
``equity.parquet`` (daily strategy and benchmark returns, exposure, turnover), four PNG plots and
one self-contained ``report.html``. ``trials.json`` next to the runs counts the configurations
tried on the same data, which the Deflated Sharpe Ratio needs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.labels import PROB_COLUMNS
from features.storage.atomic import write_json, write_parquet
from features.storage.layout import RUN_PREDICTIONS, TRIALS_FILE
from models.evaluation.metrics import evaluate_predictions, label_codes, metrics_table, reliability_table
from models.evaluation.strategy import StrategyResult, performance, strategy_returns, strategy_table, summarise_strategy
from models.reporting import plots
from models.reporting.html_report import render_report, write_report
from models.serving.predictions import BACKTEST_COLUMNS


def record_trial(folder: Path, *, data_fingerprint: str, config_key: str, daily_sharpe: float) -> tuple[int, float]:
    """Remember one configuration's daily Sharpe on this data; return (n_trials, variance of their Sharpes).

    Re-running the same configuration on the same data replaces its entry instead of adding one.
    """
    path = folder / TRIALS_FILE
    try:
        trials = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    except json.JSONDecodeError:
        trials = []  # a damaged ledger undercounts trials; the run still reports n_trials
    trials = [t for t in trials if not (t["data"] == data_fingerprint and t["config"] == config_key)]
    trials.append({"data": data_fingerprint, "config": config_key, "daily_sharpe": daily_sharpe})
    write_json(trials, path)
    same_data = np.array([t["daily_sharpe"] for t in trials if t["data"] == data_fingerprint], dtype="float64")
    same_data = same_data[np.isfinite(same_data)]
    return max(len(same_data), 1), float(same_data.var(ddof=1)) if len(same_data) > 1 else 0.0


def write_backtest_report(
    run_dir: Path,
    predictions: pd.DataFrame,
    baselines: Mapping[str, np.ndarray],
    prices: pd.DataFrame,
    *,
    folds: list[dict[str, Any]],
    horizon: int,
    lag: int,
    run_info: dict[str, Any],
    trials_folder: Path,
    cost_bps: float = 5.0,
    seed: int = 0,
    extra: Mapping[str, Any] | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Evaluate, run the strategy, and write every artefact of the run into ``run_dir``.

    Args:
        run_dir: the (temporary) run folder.
        predictions: stitched backtest predictions (schema of :mod:`models.serving.predictions`).
        baselines: name -> probabilities (n, 3), row-aligned with ``predictions``.
        prices: canonical prices covering the test blocks and their holding periods.
        folds: per-block summaries.
        horizon: label horizon (also the holding period).
        lag: execution lag.
        run_info: run id, config, data fingerprint, versions... stored in ``metrics.json``.
        trials_folder: where ``trials.json`` lives (the folder holding all runs).
        cost_bps: cost per unit of turnover, basis points.
        seed: seed of the bootstrap.
        extra: more top-level entries for ``metrics.json`` (e.g. the seed summary).
        started: ``time.perf_counter()`` when the run began; ``metrics.json`` then records
            ``wall_seconds`` up to the moment it is written.

    Returns:
        The ``metrics.json`` content.
    """
    evaluation = evaluate_predictions(predictions, dict(baselines), horizon=horizon)
    strategy, trials = _strategy(predictions, prices, run_info, lag=lag, horizon=horizon, cost_bps=cost_bps,
                                 seed=seed, trials_folder=trials_folder)  # fmt: skip
    write_parquet(predictions.loc[:, list(BACKTEST_COLUMNS)], run_dir / RUN_PREDICTIONS, metadata={
        "run_id": str(run_info.get("run_id", "")), "data_fingerprint": str(run_info.get("data_fingerprint", "")),
    })  # fmt: skip
    write_parquet(metrics_table(evaluation, strategy_table(strategy)), run_dir / "metrics.parquet")
    write_parquet(strategy.daily, run_dir / "equity.parquet")
    images = _plots(run_dir, predictions, baselines, evaluation, strategy)
    html = render_report(evaluation, strategy=strategy.to_json(), folds=folds, images=images, run_info=run_info)
    write_report(html, run_dir / "report.html")
    content = {
        **run_info, "folds": folds, **evaluation, "strategy": strategy.to_json(), "trials": trials, **(extra or {}),
    }  # fmt: skip
    if started is not None:
        content["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_json(content, run_dir / "metrics.json")
    return content


def _strategy(
    predictions: pd.DataFrame,
    prices: pd.DataFrame,
    run_info: Mapping[str, Any],
    *,
    lag: int,
    horizon: int,
    cost_bps: float,
    seed: int,
    trials_folder: Path,
) -> tuple[StrategyResult, dict[str, Any]]:
    """The strategy backtest, its Deflated Sharpe Ratio counting every configuration tried on this data.

    The P&L is computed once: its Sharpe goes into the trials ledger first, then the summary uses the ledger.
    """
    daily, positions = strategy_returns(predictions, prices, lag=lag, horizon=horizon, cost_bps=cost_bps)
    sharpe = performance(daily["long_short_net"].to_numpy())["sharpe"]
    config_key = json.dumps(run_info.get("config", {}), sort_keys=True)
    n_trials, variance = record_trial(
        trials_folder, data_fingerprint=run_info["data_fingerprint"], config_key=config_key,
        daily_sharpe=float(sharpe) / np.sqrt(252),
    )  # fmt: skip
    strategy = summarise_strategy(
        daily, positions, lag=lag, horizon=horizon, cost_bps=cost_bps,
        n_trials=n_trials, trial_sharpe_variance=variance, seed=seed,
    )  # fmt: skip
    trials = {"n_trials": n_trials, "daily_sharpe_variance": variance, "ledger": str(trials_folder / TRIALS_FILE)}
    return strategy, trials


def _plots(
    run_dir: Path,
    predictions: pd.DataFrame,
    baselines: Mapping[str, np.ndarray],
    evaluation: dict[str, Any],
    strategy: StrategyResult,
) -> dict[str, Path]:
    """The four PNG plots, by caption."""
    y = label_codes(predictions["label"])
    probs = predictions.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    return {
        "Equity and drawdown after costs, against buy-and-hold": plots.plot_equity(
            strategy.daily, run_dir / "equity.png"
        ),
        "Confusion matrix (rows realised, columns predicted)": plots.plot_confusion_matrix(
            evaluation["model"]["confusion_matrix"], run_dir / "confusion.png"
        ),
        "Reliability diagram": plots.plot_reliability(reliability_table(y, probs), run_dir / "reliability.png"),
        "Rolling accuracy": plots.plot_rolling_accuracy(
            predictions, run_dir / "rolling_accuracy.png", baselines=dict(baselines)
        ),
    }
