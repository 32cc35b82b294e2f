"""Triple-barrier outcomes (López de Prado): which barrier the price path touches first.

**Looks ahead by construction** (it is part of the labels, :mod:`features.labels`).

For a decision at the close of ``t`` the position is entered at the close of ``t + lag`` (price
``P0 = adj_close[t+lag]``). On each following day ``d = 1 .. horizon`` (dates ``t+lag+d``) the
adjusted high and low (:func:`features.technical.adjusted_ohlc`) are compared with two horizontal
barriers given as returns from ``P0``:

* the upper barrier is touched when ``high / P0 - 1 > upper``; the lower one when
  ``low / P0 - 1 < lower`` (strictly beyond, like the band edges of the other schemes);
* the first day with a touch decides: upper -> up (2), lower -> down (0);
* **both touched on the same day**: daily bars do not say which came first, unless the day opened
  beyond a barrier (a gap through it, touched at the open): ``open / P0 - 1 > upper`` -> up,
  ``< lower`` -> down; otherwise the order is unknown and the label is flat (1), making no claim;
* no touch by day ``horizon`` (the vertical barrier) -> flat (1).

On close-only rows (open, high and low NaN, :mod:`features.frame`) the close stands in for all
three: a barrier is touched when the close crosses it, which sees fewer touches than a high/low would.

Rows whose window ``t+lag .. t+lag+horizon`` is incomplete (end of data, or a gap) are
unlabeled (-1) even when a barrier was touched early, so a label never changes once it exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.segments import DEFAULT_MAX_GAP, Segments
from features.technical import adjusted_ohlc


def first_touch(
    prices: pd.DataFrame,
    *,
    horizon: int,
    lag: int,
    lower: np.ndarray,
    upper: np.ndarray,
    max_gap: int = DEFAULT_MAX_GAP,
) -> pd.DataFrame:
    """Triple-barrier class, touch day and decision date for every row.

    Args:
        prices: Canonical frame sorted by ``(ticker, date)``.
        horizon: trading days to the vertical barrier (>= 1).
        lag: trading days from the decision close to the entry close (>= 0).
        lower: float array (n_rows,), lower barrier as a return from the entry close (e.g. -0.03).
        upper: float array (n_rows,), upper barrier as a return, ``>= lower``.
        max_gap: business days between rows beyond which a ticker's history is cut in two.

    Returns:
        Frame row-aligned with ``prices``: ``label`` (int8 0/1/2, -1 when the window is incomplete
        or a barrier is NaN), ``touch_day`` (int64 ``d`` of the deciding day, ``horizon`` for the
        vertical barrier, -1 when unlabeled) and ``label_decided`` (the date of that day, NaT when
        unlabeled).

    Raises:
        ValueError: on a bad ``horizon``/``lag``, mis-sized barriers or ``lower > upper``.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got horizon={horizon}")
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got lag={lag}")
    n = len(prices)
    lo_b = np.asarray(lower, dtype="float64")
    up_b = np.asarray(upper, dtype="float64")
    if lo_b.shape != (n,) or up_b.shape != (n,):
        raise ValueError(f"lower and upper must have shape ({n},), got {lo_b.shape} and {up_b.shape}")
    if np.any(lo_b > up_b):
        raise ValueError(f"lower must be <= upper, got lower > upper on {int(np.sum(lo_b > up_b))} rows")
    seg = Segments.of(prices, max_gap=max_gap)
    ohlc = adjusted_ohlc(prices)
    p0 = seg.shift(ohlc["close"].to_numpy(dtype="float64"), -lag)
    valid = (seg.left >= lag + horizon) & np.isfinite(lo_b) & np.isfinite(up_b) & np.isfinite(p0)
    label = np.full(n, 1, dtype="int8")
    touch_day = np.full(n, horizon, dtype="int64")
    open_ = valid.copy()
    close = ohlc["close"].to_numpy(dtype="float64")
    # Close-only rows (open, high, low NaN: features.frame) touch a barrier on their close.
    high, low, opens = (
        np.where(np.isnan(v), close, v) for v in (ohlc[c].to_numpy(dtype="float64") for c in ("high", "low", "open"))
    )
    for d in range(1, horizon + 1):  # a loop over the days of the horizon, vectorised over all rows
        with np.errstate(invalid="ignore"):
            up = seg.shift(high, -(lag + d)) / p0 - 1.0 > up_b
            down = seg.shift(low, -(lag + d)) / p0 - 1.0 < lo_b
            gap_open = seg.shift(opens, -(lag + d)) / p0 - 1.0
        hit = open_ & (up | down)
        both = np.where(gap_open > up_b, 2, np.where(gap_open < lo_b, 0, 1))
        cls = np.where(up & down, both, np.where(up, 2, 0))
        label[hit] = cls[hit]
        touch_day[hit] = d
        open_ &= ~hit
    label[~valid] = -1
    touch_day[~valid] = -1
    dates = prices["date"].to_numpy().astype("datetime64[ns]")
    decided = np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    rows = np.flatnonzero(valid)
    decided[rows] = dates[rows + lag + touch_day[rows]]  # valid windows lie inside one segment
    return pd.DataFrame({"label": label, "touch_day": touch_day, "label_decided": decided}, index=prices.index)
