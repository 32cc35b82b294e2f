"""Cross-sectional features: where a ticker stands among the universe on the same date.

A rank on date ``t`` uses only values of date ``t`` (each causal on its own), so it never looks
ahead in time. It does depend on which tickers are in the universe: score a model on the universe
it was trained on, and beware of a universe picked with hindsight (survivors only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def _by_date(values: np.ndarray, dates: np.ndarray) -> tuple[pd.Series, Any]:
    """``values`` as a float Series and grouped by ``dates``; refuses arrays of different lengths."""
    v = pd.Series(np.asarray(values, dtype="float64"))
    if len(v) != len(dates):
        raise ValueError(f"values and dates must have the same length, got {len(v)} and {len(dates)}")
    return v, v.groupby(np.asarray(dates), sort=False)


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
    v, grouped = _by_date(values, dates)
    rank = grouped.rank(method="average").to_numpy(dtype="float64")
    n = grouped.transform("count").to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 1, (rank - 1.0) / (n - 1.0), 0.5)
    return np.where(np.isnan(v.to_numpy()), np.nan, out)


def cross_sectional_zscore(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Qlib's ``CSZScoreNorm``: ``(value - mean) / std`` among the finite values of the same date.

    ``std`` is the population std (ddof=0). A date with one finite value, or whose values are all
    equal (zero spread), gives 0 for each of them rather than a division by zero: the row says
    "at the cross-section's centre". NaN stays NaN.

    Args:
        values: float array (n_rows,).
        dates: array (n_rows,) of the rows' dates.

    Returns:
        float64 array (n_rows,).

    Raises:
        ValueError: when the arrays differ in length.
    """
    v, grouped = _by_date(values, dates)
    mean = grouped.transform("mean").to_numpy(dtype="float64")
    std = grouped.transform("std", ddof=0).to_numpy(dtype="float64")
    centred = v.to_numpy() - mean
    spread = std > 1e-12 * np.maximum(np.abs(mean), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(spread, centred / np.where(spread, std, 1.0), 0.0)
    return np.where(np.isnan(v.to_numpy()), np.nan, out)


CS_RANK_SCALE = float(np.sqrt(12.0))
"""Scale of the centred rank: a uniform variable on [0, 1] has std ``1 / sqrt(12)`` (Qlib uses 3.46)."""


def cross_sectional_rank_norm(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Qlib's ``CSRankNorm``: the percentile rank, centred and scaled to unit std, ``(rank - 0.5) * sqrt(12)``.

    Uses :func:`cross_sectional_rank` (ties share their average rank; a value alone on its date
    gives 0). Values lie in ``[-sqrt(3), sqrt(3)]``; NaN stays NaN.
    """
    return (cross_sectional_rank(values, dates) - 0.5) * CS_RANK_SCALE


def cross_sectional_normalise(X: np.ndarray, dates: np.ndarray, *, method: str, skip: Sequence[int] = ()) -> np.ndarray:
    """Every column of ``X`` normalised across the rows of each date (``zscore`` or ``rank``).

    Fits nothing across time: each date's values use that date's rows only, so a row's value
    changes only when a same-date value does (never with later data).

    Args:
        X: float array (n_rows, n_features).
        dates: array (n_rows,) of the rows' dates.
        method: ``"none"`` (a copy of ``X``), ``"zscore"`` (:func:`cross_sectional_zscore`) or
            ``"rank"`` (:func:`cross_sectional_rank_norm`).
        skip: column positions left as they are (e.g. the window-relative level columns).

    Returns:
        New float64 array (n_rows, n_features).

    Raises:
        ValueError: naming an unknown method.
    """
    fns = {"zscore": cross_sectional_zscore, "rank": cross_sectional_rank_norm}
    if method != "none" and method not in fns:
        raise ValueError(f"method must be one of ['none', 'zscore', 'rank'], got method={method!r}")
    out = np.array(X, dtype="float64", copy=True)
    if method == "none":
        return out
    for j in range(out.shape[1]):
        if j not in skip:
            out[:, j] = fns[method](out[:, j], dates)
    return out
