"""Everything a backtest run leaves behind, from stitched out-of-sample predictions.

``write_backtest_report`` writes into a run folder: ``predictions.parquet`` (the report schema),
``metrics.json`` (config, folds, model vs every baseline, significance, strategy, verdict),
``metrics.parquet`` (the same numbers as a tidy ``metric, subject, scope, value`` table),
``equity.parquet`` (daily strategy and benchmark returns, exposure, turnover), the PNG plots and
one self-contained ``report.html``. ``trials.json`` next to the runs counts the configurations
tried on the same universe over overlapping test periods (:mod:`models.reporting.trials`), with one
Parquet file of per-date loss differences per trial under ``trial_losses/``: the Deflated Sharpe Ratio,
the trial count shown beside the verdicts and the Reality Check / SPA across configurations need them.
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
from features.storage.atomic import json_ready, write_json, write_parquet
from features.storage.layout import RUN_PREDICTIONS, TRIAL_LOSSES_DIR, TRIALS_FILE
from models.evaluation.cross_section import CrossSection, cross_section_report, cross_section_table
from models.evaluation.metrics import evaluate_predictions, label_codes, metrics_table, reliability_table
from models.evaluation.ranking import score
from models.evaluation.signal import ic_series, quantile_returns, score_autocorrelation
from models.evaluation.strategy import (
    StrategyConfig,
    StrategyResult,
    active_daily_sharpe,
    strategy_returns,
    strategy_table,
    summarise_strategy,
)
from models.reporting import plots, sheet_plots
from models.reporting.html_report import render_report, write_report
from models.reporting.sheet import bayes_figures, build_tearsheet, net_returns, tearsheet_table
from models.reporting.tearsheet import monthly_returns
from models.reporting.trials import (
    family,
    family_spa,
    per_date_differences,
    sharpe_variances,
    trial_entry,
    universe_key,
    update_ledger,
)
from models.serving.predictions import BACKTEST_COLUMNS


def record_trial(folder: Path, entry: dict[str, Any], losses: pd.DataFrame) -> dict[str, Any]:
    """Add one trial (:func:`models.reporting.trials.trial_entry`) and its per-date losses; return its search.

    Re-running the same configuration on an overlapping test period of the same universe replaces its
    entry instead of adding one.

    Returns:
        ``n_trials``, ``daily_sharpe_variance`` (variant -> variance across the search), ``members``
        (their entries) and ``losses_folder``.
    """
    path = folder / TRIALS_FILE
    try:
        trials = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    except json.JSONDecodeError:
        trials = []  # a damaged ledger undercounts trials; the run still reports n_trials
    losses_folder = path.parent / TRIAL_LOSSES_DIR
    write_parquet(losses.reset_index(drop=True), losses_folder / entry["losses"])
    trials, replaced = update_ledger(trials, entry)
    write_json(trials, path)
    for name in replaced:
        (losses_folder / name).unlink(missing_ok=True)
    members = family(trials, entry)
    return {
        "n_trials": len(members), "daily_sharpe_variance": sharpe_variances(members), "members": members,
        "losses_folder": losses_folder,
    }  # fmt: skip


def search_spa(search: dict[str, Any], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Reality Check / SPA over the per-date losses of every member of the search that still has them."""
    frames = []
    for member in search["members"]:
        try:
            frames.append(pd.read_parquet(search["losses_folder"] / member["losses"]))
        except (OSError, ValueError):
            continue  # a lost file leaves that trial out of the test (it still counts in n_trials)
    return {**family_spa(frames, n_boot=n_boot, seed=seed), "members_with_losses": len(frames)}


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
    strategy_config: StrategyConfig | None = None,
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
        strategy_config: costs, borrow, risk-free rate and neutrality of the strategy P&L.
        seed: seed of the bootstrap.
        extra: more top-level entries for ``metrics.json`` (e.g. the seed summary).
        started: ``time.perf_counter()`` when the run began; ``metrics.json`` then records
            ``wall_seconds`` up to the moment it is written.

    Returns:
        The ``metrics.json`` content.
    """
    evaluation = evaluate_predictions(predictions, dict(baselines), horizon=horizon)
    config = strategy_config or StrategyConfig()
    strategy, trials = _strategy(predictions, baselines, prices, run_info, lag=lag, horizon=horizon,
                                 config=config, seed=seed, trials_folder=trials_folder)  # fmt: skip
    cross = cross_section_report(predictions, prices, lag=lag, horizon=horizon, config=config, baselines=baselines)
    _attach_trials(evaluation, trials)
    tearsheet = build_tearsheet(strategy.daily, strategy.positions, predictions)
    bayes = _bayes(predictions, run_info, evaluation, horizon=horizon, lag=lag)
    if bayes:
        tearsheet["bayes"] = bayes
    write_parquet(predictions.loc[:, list(BACKTEST_COLUMNS)], run_dir / RUN_PREDICTIONS, metadata={
        "run_id": str(run_info.get("run_id", "")), "data_fingerprint": str(run_info.get("data_fingerprint", "")),
    })  # fmt: skip
    tables = (strategy_table(strategy), trials_table(trials), tearsheet_table(tearsheet),
              cross_section_table(cross.summary))  # fmt: skip
    write_parquet(metrics_table(evaluation, *tables), run_dir / "metrics.parquet")
    write_parquet(strategy.daily, run_dir / "equity.parquet")
    images = _plots(run_dir, predictions, baselines, evaluation, strategy, cross)
    search_runs = trials.pop("run_ids")  # for the page's --compare line; metrics.json keeps its trials section
    html = render_report(evaluation, strategy=strategy.to_json(), folds=folds, images=images, run_info=run_info,
                         tearsheet=tearsheet, search_runs=search_runs, notes=_notes(extra, run_info),
                         cross_section=cross.summary)  # fmt: skip
    write_report(html, run_dir / "report.html")
    content = {
        **run_info, "folds": folds, **evaluation, "strategy": strategy.to_json(), "tearsheet": tearsheet,
        "trials": json_ready(trials), "cross_section": cross.summary,
        **(extra or {}),
    }  # fmt: skip
    if started is not None:
        content["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_json(content, run_dir / "metrics.json")
    return content


def _strategy(
    predictions: pd.DataFrame,
    baselines: Mapping[str, np.ndarray],
    prices: pd.DataFrame,
    run_info: Mapping[str, Any],
    *,
    lag: int,
    horizon: int,
    config: StrategyConfig,
    seed: int,
    trials_folder: Path,
) -> tuple[StrategyResult, dict[str, Any]]:
    """The strategy backtest, its Deflated Sharpe Ratio counting every configuration of this search.

    The P&L is computed once: its active Sharpe ratios go into the trials ledger first, then the summary
    uses the ledger.
    """
    daily, positions = strategy_returns(predictions, prices, lag=lag, horizon=horizon, config=config)
    dates = pd.DatetimeIndex(predictions["date"])
    entry = trial_entry(
        universe=universe_key(predictions["ticker"]), test_start=str(dates.min().date()),
        test_end=str(dates.max().date()), config_key=json.dumps(run_info.get("config", {}), sort_keys=True),
        data_fingerprint=str(run_info.get("data_fingerprint", "")),
        daily_sharpe=active_daily_sharpe(daily, risk_free=config.risk_free), run_id=str(run_info.get("run_id", "")),
    )  # fmt: skip
    search = record_trial(trials_folder, entry, per_date_differences(predictions, baselines))
    variances = search["daily_sharpe_variance"]
    strategy = summarise_strategy(
        daily, positions, lag=lag, horizon=horizon, config=config,
        n_trials=search["n_trials"], trial_sharpe_variance=variances, seed=seed,
    )  # fmt: skip
    trials = {
        "n_trials": search["n_trials"], "daily_sharpe_variance": variances, "universe": entry["universe"],
        "test_start": entry["test_start"], "test_end": entry["test_end"],
        "counted_as": "configurations run on the same universe over overlapping test periods",
        "spa": search_spa(search, seed=seed), "ledger": str(trials_folder / TRIALS_FILE),
        "run_ids": [str(m["run_id"]) for m in search["members"] if m.get("run_id")],  # not in metrics.json
    }  # fmt: skip
    return strategy, trials


_SPA_COLUMN = {"probabilistic": "log_loss_diff", "directional": "sign_loss_diff"}


def _attach_trials(evaluation: dict[str, Any], trials: Mapping[str, Any]) -> None:
    """N and the Reality Check / SPA beside each verdict (in place: ``evaluation`` was just built here)."""
    for kind, column in _SPA_COLUMN.items():
        spa = trials["spa"][column]
        evaluation["verdicts"][kind]["trials"] = json_ready({
            "n_trials": trials["n_trials"], "spa_p_value": spa["consistent"], "reality_check_p_value": spa["upper"],
            "spa_dates": spa["T"], "spa_configurations": spa["k"],
        })  # fmt: skip


def trials_table(trials: Mapping[str, Any]) -> pd.DataFrame:
    """``n_trials`` and the SPA / Reality Check p-values as tidy ``metric, subject, scope, value`` rows."""
    rows: list[tuple[str, str, str, Any]] = [("n_trials", "model", "all", trials["n_trials"])]
    for column, kind in (("log_loss_diff", "probabilistic"), ("sign_loss_diff", "directional")):
        spa = trials["spa"][column]
        rows += [
            ("spa_p_value", "model", kind, spa["consistent"]),
            ("reality_check_p_value", "model", kind, spa["upper"]),
        ]
    for variant, var in trials["daily_sharpe_variance"].items():
        rows.append(("trial_sharpe_variance", variant, "all", var))
    table = pd.DataFrame(rows, columns=["metric", "subject", "scope", "value"])
    table["value"] = pd.to_numeric(table["value"], errors="coerce").astype("float64")
    return table


def _bayes(
    predictions: pd.DataFrame, run_info: Mapping[str, Any], evaluation: Mapping[str, Any], *, horizon: int, lag: int
) -> dict[str, Any]:
    """The Bayes-optimal figures of a synthetic source with the fixed label band; {} otherwise."""
    source = str(run_info.get("source", ""))
    label = ((run_info.get("config") or {}).get("dataset") or {}).get("label") or {}
    if not source.startswith("synthetic:") or label.get("scheme", "fixed") != "fixed" or "band" not in label:
        return {}
    from features.prices.sources.synthetic import SyntheticMarket  # only synthetic runs need it

    try:
        market = SyntheticMarket.from_spec(source.split(":", 1)[1])
        oracle = market.class_probabilities(horizon=horizon, lag=lag, band=float(label["band"]))
    except (ValueError, TypeError):
        return {}  # a spec this version cannot rebuild: no oracle figures
    model = evaluation["model"]
    prior = evaluation.get("baselines", {}).get("class_prior", {}).get("log_loss")
    return bayes_figures(
        predictions, oracle, model_accuracy=model["accuracy"], model_log_loss=model["log_loss"], prior_log_loss=prior
    )


def _plots(
    run_dir: Path,
    predictions: pd.DataFrame,
    baselines: Mapping[str, np.ndarray],
    evaluation: dict[str, Any],
    strategy: StrategyResult,
    cross: CrossSection | None = None,
) -> dict[str, Path]:
    """Every PNG chart, by key of :data:`models.reporting.html_report.CAPTIONS`."""
    y = label_codes(predictions["label"])
    probs = predictions.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    ls = net_returns(strategy.daily, "long_short")
    images = {
        "equity": plots.plot_equity(strategy.daily, run_dir / "equity.png"),
        "monthly": sheet_plots.plot_monthly_heatmap(monthly_returns(ls), run_dir / "monthly.png"),
        "rolling_risk": sheet_plots.plot_rolling_risk(ls, run_dir / "rolling_risk.png"),
        "distribution": sheet_plots.plot_distribution(ls, run_dir / "distribution.png"),
        "exposure": sheet_plots.plot_exposure(strategy.daily, run_dir / "exposure.png"),
        "cost": sheet_plots.plot_cost_sensitivity(strategy.cost_sensitivity, run_dir / "cost.png"),
        "rolling_accuracy": plots.plot_rolling_accuracy(
            predictions, run_dir / "rolling_accuracy.png", baselines=dict(baselines)
        ),
        "confusion": plots.plot_confusion_matrix(evaluation["model"]["confusion_matrix"], run_dir / "confusion.png"),
        "reliability": plots.plot_reliability(reliability_table(y, probs), run_dir / "reliability.png"),
    }
    if "forward_return" in predictions:
        dates = predictions["date"].to_numpy(dtype="datetime64[ns]")
        s, fwd = score(probs), predictions["forward_return"].to_numpy(dtype="float64")
        images["ic"] = sheet_plots.plot_ic(ic_series(dates, s, fwd), run_dir / "ic.png")
        images["quintiles"] = sheet_plots.plot_quintiles(quantile_returns(dates, s, fwd), run_dir / "quintiles.png")
        auto = score_autocorrelation(dates, predictions["ticker"].to_numpy(), s)
        images["autocorrelation"] = sheet_plots.plot_autocorrelation(auto, run_dir / "autocorrelation.png")
    if cross is not None and len(cross.quantiles):
        images["quantile_cumulative"] = sheet_plots.plot_quantile_cumulative(
            cross.quantiles, run_dir / "quantile_cumulative.png"
        )
    return images


def _notes(extra: Mapping[str, Any] | None, run_info: Mapping[str, Any] | None = None) -> list[str]:
    """Plain-words caveats for the top of report.html: survivorship (``run_info``), cut label windows (``extra``)."""
    survivors = (run_info or {}).get("survivorship_warning")
    notes = [str(survivors)] if survivors else []
    cut = (extra or {}).get("cut_label_windows") or {}
    if not cut.get("n_test"):
        return notes
    tickers = cut.get("tickers") or []
    shown = ", ".join(tickers[:10]) + (f" and {len(tickers) - 10} more" if len(tickers) > 10 else "")
    return [
        *notes,
        f"{cut['n_test']} test samples were dropped because a halt or the end of a ticker's data cut their label "
        f"window ({shown}): the figures below leave them out.",
    ]
