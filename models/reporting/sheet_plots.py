"""PNG charts of the tear sheet: monthly heatmap, rolling risk, return distribution, exposure, cost
sensitivity, IC over time, quintile returns and their cumulative paths, signal decay, and equity curves of several runs.

Same contract as :mod:`models.reporting.plots`: one :class:`matplotlib.figure.Figure` per chart (Agg, no
pyplot), written atomically to ``path``, which is returned. The numbers come from the pure functions of
:mod:`models.reporting.tearsheet` and :mod:`models.evaluation.signal`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps as matplotlib_colormaps
from matplotlib.figure import Figure

from models.reporting.plots import label_log_axis, save_figure
from models.reporting.tearsheet import rolling_risk

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def plot_monthly_heatmap(
    table: pd.DataFrame, path: Path, *, title: str = "Monthly returns, long/short net (%)"
) -> Path:
    """Years x months heatmap of :func:`models.reporting.tearsheet.monthly_returns`, cells in percent."""
    values = 100 * table.to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    fig = Figure(figsize=(10, 0.45 * len(table) + 1.4), layout="constrained")
    ax = fig.subplots()
    ax.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                shown = f"{values[i, j]:.1f}"
                ax.text(j, i, "0.0" if shown == "-0.0" else shown, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(12), _MONTHS)
    ax.set_yticks(range(len(table)), [str(y) for y in table.index])
    ax.set_title(title)
    return save_figure(fig, path)


def plot_rolling_risk(returns: pd.Series, path: Path, *, windows: Mapping[str, int] | None = None) -> Path:
    """Rolling annualised Sharpe (top) and volatility (bottom) over 6 and 12 months."""
    windows = windows or {"6 months": 126, "12 months": 252}
    fig = Figure(figsize=(10, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    for name, w in windows.items():
        risk = rolling_risk(returns, window=w)
        x = risk.index.to_numpy()
        top.plot(x, risk["sharpe"].to_numpy(), label=name, linewidth=1.1)
        bottom.plot(x, 100 * risk["volatility"].to_numpy(), label=name, linewidth=1.1)
    top.axhline(0, color="0.4", linewidth=0.8)
    top.set_ylabel("Sharpe (annualised)")
    top.set_title("Rolling Sharpe and volatility, long/short net")
    top.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel("volatility (%/yr)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_distribution(returns: pd.Series, path: Path) -> Path:
    """Histogram of daily returns (%) against a normal with the same mean and volatility."""
    r = 100 * pd.Series(returns, dtype="float64").dropna().to_numpy()
    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.hist(r, bins=min(60, max(10, len(r) // 10)), density=True, alpha=0.6, label="daily returns")
    if len(r) > 2 and r.std(ddof=1) > 0:
        mu, sd = float(r.mean()), float(r.std(ddof=1))
        grid = np.linspace(r.min(), r.max(), 200)
        ax.plot(grid, np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)), color="C3",
                label="normal, same mean and vol")  # fmt: skip
    ax.set_xlabel("daily return (%)")
    ax.set_ylabel("density")
    ax.set_title("Distribution of daily returns, long/short net")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_exposure(daily: pd.DataFrame, path: Path, *, variant: str = "long_short") -> Path:
    """Gross, net and short exposure of a variant over time (% of capital)."""
    fig = Figure(figsize=(10, 2.8), layout="constrained")
    ax = fig.subplots()
    x = pd.DatetimeIndex(daily["date"]).to_numpy()
    for key, name in (("exposure", "gross"), ("net_exposure", "net"), ("short_exposure", "short")):
        ax.plot(x, 100 * daily[f"{variant}_{key}"].to_numpy(dtype="float64"), label=name, linewidth=1.0)
    ax.set_ylabel("% of capital")
    ax.set_title("Exposure over time, long/short")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    return save_figure(fig, path)


def plot_cost_sensitivity(grid: pd.DataFrame, path: Path) -> Path:
    """Annualised Sharpe of each variant against the cost per unit of turnover (bps)."""
    frame = pd.DataFrame(grid)
    fig = Figure(figsize=(4.6, 3.2), layout="constrained")
    ax = fig.subplots()
    for v, g in frame.groupby("variant", sort=False):
        ax.plot(g["cost_bps"].to_numpy(), g["sharpe"].to_numpy(), marker="o", label=str(v).replace("_", " "))
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.set_xlabel("cost (bps per unit of turnover)")
    ax.set_ylabel("Sharpe, net")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_ic(series: pd.DataFrame, path: Path, *, window: int = 63) -> Path:
    """Per-date rank IC (faint) and the rolling means of IC and rank IC (:func:`models.evaluation.signal.ic_series`)."""
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    x = pd.DatetimeIndex(series.index).to_numpy()
    ax.plot(x, series["rank_ic"].to_numpy(), color="0.75", linewidth=0.5, label="rank IC, each date")
    ax.plot(x, series["ic_rolling"].to_numpy(), color="C0", linewidth=1.4, label=f"IC, {window}-date mean")
    ax.plot(x, series["rank_ic_rolling"].to_numpy(), color="C1", linewidth=1.4, label=f"rank IC, {window}-date mean")
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_ylabel("correlation")
    ax.set_title("Information coefficient over time")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    return save_figure(fig, path)


def plot_quintiles(table: pd.DataFrame, path: Path) -> Path:
    """Mean forward return (%) of each score quintile (:func:`models.evaluation.signal.quantile_returns`)."""
    fig = Figure(figsize=(4.6, 3.2), layout="constrained")
    ax = fig.subplots()
    values = 100 * table["mean_return"].to_numpy(dtype="float64")
    ax.bar([str(q) for q in table.index], np.nan_to_num(values), color=["C3" if v < 0 else "C2" for v in values])
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel("score quintile (1 = most bearish)")
    ax.set_ylabel("mean forward return (%)")
    ax.set_title("Returns by score quintile")
    return save_figure(fig, path)


def plot_quantile_cumulative(daily: pd.DataFrame, path: Path) -> Path:
    """Cumulative (summed) daily gross return of each score quantile's book and of top minus bottom.

    Args:
        daily: :attr:`models.evaluation.cross_section.CrossSection.quantiles`: one column per bucket
            ``"1" .. "q"`` (1 = lowest score) and ``"long_short"``, indexed by date.
        path: where the PNG goes.
    """
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    x = pd.DatetimeIndex(daily.index).to_numpy()
    buckets = [c for c in daily.columns if c != "long_short"]
    colours = matplotlib_colormaps["RdYlGn"](np.linspace(0.05, 0.95, max(len(buckets), 2)))
    colours[:, :3] *= 0.7  # darker, so the middle (yellow) bucket shows on white
    for colour, q in zip(colours, buckets, strict=False):
        ax.plot(x, 100 * daily[q].cumsum().to_numpy(dtype="float64"), color=colour, linewidth=1.2, label=f"Q{q}")
    if "long_short" in daily:
        ax.plot(x, 100 * daily["long_short"].cumsum().to_numpy(dtype="float64"), color="k", linewidth=1.6,
                linestyle="--", label=f"Q{buckets[-1]} - Q1" if buckets else "long/short")  # fmt: skip
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.set_ylabel("cumulative return (%, summed)")
    ax.set_title("Cumulative return by score quantile (gross; Q1 = most bearish)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=len(buckets) + 1)
    return save_figure(fig, path)


def plot_autocorrelation(series: pd.Series, path: Path) -> Path:
    """Rank autocorrelation of the score at each lag (:func:`models.evaluation.signal.score_autocorrelation`)."""
    fig = Figure(figsize=(4.6, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(series.index.to_numpy(), series.to_numpy(dtype="float64"), marker="o")
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_ylim(min(-0.1, float(np.nanmin(series.to_numpy(dtype="float64"), initial=0.0)) - 0.05), 1.0)
    ax.set_xlabel("lag (decision dates)")
    ax.set_ylabel("rank autocorrelation")
    ax.set_title("How fast the signal decays")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_equity_comparison(curves: Mapping[str, pd.Series], path: Path, *, title: str = "") -> Path:
    """Growth of 1 (log scale) of several runs' net returns on one chart; label -> daily returns by date."""
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.subplots()
    lows, highs = [], []
    for name, r in curves.items():
        equity = (1 + pd.Series(r, dtype="float64").fillna(0.0)).cumprod()
        ax.plot(pd.DatetimeIndex(equity.index).to_numpy(), equity.to_numpy(), label=name, linewidth=1.2)
        lows.append(float(equity.min()))
        highs.append(float(equity.max()))
    ax.set_yscale("log")
    if lows:
        label_log_axis(ax, min(*lows, 1.0), max(*highs, 1.0))
    ax.set_ylabel("growth of 1 (log scale)")
    ax.set_title(title or "Long/short equity after costs")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)
