"""Does the score rank tickers? Information coefficients per date across tickers.

The score of a prediction is ``P(up) - P(down)``. On each decision date the IC is the Pearson
correlation, and the rank IC the Spearman correlation, between the scores and the realised forward
returns of that date's tickers; the series of daily values is then summarised by its mean, standard
deviation and t-statistic ``mean / (std / sqrt(n_dates))`` — the way Qlib reports IC for its models.
The t-statistic treats dates as independent; with overlapping ``horizon``-day returns it is optimistic.

Dates with fewer than ``min_tickers`` (default 2) tickers, or where the scores or the returns are all
equal, have no correlation and are skipped. A correlation across a handful of tickers is mostly noise:
below ``meaningful_tickers`` per date (default 10) the result says so in ``note``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def score(probs: np.ndarray) -> np.ndarray:
    """``P(up) - P(down)`` of (n, 3) probabilities in class order down/flat/up; float64 (n,)."""
    p = np.asarray(probs, dtype="float64")
    return np.asarray(p[:, 2] - p[:, 0])


def daily_ic(
    dates: np.ndarray, scores: np.ndarray, forward_return: np.ndarray, *, min_tickers: int = 2
) -> pd.DataFrame:
    """IC and rank IC of each date.

    Args:
        dates: decision dates (n,).
        scores: float (n,), higher = more bullish.
        forward_return: realised forward returns (n,), fractions; NaN rows are dropped.
        min_tickers: dates with fewer usable tickers are skipped (>= 2).

    Returns:
        Frame indexed by date with ``ic``, ``rank_ic`` and ``n_tickers``, for the dates that have both.
    """
    if min_tickers < 2:
        raise ValueError(f"min_tickers must be >= 2, got min_tickers={min_tickers}")
    frame = pd.DataFrame(
        {
            "date": np.asarray(dates),
            "s": np.asarray(scores, dtype="float64"),
            "r": np.asarray(forward_return, dtype="float64"),
        }
    )
    frame = frame[np.isfinite(frame["s"]) & np.isfinite(frame["r"])]
    frame = frame.assign(s_rank=frame.groupby("date")["s"].rank(), r_rank=frame.groupby("date")["r"].rank())
    rows = []
    for date, g in frame.groupby("date", sort=True):
        if len(g) < min_tickers:
            continue
        ic = _corr(g["s"].to_numpy(), g["r"].to_numpy())
        ric = _corr(g["s_rank"].to_numpy(), g["r_rank"].to_numpy())
        if np.isfinite(ic) and np.isfinite(ric):
            rows.append((date, ic, ric, len(g)))
    out = pd.DataFrame(rows, columns=["date", "ic", "rank_ic", "n_tickers"])
    return out.set_index("date")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / denom if denom > 0 else float("nan")


def _summary(values: np.ndarray) -> dict[str, float]:
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    std = float(values.std(ddof=1)) if n > 1 else float("nan")
    t = mean / (std / np.sqrt(n)) if n > 1 and std > 0 else float("nan")
    return {"mean": mean, "std": std, "t_stat": float(t)}


def information_coefficient(
    dates: np.ndarray,
    probs: np.ndarray,
    forward_return: np.ndarray,
    *,
    min_tickers: int = 2,
    meaningful_tickers: int = 10,
) -> dict[str, Any]:
    """Mean, std and t-statistic of the daily IC and rank IC of ``P(up) - P(down)``.

    Args:
        dates: decision dates (n,).
        probs: float (n, 3) probabilities, class order down/flat/up.
        forward_return: realised forward returns (n,), fractions.
        min_tickers: dates with fewer tickers are skipped.
        meaningful_tickers: below this median number of tickers per date, ``note`` warns that the
            IC is not meaningful.

    Returns:
        JSON-ready dict: ``ic_mean, ic_std, ic_t_stat, rank_ic_mean, rank_ic_std, rank_ic_t_stat``,
        ``n_dates`` (used), ``n_dates_skipped``, ``median_tickers``, ``meaningful`` and ``note``.
    """
    per_date = daily_ic(dates, score(probs), forward_return, min_tickers=min_tickers)
    ic, ric = _summary(per_date["ic"].to_numpy()), _summary(per_date["rank_ic"].to_numpy())
    n_all = len(np.unique(np.asarray(dates)))
    median = float(per_date["n_tickers"].median()) if len(per_date) else 0.0
    meaningful = len(per_date) > 1 and median >= meaningful_tickers
    if not len(per_date):
        note = f"No IC: no date has {min_tickers} or more tickers with distinct scores and returns."
    elif not meaningful:
        note = (
            f"Too few tickers for a meaningful IC: a median of {median:g} per date "
            f"(at least {meaningful_tickers} needed); treat these numbers as noise."
        )
    else:
        note = f"IC over {len(per_date)} dates with a median of {median:g} tickers."
    return {
        "ic_mean": ic["mean"], "ic_std": ic["std"], "ic_t_stat": ic["t_stat"],
        "rank_ic_mean": ric["mean"], "rank_ic_std": ric["std"], "rank_ic_t_stat": ric["t_stat"],
        "n_dates": len(per_date), "n_dates_skipped": n_all - len(per_date),
        "median_tickers": median, "meaningful": bool(meaningful), "note": note,
    }  # fmt: skip
