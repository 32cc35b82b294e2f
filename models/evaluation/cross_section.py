"""The cross-section in Qlib's terms: IC, ICIR, Rank IC, Rank ICIR and the top-k book against the universe.

Qlib's benchmark tables report, for a score ranked across a universe each day:

* **IC / Rank IC**: the mean over dates of the per-date Pearson / Spearman correlation between the score
  ``P(up) - P(down)`` and the realised forward return (:func:`models.evaluation.ranking.daily_ic`);
  **ICIR / Rank ICIR**: that mean over the standard deviation of the daily values (not annualised). Beside
  them, the HAC t-statistic of :mod:`models.evaluation.ranking` (Newey-West, bandwidth at least
  ``horizon - 1``, because overlapping ``horizon``-day returns make consecutive ICs correlated).
* **Excess return, information ratio, max drawdown** of the top-k long book (the long side of the
  ``topk`` or ``topk_dropout`` book, :func:`models.evaluation.portfolios.long_book_signal`, after costs)
  against the **equal-weight universe** (every predicted ticker of each date, equal weight: the strategy's
  ``buy_and_hold`` benchmark), both with the strategy's timing and overlapping cohorts. Qlib's conventions
  are kept so the numbers compare with its tables: the daily excess return ``e = r_topk - r_universe`` is
  annualised arithmetically (``252 * mean(e)``), the IR is ``mean(e) / std(e) * sqrt(252)`` and the max
  drawdown is that of the *summed* excess returns, ``min(cumsum(e) - running max)``, negative (the start
  counts as a peak).

Every figure is given overall and per calendar year. Quantile returns: the daily gross return of each
score bucket held long alone (equal weight, same timing, no costs) and the top-minus-bottom spread, for the
cumulative plot of the report.

With a median below :data:`MIN_TICKERS` tickers per date (one or two tickers) a cross-section does not
exist (two tickers give an IC of +-1 every date): :func:`cross_section_report` then returns only
``meaningful: False`` and a note, no numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.storage.atomic import json_ready
from models.evaluation.config import StrategyConfig
from models.evaluation.portfolios import long_book_signal, quantile_buckets
from models.evaluation.ranking import daily_ic, ic_summary
from models.evaluation.signal import ic_series
from models.evaluation.strategy import (
    align_prices,
    asset_returns,
    gross_and_turnover,
    position_weights,
    prediction_score,
)

__all__ = [
    "MIN_TICKERS",
    "CrossSection",
    "book_returns",
    "cross_section_report",
    "cross_section_table",
    "excess_figures",
    "ic_figures",
]

MIN_TICKERS = 3
"""Median tickers per date below which the cross-sectional figures are not computed."""
MEANINGFUL_TICKERS = 10
"""Median tickers per date below which the figures are shown with a warning that they are mostly noise."""


@dataclass(frozen=True)
class CrossSection:
    """The cross-sectional figures of a run.

    Attributes:
        summary: JSON-ready dict for ``metrics.json`` (see :func:`cross_section_report`).
        ic: per-date ``ic, rank_ic, ic_rolling, rank_ic_rolling`` (empty when not meaningful).
        quantiles: daily gross returns indexed by date, one column per bucket ``"1" .. "q"`` and
            ``"long_short"`` (top minus bottom); empty when not meaningful.
    """

    summary: dict[str, Any]
    ic: pd.DataFrame
    quantiles: pd.DataFrame


def book_returns(
    predictions: pd.DataFrame,
    prices: pd.DataFrame,
    signals: Mapping[str, np.ndarray],
    *,
    lag: int,
    horizon: int,
    cost_bps: float = 0.0,
) -> pd.DataFrame:
    """Daily returns of books given by their signals, with the strategy's timing and cohorts.

    Args:
        predictions: ``date, ticker`` of each decision.
        prices: canonical prices (``date, ticker, adj_close``).
        signals: name -> float (m,) signal per prediction (units of
            :func:`models.evaluation.strategy.position_weights`).
        lag: execution lag (trading days).
        horizon: holding period (trading days).
        cost_bps: cost per unit of one-way turnover.

    Returns:
        Frame indexed by date (every price date of the predicted tickers) with ``{name}_gross``,
        ``{name}_turnover`` and ``{name}_net`` (gross minus ``cost_bps * 1e-4 * turnover``).
    """
    px, rows = align_prices(predictions, prices)
    ticker, first, ret = asset_returns(px)
    dates = predictions["date"].to_numpy(dtype="datetime64[ns]")
    columns: dict[str, Any] = {"date": px["date"].to_numpy(dtype="datetime64[ns]")}
    for name, signal in signals.items():
        w = position_weights(np.asarray(signal, dtype="float64"), rows, dates, ticker, lag=lag, horizon=horizon)
        columns[f"{name}_gross"], columns[f"{name}_turnover"] = gross_and_turnover(w, first, ret)
    daily = pd.DataFrame(columns).groupby("date", sort=True).sum()
    for name in signals:
        daily[f"{name}_net"] = daily[f"{name}_gross"] - cost_bps * 1e-4 * daily[f"{name}_turnover"]
    return daily


def ic_figures(per_date: pd.DataFrame, *, horizon: int) -> dict[str, Any]:
    """``ic, icir, ic_t_stat, rank_ic, rank_icir, rank_ic_t_stat, n_dates`` of per-date ``ic`` and ``rank_ic``."""
    ic = ic_summary(per_date["ic"].to_numpy(), horizon=horizon)
    ric = ic_summary(per_date["rank_ic"].to_numpy(), horizon=horizon)
    return {
        "ic": ic["mean"], "icir": ic["ir"], "ic_t_stat": ic["t_stat"],
        "rank_ic": ric["mean"], "rank_icir": ric["ir"], "rank_ic_t_stat": ric["t_stat"], "n_dates": len(per_date),
    }  # fmt: skip


def excess_figures(portfolio: np.ndarray, benchmark: np.ndarray, *, periods_per_year: int = 252) -> dict[str, Any]:
    """Qlib's excess-return figures of daily ``portfolio`` returns over ``benchmark``'s (see module docstring).

    Returns:
        ``annualised_excess_return`` (``periods_per_year * mean``), ``information_ratio`` (annualised),
        ``max_drawdown`` (of the summed excess returns, <= 0) and ``n_days``; NaN where undefined.
    """
    e = np.asarray(portfolio, dtype="float64") - np.asarray(benchmark, dtype="float64")
    n, nan = len(e), float("nan")
    sd = float(e.std(ddof=1)) if n > 1 else nan
    cum = np.cumsum(e)
    mdd = float(np.min(cum - np.maximum.accumulate(np.maximum(cum, 0.0)))) if n else nan
    return {
        "annualised_excess_return": float(periods_per_year * e.mean()) if n else nan,
        "information_ratio": float(e.mean() / sd * np.sqrt(periods_per_year)) if sd > 0 else nan,
        "max_drawdown": mdd,
        "n_days": n,
    }


def _years(index: pd.Index) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(index).year)


def cross_section_report(
    predictions: pd.DataFrame,
    prices: pd.DataFrame,
    *,
    lag: int,
    horizon: int,
    config: StrategyConfig | None = None,
    baselines: Mapping[str, np.ndarray] | None = None,
    periods_per_year: int = 252,
    window: int = 63,
) -> CrossSection:
    """IC table overall and per year, top-k book against the equal-weight universe, quantile returns.

    Args:
        predictions: stitched predictions (``date, ticker, p_down, p_up, forward_return``; without
            probabilities the score is +1 up / 0 flat / -1 down).
        prices: canonical prices covering the holding periods.
        lag: execution lag, as the strategy's.
        horizon: label horizon and holding period, as the strategy's.
        config: the strategy's settings: ``topk``, ``n_drop``, ``portfolio`` (``topk_dropout`` makes the
            long book TopkDropout's), ``quantiles`` and ``cost_bps`` (charged on the top-k book).
        baselines: name -> (n, 3) probabilities row-aligned with ``predictions``: each baseline's score
            gets the same overall IC figures, so the model's IC is read beside what simple rules reach.
        periods_per_year: to annualise.
        window: dates of the IC's rolling mean.

    Returns:
        :class:`CrossSection`. ``summary`` holds ``meaningful``, ``note``, ``median_tickers`` and, when
        meaningful, ``book`` (``topk``, ``n_drop`` or None, ``rule``, ``cost_bps``), ``overall`` and
        ``by_year`` (year -> the :func:`ic_figures` keys and the :func:`excess_figures` keys of the net
        top-k book (``excess_gross_annualised_return`` before costs) and ``topk_annualised_return``,
        ``universe_annualised_return``), ``quantile_total_return`` (bucket -> summed daily gross return)
        and ``baselines`` (name -> the overall :func:`ic_figures` of its score; NaN figures and
        ``n_dates`` 0 for a baseline that gives every ticker of a date the same score, e.g. the class prior).
    """
    config = config or StrategyConfig()
    dates = predictions["date"].to_numpy(dtype="datetime64[ns]")
    counts = pd.Series(dates).value_counts()
    median = float(counts.median()) if len(counts) else 0.0
    if median < MIN_TICKERS or "forward_return" not in predictions:
        note = (
            f"Not meaningful: a cross-section needs at least {MIN_TICKERS} tickers per date, this run has a median "
            f"of {median:g}; IC, ICIR and the top-k book are not computed."
            if median < MIN_TICKERS
            else "Not computed: the predictions carry no forward returns."
        )
        summary = json_ready({"meaningful": False, "note": note, "median_tickers": median})
        return CrossSection(summary, pd.DataFrame(), pd.DataFrame())
    s = prediction_score(predictions)
    fwd = predictions["forward_return"].to_numpy(dtype="float64")
    tickers = predictions["ticker"].astype(str).to_numpy()
    per_date = daily_ic(dates, s, fwd)
    bucket = quantile_buckets(dates, s, quantiles=config.quantiles)
    d = pd.Series(dates)
    n_date = d.map(d.value_counts()).to_numpy(dtype="float64")
    signals = {"topk": long_book_signal(dates, tickers, s, config=config), "universe": np.ones(len(s))}
    for q in range(1, config.quantiles + 1):
        inside = bucket == q
        per = pd.Series(inside).groupby(d).transform("sum").to_numpy(dtype="float64")
        signals[f"q{q}"] = np.where(inside, n_date / np.maximum(per, 1.0), 0.0)
    daily = book_returns(predictions, prices, signals, lag=lag, horizon=horizon, cost_bps=config.cost_bps)
    live = daily["universe_gross"].ne(0) | daily["universe_turnover"].ne(0)
    daily = daily.loc[live.index[live.to_numpy()].min() : live.index[live.to_numpy()].max()] if live.any() else daily

    def figures(ic_rows: pd.DataFrame, frame: pd.DataFrame) -> dict[str, Any]:
        top, top_gross = frame["topk_net"].to_numpy(), frame["topk_gross"].to_numpy()
        bench = frame["universe_gross"].to_numpy()
        out = {**ic_figures(ic_rows, horizon=horizon), **excess_figures(top, bench, periods_per_year=periods_per_year)}
        gross = excess_figures(top_gross, bench, periods_per_year=periods_per_year)
        out["excess_gross_annualised_return"] = gross["annualised_excess_return"]
        out["topk_annualised_return"] = float(periods_per_year * top.mean()) if len(top) else float("nan")
        out["universe_annualised_return"] = float(periods_per_year * bench.mean()) if len(bench) else float("nan")
        return out

    ic_years, day_years = _years(per_date.index), _years(daily.index)
    by_year = {
        str(y): figures(per_date[ic_years == y], daily[day_years == y])
        for y in sorted(set(ic_years.tolist()) | set(day_years.tolist()))
    }
    quantiles = pd.DataFrame({str(q): daily[f"q{q}_gross"] for q in range(1, config.quantiles + 1)})
    quantiles["long_short"] = quantiles[str(config.quantiles)] - quantiles["1"]
    quantiles.index.name = "date"
    note = (
        f"Cross-section of a median {median:g} tickers per date over {len(per_date)} dates."
        if median >= MEANINGFUL_TICKERS
        else f"Only a median of {median:g} tickers per date (at least {MEANINGFUL_TICKERS} wanted): correlations "
        "across so few names are mostly noise."
    )
    dropout = config.portfolio == "topk_dropout"
    summary = {
        "meaningful": True, "note": note, "median_tickers": median,
        "book": {"topk": config.topk, "n_drop": config.n_drop if dropout else None,
                 "rule": "topk_dropout" if dropout else "topk", "cost_bps": config.cost_bps,
                 "k_per_date_median": float(min(config.topk, median // 2))},
        "overall": figures(per_date, daily), "by_year": by_year,
        "quantile_total_return": {k: float(v) for k, v in quantiles.sum().items()},
        "baselines": {name: _baseline_ic(dates, np.asarray(probs, dtype="float64"), fwd, horizon=horizon)
                      for name, probs in (baselines or {}).items()},
    }  # fmt: skip
    return CrossSection(json_ready(summary), ic_series(dates, s, fwd, window=window), quantiles)


def _baseline_ic(dates: np.ndarray, probs: np.ndarray, fwd: np.ndarray, *, horizon: int) -> dict[str, Any]:
    """Overall IC figures of a baseline's ``P(up) - P(down)``; dates where it ranks nobody apart are left out."""
    per_date = daily_ic(dates, probs[:, 2] - probs[:, 0], fwd).dropna(subset=["ic", "rank_ic"])
    return ic_figures(per_date, horizon=horizon)


def cross_section_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`cross_section_report`'s summary as tidy ``metric, subject, scope, value`` rows (subject ``topk``).

    Scopes: ``all`` and ``year=YYYY``; bucket totals as ``quantile_total_return`` with scope ``quantile=q``;
    each baseline's IC figures with its name as the subject, scope ``all``.
    """
    rows: list[tuple[str, str, str, Any]] = []
    if summary.get("meaningful"):
        for scope, figs in (("all", summary["overall"]), *((f"year={y}", f) for y, f in summary["by_year"].items())):
            rows += [(f"cs_{k}", "topk", scope, v) for k, v in figs.items()]
        rows += [("quantile_total_return", "topk", f"quantile={q}", v)
                 for q, v in summary["quantile_total_return"].items()]  # fmt: skip
        for name, figs in summary.get("baselines", {}).items():
            rows += [(f"cs_{k}", name, "all", v) for k, v in figs.items()]
    table = pd.DataFrame(rows, columns=["metric", "subject", "scope", "value"])
    table["value"] = pd.to_numeric(table["value"], errors="coerce").astype("float64")
    return table
