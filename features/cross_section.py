"""Cross-sectional features: where a ticker stands among the universe on the same date.

A rank on date ``t`` uses only values of date ``t`` (each causal on its own), so it never looks
ahead in time. It does depend on which tickers are in the universe: score a model on the universe
it was trained on, and beware of a universe picked with hindsight (survivors only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cross_sectional_rank(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Percentile rank of each value among the rows of the same date, in [0, 1].

    ``(rank - 1) / (n - 1)`` with average ranks for ties, where ``n`` counts the finite values
    of that date; 0.5 for a value alone on its date; NaN where the value is NaN.

    Args:
        values: float array (n_rows,).
        dates: array (n_rows,) of the rows' dates (any hashable dtype).

    Returns:
        float64 array (n_rows,).

    Raises:
        ValueError: when the arrays differ in length.
    """
    v = pd.Series(np.asarray(values, dtype="float64"))
    if len(v) != len(dates):
        raise ValueError(f"values and dates must have the same length, got {len(v)} and {len(dates)}")
    grouped = v.groupby(np.asarray(dates), sort=False)
    rank = grouped.rank(method="average").to_numpy(dtype="float64")
    n = grouped.transform("count").to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 1, (rank - 1.0) / (n - 1.0), 0.5)
    return np.where(np.isnan(v.to_numpy()), np.nan, out)
