"""Causal, scale-free features computed per ticker from the canonical price frame.

Every feature at day ``t`` uses only rows of the same ticker up to and including ``t``
(the close of ``t`` is known at decision time), and is scale-free so one model can pool
tickers of any price level. Returns use ``adj_close`` so splits and dividends do not show up
as moves; intraday ratios (``range_1``) use raw high/low of the same day, which a split does
not distort.

=============== =================================================== ======= =================================
name            formula                                             window  why
=============== =================================================== ======= =================================
``ret_1``       log(adj_t / adj_{t-1})                              1       last move
``ret_5``       log(adj_t / adj_{t-5})                              5       weekly momentum / reversal
``ret_10``      log(adj_t / adj_{t-10})                             10      two-week momentum
``ret_20``      log(adj_t / adj_{t-20})                             20      monthly momentum
``vol_20``      std of ``ret_1`` over 20 days (ddof=1)              20      volatility regime
``range_1``     log(high_t / low_t)                                 1       intraday range, a vol proxy
``ma_dist_20``  adj_t / mean(adj_{t-19..t}) - 1                     20      stretch from trend
``volume_z_20`` (log1p(vol_t) - mean) / std over 20 days of log1p   20      unusual activity
=============== =================================================== ======= =================================

Rows before a feature's window is full are NaN; :mod:`features.windows` skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

FeatureFn = Callable[[pd.DataFrame], pd.Series]


def _group(prices: pd.DataFrame, column: pd.Series) -> pd.core.groupby.SeriesGroupBy:
    return column.groupby(prices["ticker"].to_numpy(), sort=False)


def _log_adj(prices: pd.DataFrame) -> pd.Series:
    return pd.Series(np.log(prices["adj_close"].to_numpy()), index=prices.index)


def log_return(prices: pd.DataFrame, *, periods: int) -> pd.Series:
    """Log return of ``adj_close`` over ``periods`` days, per ticker."""
    if periods < 1:
        raise ValueError(f"periods must be >= 1, got periods={periods}")
    log_adj = _log_adj(prices)
    return log_adj - _group(prices, log_adj).shift(periods)


def _rolling(prices: pd.DataFrame, values: pd.Series, window: int, how: str) -> pd.Series:
    rolled = getattr(_group(prices, values).rolling(window, min_periods=window), how)()
    return rolled.reset_index(level=0, drop=True).reindex(values.index)


def realised_vol(prices: pd.DataFrame, *, window: int = 20) -> pd.Series:
    """Standard deviation (ddof=1) of daily log returns over ``window`` days; daily units."""
    return _rolling(prices, log_return(prices, periods=1), window, "std")


def intraday_range(prices: pd.DataFrame) -> pd.Series:
    """log(high / low) of the same day."""
    return pd.Series(np.log(prices["high"].to_numpy() / prices["low"].to_numpy()), index=prices.index)


def ma_distance(prices: pd.DataFrame, *, window: int = 20) -> pd.Series:
    """``adj_close / SMA(adj_close, window) - 1``: relative distance to the moving average."""
    adj = prices["adj_close"]
    return adj / _rolling(prices, adj, window, "mean") - 1.0


def volume_zscore(prices: pd.DataFrame, *, window: int = 20) -> pd.Series:
    """z-score of ``log1p(volume)`` against its own last ``window`` days (0 when constant)."""
    logv = pd.Series(np.log1p(prices["volume"].to_numpy()), index=prices.index)
    mean = _rolling(prices, logv, window, "mean")
    std = _rolling(prices, logv, window, "std")
    z = (logv - mean) / std.where(std > 1e-12)
    return z.where(std.isna() | (std > 1e-12), 0.0)


FEATURES: dict[str, FeatureFn] = {
    "ret_1": lambda p: log_return(p, periods=1),
    "ret_5": lambda p: log_return(p, periods=5),
    "ret_10": lambda p: log_return(p, periods=10),
    "ret_20": lambda p: log_return(p, periods=20),
    "vol_20": lambda p: realised_vol(p, window=20),
    "range_1": intraday_range,
    "ma_dist_20": lambda p: ma_distance(p, window=20),
    "volume_z_20": lambda p: volume_zscore(p, window=20),
}
DEFAULT_FEATURES: tuple[str, ...] = tuple(FEATURES)


def compute_features(prices: pd.DataFrame, *, names: Sequence[str] = DEFAULT_FEATURES) -> pd.DataFrame:
    """Compute the named features for every row of a canonical price frame.

    Args:
        prices: Canonical frame (sorted by ticker, date), any number of tickers.
        names: Feature names from :data:`FEATURES`, in the column order wanted.

    Returns:
        New frame with ``date, ticker`` and one float64 column per feature, row-aligned with
        ``prices`` (same index). Warm-up rows are NaN.

    Raises:
        ValueError: naming any unknown feature.
    """
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise ValueError(f"features must be a non-empty subset of {list(FEATURES)}, got {list(names)}")
    out = prices.loc[:, ["date", "ticker"]].copy()
    for name in names:
        out[name] = FEATURES[name](prices).astype("float64")
    return out
