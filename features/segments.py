"""Contiguous runs of one ticker's history ("segments") and the group-wise operations on them.

Features, labels and windows are computed per segment, never across one:

* a new segment starts at the first row of every ticker;
* and after every **gap**: two consecutive rows of one ticker more than ``max_gap`` business
  days apart (``numpy.busday_count``, Monday-Friday; consecutive trading days are 1 apart, a
  Friday and the next Monday too). The default, :data:`DEFAULT_MAX_GAP` = 5, tolerates every
  exchange closure in the bundled sample (the longest, 9/11, puts 10 and 17 September 2001
  exactly 5 business days apart) and breaks a ticker's history where a week or more of rows is
  missing (a halt, a data hole, a delisting and relisting).

Whether a row starts a segment depends only on that row and the one before it, so segments,
like everything computed from them, never change when later rows are appended.

All operations take and return numpy arrays row-aligned with the canonical price frame (sorted
by ticker, then date), and run vectorised over all segments at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer

DEFAULT_MAX_GAP = 5
RollingHow = Literal["mean", "std", "sum", "max", "min"]


def segment_starts(ticker_codes: np.ndarray, dates: np.ndarray, *, max_gap: int = DEFAULT_MAX_GAP) -> np.ndarray:
    """True where a row starts a new segment: a new ticker, or a gap before it.

    Args:
        ticker_codes: int array (n_rows,), rows grouped by ticker in date order.
        dates: datetime64 array (n_rows,) of the rows' trading days.
        max_gap: largest step, in business days, between consecutive rows of one segment (>= 1).

    Returns:
        bool array (n_rows,).

    Raises:
        ValueError: when ``max_gap`` < 1 or the arrays differ in length.
    """
    if max_gap < 1:
        raise ValueError(f"max_gap must be >= 1 business day, got max_gap={max_gap}")
    codes = np.asarray(ticker_codes)
    days = np.asarray(dates).astype("datetime64[D]")
    if len(codes) != len(days):
        raise ValueError(f"ticker_codes and dates must have the same length, got {len(codes)} and {len(days)}")
    starts = np.ones(len(codes), dtype=bool)
    if len(codes) > 1:
        steps = np.busday_count(days[:-1], days[1:], weekmask="1111100")
        starts[1:] = (codes[1:] != codes[:-1]) | (steps > max_gap)
    return starts


@dataclass(frozen=True)
class Segments:
    """Segment layout of a canonical frame: an id, a position and the rows left, for each row.

    Attributes:
        codes: int64 (n_rows,), segment id, non-decreasing along the rows.
        pos: int64 (n_rows,), position of the row within its segment (0 = first row).
        left: int64 (n_rows,), rows after this one in the same segment (0 = last row).
    """

    codes: np.ndarray
    pos: np.ndarray
    left: np.ndarray

    @classmethod
    def from_starts(cls, starts: np.ndarray) -> Segments:
        """Layout from a bool array marking the first row of each segment."""
        starts = np.asarray(starts, dtype=bool).copy()
        n = len(starts)
        if n:
            starts[0] = True
        idx = np.arange(n, dtype="int64")
        first = np.maximum.accumulate(np.where(starts, idx, 0)) if n else idx
        ends = np.ones(n, dtype=bool)
        ends[:-1] = starts[1:]
        last = np.minimum.accumulate(np.where(ends, idx, n)[::-1])[::-1] if n else idx
        return cls(codes=np.cumsum(starts).astype("int64") - 1, pos=idx - first, left=last - idx)

    @classmethod
    def of(cls, prices: pd.DataFrame, *, max_gap: int = DEFAULT_MAX_GAP) -> Segments:
        """Segments of a canonical price frame.

        Args:
            prices: frame with ``ticker`` and ``date``, sorted by ``(ticker, date)``.
            max_gap: see :func:`segment_starts`.

        Raises:
            ValueError: when the rows of a ticker are not contiguous or their dates do not increase.
        """
        codes = pd.factorize(prices["ticker"])[0]
        dates = prices["date"].to_numpy()
        if len(codes) > 1:
            same = codes[1:] == codes[:-1]
            if (np.diff(codes) < 0).any() or (same & (dates[1:] <= dates[:-1])).any():
                raise ValueError(
                    "prices must be sorted by (ticker, date) with unique keys: each ticker's rows contiguous, "
                    "dates increasing (see features.frame.canonicalize)"
                )
        return cls.from_starts(segment_starts(codes, dates, max_gap=max_gap))

    def __len__(self) -> int:
        return len(self.codes)

    def shift(self, values: np.ndarray, periods: int) -> np.ndarray:
        """``values`` moved down by ``periods`` rows within each segment (negative = from later rows).

        Returns:
            float64 array: ``out[i] = values[i - periods]`` when that row is in the same segment, else NaN.
        """
        return self._shift(np.asarray(values, dtype="float64"), periods, np.nan)

    def shift_dates(self, dates: np.ndarray, periods: int) -> np.ndarray:
        """Like :meth:`shift` for dates: datetime64[ns] array, NaT where the row is in another segment."""
        return self._shift(np.asarray(dates).astype("datetime64[ns]"), periods, np.datetime64("NaT", "ns"))

    def _shift(self, v: np.ndarray, periods: int, fill: object) -> np.ndarray:
        out = np.full(len(v), fill, dtype=v.dtype)
        if periods == 0:
            return v.copy()
        k = abs(periods)
        if k >= len(v):
            return out
        if periods > 0:
            ok = self.pos[k:] >= k
            out[k:][ok] = v[:-k][ok]
        else:
            ok = self.left[:-k] >= k
            out[:-k][ok] = v[k:][ok]
        return out

    def rolling(self, values: np.ndarray, window: int, how: RollingHow, *, ddof: int = 1) -> np.ndarray:
        """Rolling statistic over the last ``window`` rows of the segment, ending at each row.

        Rows with fewer than ``window`` rows (or any NaN among them) in their segment are NaN. The
        same cython kernels as ``groupby(ticker).rolling(window)`` run on the same bounds, so values
        are bit-identical to it.

        Args:
            values: float array (n_rows,).
            window: rows per window (>= 1).
            how: ``mean``, ``std`` (with ``ddof``), ``sum``, ``max`` or ``min``.
            ddof: delta degrees of freedom of ``std``.
        """
        if window < 1:
            raise ValueError(f"window must be >= 1, got window={window}")
        idx = np.arange(len(self.codes), dtype="int64")
        start = np.maximum(idx - window + 1, idx - self.pos)
        roll = pd.Series(np.asarray(values, dtype="float64")).rolling(
            _Bounds(start=start, end=idx + 1), min_periods=window
        )
        out = roll.std(ddof=ddof) if how == "std" else getattr(roll, how)()
        return np.asarray(out.to_numpy(dtype="float64"))

    def smooth(self, values: np.ndarray, *, alpha: float, window: int, first: int = 0) -> np.ndarray:
        """Recursive exponential smoothing seeded with a simple average (Wilder's and TA-Lib's EMA).

        Within each segment, with ``s = first + window - 1``::

            y[s] = mean(values[first .. s])
            y[t] = (1 - alpha) * y[t-1] + alpha * values[t]      for t > s

        and NaN before ``s``. ``alpha = 1/window`` is Wilder's smoothing (RSI, ATR); ``alpha =
        2/(window+1)`` is the usual EMA.

        Args:
            values: float array (n_rows,), finite from segment position ``first`` on.
            alpha: smoothing weight of the newest value, in (0, 1].
            window: values averaged into the seed (>= 1).
            first: segment position of the first defined value (e.g. 1 for a first difference).
        """
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got alpha={alpha}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got window={window}")
        v = np.asarray(values, dtype="float64")
        seed_pos = first + window - 1
        seed = self.rolling(v, window, "mean")
        z = np.where(self.pos > seed_pos, v, np.where(self.pos == seed_pos, seed, np.nan))
        ewm = pd.Series(z).groupby(self.codes, sort=True).ewm(alpha=alpha, adjust=False).mean()
        out = ewm.to_numpy(dtype="float64")  # groups in code order = row order
        return np.where(self.pos < seed_pos, np.nan, out)


class _Bounds(BaseIndexer):
    """Precomputed rolling-window bounds (window start and end per row)."""

    start: np.ndarray
    end: np.ndarray

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.start, self.end
