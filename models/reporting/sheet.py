"""The tear sheet of a run: returns, trading and signal figures, as JSON for ``metrics.json`` and as tidy rows.

:func:`build_tearsheet` gathers the pure functions of :mod:`models.reporting.tearsheet` and
:mod:`models.evaluation.signal` over the strategy's daily P&L and positions and the stitched predictions;
:func:`tearsheet_table` flattens the result into ``metric, subject, scope, value`` rows for
``metrics.parquet``; :func:`bayes_figures` adds, for a synthetic source, what the Bayes-optimal forecaster
would score on the same test rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.labels import PROB_COLUMNS
from features.storage.atomic import json_ready
from models.evaluation.ranking import score
from models.evaluation.signal import ic_by_year, quantile_returns, score_autocorrelation
from models.evaluation.strategy import VARIANTS
from models.reporting.tearsheet import (
    drawdown_periods,
    monthly_returns,
    return_distribution,
    trading_stats,
    yearly_returns,
)

__all__ = ["bayes_figures", "build_tearsheet", "net_returns", "tearsheet_table"]


def net_returns(daily: pd.DataFrame, variant: str) -> pd.Series:
    """A variant's net daily returns indexed by date."""
    return pd.Series(daily[f"{variant}_net"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(daily["date"]))


def _returns_figures(r: pd.Series) -> dict[str, Any]:
    monthly = monthly_returns(r).stack()
    drawdowns = drawdown_periods(r)
    return {
        "monthly": {f"{y}-{m:02d}": float(v) for (y, m), v in monthly.items()},
        "yearly": {str(y): float(v) for y, v in yearly_returns(r).items()},
        "drawdowns": [
            {
                "start": str(d.start.date()),
                "trough": str(d.trough.date()),
                "recovery": None if pd.isna(d.recovery) else str(d.recovery.date()),
                "depth": float(d.depth),
                "length": int(d.length),
            }
            for d in drawdowns.itertuples()
        ],
        "distribution": return_distribution(r),
    }


def _signal_figures(predictions: pd.DataFrame) -> dict[str, Any]:
    if "forward_return" not in predictions or not set(PROB_COLUMNS) <= set(predictions.columns):
        return {}
    dates = predictions["date"].to_numpy(dtype="datetime64[ns]")
    s = score(predictions.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64"))
    fwd = predictions["forward_return"].to_numpy(dtype="float64")
    years = ic_by_year(dates, s, fwd)
    quintiles = quantile_returns(dates, s, fwd)
    auto = score_autocorrelation(dates, predictions["ticker"].to_numpy(), s)
    return {
        "ic_by_year": {
            str(y): {"ic": row.ic, "rank_ic": row.rank_ic, "n_dates": int(row.n_dates)} for y, row in years.iterrows()
        },
        "quintile_returns": {
            str(q): {"mean_return": row.mean_return, "n": int(row.n)} for q, row in quintiles.iterrows()
        },
        "quintile_spread": float(quintiles["mean_return"].iloc[-1] - quintiles["mean_return"].iloc[0]),
        "score_autocorrelation": {str(k): v for k, v in auto.items()},
    }


def build_tearsheet(daily: pd.DataFrame, positions: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, Any]:
    """Returns, trading and signal figures of a run (strict JSON types).

    Args:
        daily: :attr:`models.evaluation.strategy.StrategyResult.daily`.
        positions: :attr:`models.evaluation.strategy.StrategyResult.positions`.
        predictions: the stitched predictions (``date, ticker, p_down, p_flat, p_up, forward_return``).

    Returns:
        ``returns`` (variant -> ``monthly`` "YYYY-MM" -> return, ``yearly``, ``drawdowns`` (worst five),
        ``distribution``), ``trading`` (variant -> :func:`models.reporting.tearsheet.trading_stats`) and
        ``signal`` (``ic_by_year``, ``quintile_returns``, ``quintile_spread``, ``score_autocorrelation``).
    """
    return json_ready({
        "returns": {v: _returns_figures(net_returns(daily, v)) for v in VARIANTS},
        "trading": {v: trading_stats(daily, positions, variant=v) for v in VARIANTS},
        "signal": _signal_figures(predictions),
    })  # fmt: skip


def bayes_figures(
    predictions: pd.DataFrame,
    oracle: pd.DataFrame,
    *,
    model_accuracy: float,
    model_log_loss: float,
    prior_log_loss: float | None = None,
) -> dict[str, Any]:
    """What the Bayes-optimal forecaster scores on the test rows, beside the model.

    Args:
        predictions: ``date, ticker, label`` of the test rows.
        oracle: true ``date, ticker, p_down, p_flat, p_up`` (e.g. ``SyntheticMarket.class_probabilities``).
        model_accuracy: the model's accuracy on the same rows.
        model_log_loss: the model's log-loss on the same rows.
        prior_log_loss: the class-prior baseline's log-loss on the same rows, for ``captured_share``.

    Returns:
        ``accuracy`` (expected, mean of the largest true probability), ``log_loss`` (expected: mean entropy of
        the true probabilities), ``realised_accuracy`` and ``realised_log_loss`` (the oracle against the labels),
        ``rows``, the model's gaps ``accuracy_gap`` and ``log_loss_gap`` (model minus oracle) and, given
        ``prior_log_loss``, ``captured_share``: the share of the attainable log-loss gain the model captured,
        ``(prior - model) / (prior - oracle realised)`` (1: all of it; 0: no better than the prior; negative:
        worse; None when the oracle itself is no better than the prior on these rows).
    """
    keys = predictions.loc[:, ["date", "ticker", "label"]].assign(ticker=predictions["ticker"].astype(str))
    merged = keys.merge(oracle.assign(ticker=oracle["ticker"].astype(str)), on=["date", "ticker"], how="inner")
    p = merged.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    if not len(p):
        return {}
    calls = np.asarray(("down", "flat", "up"), dtype=object)[p.argmax(axis=1)]
    entropy = -np.sum(np.where(p > 0, p * np.log(np.clip(p, 1e-300, 1.0)), 0.0), axis=1)
    accuracy, log_loss = float(p.max(axis=1).mean()), float(entropy.mean())
    codes = merged["label"].map({c: k for k, c in enumerate(("down", "flat", "up"))}).to_numpy(dtype="int64")
    realised_log_loss = float(-np.mean(np.log(np.clip(p[np.arange(len(p)), codes], 1e-15, 1.0))))
    captured = None
    if prior_log_loss is not None and prior_log_loss > realised_log_loss:
        captured = (prior_log_loss - model_log_loss) / (prior_log_loss - realised_log_loss)
    return json_ready({
        "accuracy": accuracy, "log_loss": log_loss, "realised_accuracy": float(np.mean(calls == merged["label"])),
        "realised_log_loss": realised_log_loss, "rows": len(p), "accuracy_gap": model_accuracy - accuracy,
        "log_loss_gap": model_log_loss - log_loss, "captured_share": captured,
    })  # fmt: skip


def tearsheet_table(sheet: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`build_tearsheet` (plus an optional ``bayes`` entry) as tidy ``metric, subject, scope, value`` rows.

    Scopes: ``month=YYYY-MM``, ``year=YYYY``, ``drawdown=k`` (k-th worst), ``quintile=q``, ``lag=k`` and ``all``.
    """
    rows: list[tuple[str, str, str, Any]] = []
    for v, fig in sheet.get("returns", {}).items():
        rows += [("monthly_return", v, f"month={k}", x) for k, x in fig["monthly"].items()]
        rows += [("yearly_return", v, f"year={k}", x) for k, x in fig["yearly"].items()]
        for i, d in enumerate(fig["drawdowns"], start=1):
            rows += [("drawdown_depth", v, f"drawdown={i}", d["depth"]), ("drawdown_length", v, f"drawdown={i}",
                                                                           d["length"])]  # fmt: skip
        rows += [(f"daily_{k}", v, "all", x) for k, x in fig["distribution"].items()]
    for v, stats in sheet.get("trading", {}).items():
        rows += [(k, v, "all", x) for k, x in stats.items()]
    signal = sheet.get("signal") or {}
    for y, fig in signal.get("ic_by_year", {}).items():
        rows += [("ic", "model", f"year={y}", fig["ic"]), ("rank_ic", "model", f"year={y}", fig["rank_ic"])]
    for q, fig in signal.get("quintile_returns", {}).items():
        rows.append(("quintile_return", "model", f"quintile={q}", fig["mean_return"]))
    if "quintile_spread" in signal:
        rows.append(("quintile_spread", "model", "all", signal["quintile_spread"]))
    rows += [
        ("score_autocorrelation", "model", f"lag={k}", x) for k, x in signal.get("score_autocorrelation", {}).items()
    ]
    rows += [(f"bayes_{k}", "oracle", "all", x) for k, x in (sheet.get("bayes") or {}).items()]
    table = pd.DataFrame(rows, columns=["metric", "subject", "scope", "value"])
    table["value"] = pd.to_numeric(table["value"], errors="coerce").astype("float64")
    return table
