"""Per-ticker technical indicators: causal, scale-free, vectorised over all tickers at once.

Every function takes the canonical price frame (sorted by ticker, date; any number of tickers)
and returns values row-aligned with it (same index). A value at day ``t`` uses only rows of the
same segment (ticker, unbroken by a gap; see :mod:`features.segments`) up to and including ``t``.
Warm-up rows, before a window is full, are NaN.

Prices are adjusted: returns and levels use ``adj_close``; open/high/low are adjusted by the same
factor ``adj_close / close`` (:func:`adjusted_ohlc`), so a split or dividend never shows up as a
move. Same-day ratios (high/low, close/open) are unchanged by the factor and are read off the raw
columns. Every output is a ratio, a log-ratio or an oscillator, so it does not depend on the price
level, nor on a later back-adjustment that rescales all earlier prices by a constant.

Recursive smoothers follow the textbook definitions with TA-Lib's seeding (a simple average of the
first ``window`` values, then ``y = (1 - alpha) * y_prev + alpha * x``; Wilder's ``alpha = 1/window``
for RSI and ATR, ``alpha = 2/(window+1)`` for the EMAs of MACD). Their seed is forgotten
geometrically: see :func:`features.indicators.feature_lookback`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.segments import Segments


def _segs(prices: pd.DataFrame, segments: Segments | None) -> Segments:
    if segments is None:
        return Segments.of(prices)
    if len(segments) != len(prices):
        raise ValueError(f"segments must describe the {len(prices)} rows of prices, got {len(segments)} rows")
    return segments


def _series(prices: pd.DataFrame, values: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(values, dtype="float64"), index=prices.index)


def _check_window(window: int, name: str = "window") -> None:
    if window < 1:
        raise ValueError(f"{name} must be >= 1, got {name}={window}")


def _adj(prices: pd.DataFrame) -> np.ndarray:
    return np.asarray(prices["adj_close"].to_numpy(dtype="float64"))


def adjusted_ohlc(prices: pd.DataFrame) -> pd.DataFrame:
    """Open, high, low and close on the ``adj_close`` scale (factor ``adj_close / close`` per row).

    Returns:
        Frame with ``open, high, low, close`` (``close`` is ``adj_close``), row-aligned with ``prices``.
    """
    factor = prices["adj_close"] / prices["close"]
    return pd.DataFrame(
        {
            "open": prices["open"] * factor,
            "high": prices["high"] * factor,
            "low": prices["low"] * factor,
            "close": prices["adj_close"],
        },
        index=prices.index,
    )


def log_return(prices: pd.DataFrame, *, periods: int, segments: Segments | None = None) -> pd.Series:
    """Log return of ``adj_close`` over ``periods`` rows: ``log(adj_t / adj_{t-periods})``."""
    _check_window(periods, "periods")
    seg = _segs(prices, segments)
    log_adj = np.log(_adj(prices))
    return _series(prices, log_adj - seg.shift(log_adj, periods))


def realised_vol(prices: pd.DataFrame, *, window: int = 20, segments: Segments | None = None) -> pd.Series:
    """Close-to-close volatility: std (ddof=1) of daily log returns over ``window`` days; daily units."""
    seg = _segs(prices, segments)
    r1 = log_return(prices, periods=1, segments=seg).to_numpy()
    return _series(prices, seg.rolling(r1, window, "std"))


def intraday_range(prices: pd.DataFrame) -> pd.Series:
    """``log(high / low)`` of the same day (a one-day range, in log units)."""
    return _series(prices, np.log(prices["high"].to_numpy() / prices["low"].to_numpy()))


def parkinson_vol(prices: pd.DataFrame, *, window: int = 20, segments: Segments | None = None) -> pd.Series:
    """Parkinson range volatility: ``sqrt(mean(log(H/L)^2) / (4 ln 2))`` over ``window`` days; daily units."""
    seg = _segs(prices, segments)
    hl2 = intraday_range(prices).to_numpy() ** 2
    return _series(prices, np.sqrt(seg.rolling(hl2, window, "mean") / (4.0 * np.log(2.0))))


def garman_klass_vol(prices: pd.DataFrame, *, window: int = 20, segments: Segments | None = None) -> pd.Series:
    """Garman-Klass volatility over ``window`` days; daily units.

    ``sqrt(mean(0.5 * log(H/L)^2 - (2 ln 2 - 1) * log(C/O)^2))``, the mean clipped at 0.
    """
    seg = _segs(prices, segments)
    hl = intraday_range(prices).to_numpy()
    co = np.log(prices["close"].to_numpy() / prices["open"].to_numpy())
    daily = 0.5 * hl**2 - (2.0 * np.log(2.0) - 1.0) * co**2
    return _series(prices, np.sqrt(np.maximum(seg.rolling(daily, window, "mean"), 0.0)))


def ma_distance(prices: pd.DataFrame, *, window: int = 20, segments: Segments | None = None) -> pd.Series:
    """``adj_close / SMA(adj_close, window) - 1``: relative distance to the moving average."""
    seg = _segs(prices, segments)
    adj = _adj(prices)
    return _series(prices, adj / seg.rolling(adj, window, "mean") - 1.0)


def drawdown(prices: pd.DataFrame, *, window: int = 60, segments: Segments | None = None) -> pd.Series:
    """``adj_close / max(adj_close over window days) - 1``: drawdown from the rolling high, <= 0."""
    seg = _segs(prices, segments)
    adj = _adj(prices)
    return _series(prices, adj / seg.rolling(adj, window, "max") - 1.0)


def rsi(prices: pd.DataFrame, *, window: int = 14, segments: Segments | None = None) -> pd.Series:
    """Wilder's relative strength index of ``adj_close``, in [0, 100].

    Gains ``max(d, 0)`` and losses ``max(-d, 0)`` of the daily change ``d`` are smoothed with
    Wilder's average (seed: mean of the first ``window``; then ``alpha = 1/window``), and
    ``RSI = 100 * avg_gain / (avg_gain + avg_loss)`` (= ``100 - 100 / (1 + RS)``); 50 when both
    averages are 0. First value at the ``window``-th change.
    """
    _check_window(window)
    seg = _segs(prices, segments)
    adj = _adj(prices)
    d = adj - seg.shift(adj, 1)
    gain = seg.smooth(np.maximum(d, 0.0), alpha=1.0 / window, window=window, first=1)
    loss = seg.smooth(np.maximum(-d, 0.0), alpha=1.0 / window, window=window, first=1)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(total > 0, 100.0 * gain / np.where(total > 0, total, 1.0), 50.0)
    return _series(prices, np.where(np.isnan(total), np.nan, value))


def macd(
    prices: pd.DataFrame, *, fast: int = 12, slow: int = 26, signal: int = 9, segments: Segments | None = None
) -> pd.DataFrame:
    """MACD line, signal and histogram of ``adj_close``, each divided by ``adj_close`` of the day.

    ``line = EMA_fast - EMA_slow``, ``signal = EMA_signal(line)``, ``hist = line - signal``, where
    ``EMA_n`` has ``alpha = 2/(n+1)`` and is seeded with the mean of its first ``n`` inputs.

    Returns:
        Frame with ``macd, macd_signal, macd_hist`` (fractions of the price), row-aligned.
    """
    for name, value in (("fast", fast), ("slow", slow), ("signal", signal)):
        _check_window(value, name)
    if fast >= slow:
        raise ValueError(f"fast must be < slow, got fast={fast} slow={slow}")
    seg = _segs(prices, segments)
    adj = _adj(prices)
    line = seg.smooth(adj, alpha=2.0 / (fast + 1), window=fast) - seg.smooth(adj, alpha=2.0 / (slow + 1), window=slow)
    sig = seg.smooth(line, alpha=2.0 / (signal + 1), window=signal, first=slow - 1)
    return pd.DataFrame(
        {"macd": line / adj, "macd_signal": sig / adj, "macd_hist": (line - sig) / adj}, index=prices.index
    )


def bollinger(
    prices: pd.DataFrame, *, window: int = 20, k: float = 2.0, segments: Segments | None = None
) -> pd.DataFrame:
    """Bollinger %B and bandwidth of ``adj_close`` (bands ``SMA ± k * std``, population std).

    ``pctb = (adj - lower) / (upper - lower)`` (0.5 when the band has zero width) and
    ``width = (upper - lower) / SMA``.

    Returns:
        Frame with ``pctb, width``, row-aligned.
    """
    if not k > 0:
        raise ValueError(f"k must be > 0, got k={k}")
    seg = _segs(prices, segments)
    adj = _adj(prices)
    mid = seg.rolling(adj, window, "mean")
    sd = seg.rolling(adj, window, "std", ddof=0)
    spread = 2.0 * k * sd
    with np.errstate(invalid="ignore", divide="ignore"):
        pctb = np.where(spread > 0, (adj - (mid - k * sd)) / np.where(spread > 0, spread, 1.0), 0.5)
    pctb = np.where(np.isnan(sd), np.nan, pctb)
    return pd.DataFrame({"pctb": pctb, "width": spread / mid}, index=prices.index)


def atr(prices: pd.DataFrame, *, window: int = 14, segments: Segments | None = None) -> pd.Series:
    """Wilder's average true range divided by ``adj_close`` (a fraction of the price).

    True range ``max(H - L, |H - C_prev|, |L - C_prev|)`` on adjusted prices (undefined on a
    segment's first row), smoothed with Wilder's average seeded by the mean of the first ``window``.
    """
    _check_window(window)
    seg = _segs(prices, segments)
    ohlc = adjusted_ohlc(prices)
    high, low, close = (ohlc[c].to_numpy(dtype="float64") for c in ("high", "low", "close"))
    prev = seg.shift(close, 1)
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
    return _series(prices, seg.smooth(tr, alpha=1.0 / window, window=window, first=1) / close)


def volume_zscore(prices: pd.DataFrame, *, window: int = 20, segments: Segments | None = None) -> pd.Series:
    """z-score of ``log1p(volume)`` against its own last ``window`` days (0 when constant)."""
    seg = _segs(prices, segments)
    logv = np.log1p(prices["volume"].to_numpy(dtype="float64"))
    mean = seg.rolling(logv, window, "mean")
    std = seg.rolling(logv, window, "std")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (logv - mean) / np.where(std > 1e-12, std, np.nan)
    return _series(prices, np.where(np.isnan(std) | (std > 1e-12), z, 0.0))


def dollar_volume_change(prices: pd.DataFrame, *, window: int = 5, segments: Segments | None = None) -> pd.Series:
    """Log change of dollar volume: last ``window`` days against the ``window`` days before.

    ``log1p(S_t) - log1p(S_{t-window})`` with ``S_t = sum(close * volume)`` over ``window`` days.
    ``close * volume`` (both as reported, adjusted alike for splits) is the money traded, which a
    split does not change; ``log1p`` keeps days without volume finite (0 when both sums are 0).
    """
    seg = _segs(prices, segments)
    dv = prices["close"].to_numpy(dtype="float64") * prices["volume"].to_numpy(dtype="float64")
    s = seg.rolling(dv, window, "sum")
    return _series(prices, np.log1p(s) - np.log1p(seg.shift(s, window)))
