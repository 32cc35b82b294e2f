"""Tear-sheet figures of a daily return series and of a book of positions, as pure functions.

Returns: :func:`monthly_returns` (years x months), :func:`yearly_returns`, :func:`drawdown_periods` (the worst
drawdowns with start, trough, recovery, depth and length), :func:`rolling_risk` (rolling Sharpe and volatility)
and :func:`return_distribution` (moments and tail of the daily returns). Trading: :func:`trading_stats`
(position changes, holding period, turnover, profit factor) from the daily P&L and the positions of
:func:`models.evaluation.strategy.strategy_returns`. Every function takes returns as simple daily fractions
indexed by date and returns new objects.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "drawdown_periods",
    "monthly_returns",
    "return_distribution",
    "rolling_risk",
    "trading_stats",
    "yearly_returns",
]


def _series(returns: pd.Series) -> pd.Series:
    r = pd.Series(returns, dtype="float64")
    if not isinstance(r.index, pd.DatetimeIndex):
        raise ValueError(f"returns must be indexed by date, got index {type(r.index).__name__}")
    return r.sort_index()


def _compound(r: pd.Series) -> float:
    return float(np.prod(1.0 + r.to_numpy()) - 1.0) if len(r) else float("nan")


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month.

    Args:
        returns: daily returns (fractions) indexed by date.

    Returns:
        Frame indexed by year with columns 1..12 (months); NaN for months without a trading day.
    """
    r = _series(returns)
    grouped = r.groupby([r.index.year, r.index.month]).apply(_compound)
    table = grouped.unstack() if len(grouped) else pd.DataFrame()
    table = table.reindex(columns=range(1, 13))
    table.index.name, table.columns.name = "year", "month"
    return table.astype("float64")


def yearly_returns(returns: pd.Series) -> pd.Series:
    """Compounded return of each calendar year (indexed by year)."""
    r = _series(returns)
    out = r.groupby(r.index.year).apply(_compound).astype("float64")
    out.index.name = "year"
    return out


def drawdown_periods(returns: pd.Series, *, top: int = 5) -> pd.DataFrame:
    """The ``top`` deepest drawdowns of the compounded equity (starting capital 1 counts as a peak).

    Args:
        returns: daily returns (fractions) indexed by date.
        top: how many drawdowns, deepest first.

    Returns:
        ``start`` (last date at the peak, or the first date when the loss starts at once), ``trough``,
        ``recovery`` (first date back at the peak; NaT while still under water), ``depth`` (<= 0, fraction)
        and ``length`` (trading days from start to recovery, or to the last date).
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got top={top}")
    r = _series(returns)
    equity = np.cumprod(1.0 + r.to_numpy())
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    dd = equity / peak - 1.0
    dates = r.index
    rows = []
    i, n = 0, len(dd)
    while i < n:
        if dd[i] >= 0:
            i += 1
            continue
        j = i
        while j < n and dd[j] < 0:
            j += 1
        trough = i + int(np.argmin(dd[i:j]))
        start = dates[i - 1] if i > 0 else dates[0]
        recovery = dates[j] if j < n else pd.NaT
        rows.append((start, dates[trough], recovery, float(dd[trough]), (j if j < n else n - 1) - max(i - 1, 0)))
        i = j
    out = pd.DataFrame(rows, columns=["start", "trough", "recovery", "depth", "length"])
    out = out.sort_values("depth", kind="stable").head(top).reset_index(drop=True)
    return out.astype({"start": "datetime64[ns]", "trough": "datetime64[ns]", "recovery": "datetime64[ns]",
                       "depth": "float64", "length": "int64"})  # fmt: skip


def rolling_risk(returns: pd.Series, *, window: int, periods_per_year: int = 252) -> pd.DataFrame:
    """Rolling annualised Sharpe ratio and volatility over ``window`` trading days (NaN before a full window).

    Returns:
        Frame indexed by date with ``sharpe`` and ``volatility`` (fraction a year).
    """
    if window < 2:
        raise ValueError(f"window must be >= 2, got window={window}")
    r = _series(returns)
    roll = r.rolling(window, min_periods=window)
    mean, sd = roll.mean(), roll.std(ddof=1)
    root = math.sqrt(periods_per_year)
    sharpe = (mean / sd.where(sd > 0)) * root
    return pd.DataFrame({"sharpe": sharpe, "volatility": sd * root})


def return_distribution(returns: pd.Series) -> dict[str, float]:
    """Moments and tail of the daily returns, next to a normal with the same mean and volatility.

    Returns:
        ``mean``, ``std`` (ddof=1), ``skew``, ``excess_kurtosis`` (0 for a normal), ``var_95`` (5% quantile,
        the one-day value at risk as a return), ``cvar_95`` (mean of the days at or below it),
        ``normal_var_95`` (the normal's 5% quantile) and ``best_day`` / ``worst_day``.
    """
    r = _series(returns).dropna().to_numpy()
    if len(r) < 3:
        return dict.fromkeys(
            ("mean", "std", "skew", "excess_kurtosis", "var_95", "cvar_95", "normal_var_95", "best_day", "worst_day"),
            float("nan"),
        )
    mean, std = float(r.mean()), float(r.std(ddof=1))
    z = (r - mean) / r.std(ddof=0) if r.std(ddof=0) > 0 else np.zeros_like(r)
    var = float(np.quantile(r, 0.05))
    return {
        "mean": mean, "std": std, "skew": float(np.mean(z**3)), "excess_kurtosis": float(np.mean(z**4) - 3.0),
        "var_95": var, "cvar_95": float(r[r <= var].mean()), "normal_var_95": mean - 1.6448536269514722 * std,
        "best_day": float(r.max()), "worst_day": float(r.min()),
    }  # fmt: skip


def _holding_runs(weights: pd.DataFrame) -> tuple[int, int, int]:
    """(position changes, runs of a held position, ticker-days held) of a dates x tickers weight table."""
    sign = np.sign(weights.to_numpy(dtype="float64"))
    prev = np.vstack([np.zeros((1, sign.shape[1])), sign[:-1]])
    changes = int(np.sum(sign != prev))
    entries = int(np.sum((sign != 0) & (sign != prev)))
    return changes, entries, int(np.sum(sign != 0))


def trading_stats(
    daily: pd.DataFrame, positions: pd.DataFrame, *, variant: str, periods_per_year: int = 252
) -> dict[str, Any]:
    """How a variant trades, from its daily P&L and positions.

    Args:
        daily: :attr:`models.evaluation.strategy.StrategyResult.daily` (``date``, ``<variant>_net``,
            ``<variant>_turnover``, ``<variant>_exposure``, ``<variant>_net_exposure``).
        positions: ``date, ticker`` and ``<variant>`` weights (rows without a position may be absent).
        variant: which variant.
        periods_per_year: to annualise turnover.

    Returns:
        ``position_changes`` (ticker-days whose position side changed: opened, closed or flipped),
        ``position_changes_per_year``, ``average_holding_days`` (trading days a ticker keeps one side, per
        entry), ``annual_turnover`` (x capital), ``profit_factor`` (sum of winning days / loss of losing
        days, net), ``exposure`` (mean gross) and ``net_exposure`` (mean net).
    """
    dates = pd.DatetimeIndex(daily["date"])
    table = positions.pivot_table(index="date", columns="ticker", values=variant, aggfunc="sum")
    table = table.reindex(dates).fillna(0.0)
    changes, entries, held = _holding_runs(table)
    net = daily[f"{variant}_net"].to_numpy(dtype="float64")
    wins, losses = float(net[net > 0].sum()), float(-net[net < 0].sum())
    years = len(dates) / periods_per_year
    return {
        "position_changes": changes,
        "position_changes_per_year": changes / years if years > 0 else float("nan"),
        "average_holding_days": held / entries if entries else float("nan"),
        "annual_turnover": float(daily[f"{variant}_turnover"].mean() * periods_per_year),
        "profit_factor": wins / losses if losses > 0 else float("nan"),
        "exposure": float(daily[f"{variant}_exposure"].mean()),
        "net_exposure": float(daily[f"{variant}_net_exposure"].mean()),
    }
