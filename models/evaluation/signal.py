"""How the model's score behaves as a trading signal: IC over time, quintile returns, decay.

The score is ``P(up) - P(down)`` (:func:`models.evaluation.ranking.score`); each function takes the
decision dates, tickers, scores and realised forward returns row-aligned, and returns new objects.

* :func:`ic_series`: per-date IC and rank IC with their rolling means;
* :func:`ic_by_year`: mean IC and rank IC of each calendar year;
* :func:`quantile_returns`: mean forward return of each score quintile (ranked within each date);
* :func:`score_autocorrelation`: rank autocorrelation of the cross-section of scores between a date and
  the date ``k`` decision dates earlier (Qlib's signal autocorrelation). A score whose ranks persist is
  cheap to trade; one whose ranks reshuffle daily turns the book over.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.evaluation.ranking import daily_ic

__all__ = ["AUTOCORRELATION_LAGS", "ic_by_year", "ic_series", "quantile_returns", "score_autocorrelation"]

AUTOCORRELATION_LAGS: tuple[int, ...] = (1, 2, 5, 10, 21)


def ic_series(dates: np.ndarray, scores: np.ndarray, forward_return: np.ndarray, *, window: int = 63) -> pd.DataFrame:
    """Per-date ``ic`` and ``rank_ic`` (:func:`models.evaluation.ranking.daily_ic`) and their rolling means.

    Returns:
        Frame indexed by date with ``ic``, ``rank_ic``, ``ic_rolling`` and ``rank_ic_rolling`` (mean of the
        last ``window`` dates, NaN before ``window // 2`` of them).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got window={window}")
    daily = daily_ic(dates, scores, forward_return).loc[:, ["ic", "rank_ic"]]
    rolled = daily.rolling(window, min_periods=max(window // 2, 1)).mean()
    return daily.assign(ic_rolling=rolled["ic"], rank_ic_rolling=rolled["rank_ic"])


def ic_by_year(dates: np.ndarray, scores: np.ndarray, forward_return: np.ndarray) -> pd.DataFrame:
    """Mean ``ic`` and ``rank_ic`` and the number of dates (``n_dates``) of each calendar year."""
    daily = daily_ic(dates, scores, forward_return)
    years = pd.DatetimeIndex(daily.index).year
    out = daily.groupby(years).agg(ic=("ic", "mean"), rank_ic=("rank_ic", "mean"), n_dates=("ic", "size"))
    out.index.name = "year"
    return out


def quantile_returns(
    dates: np.ndarray, scores: np.ndarray, forward_return: np.ndarray, *, quantiles: int = 5
) -> pd.DataFrame:
    """Mean realised forward return of each score quantile, ranked within each date.

    A row's quantile is ``ceil(quantiles * rank / n)`` of its score's rank among the ``n`` tickers of its
    date (ties averaged), so every date spreads its tickers over the quantiles however few there are.

    Returns:
        Frame indexed by quantile 1 (lowest score) .. ``quantiles`` with ``mean_return`` (fraction over the
        label horizon) and ``n`` (rows); quantiles without rows have NaN and 0.
    """
    if quantiles < 2:
        raise ValueError(f"quantiles must be >= 2, got quantiles={quantiles}")
    frame = pd.DataFrame({"date": np.asarray(dates), "s": np.asarray(scores, dtype="float64"),
                          "r": np.asarray(forward_return, dtype="float64")})  # fmt: skip
    frame = frame[np.isfinite(frame["s"]) & np.isfinite(frame["r"])]
    rank = frame.groupby("date")["s"].rank(method="average")
    n = frame.groupby("date")["s"].transform("size")
    q = np.clip(np.ceil(quantiles * rank / n), 1, quantiles).astype("int64")
    out = frame.groupby(q)["r"].agg(mean_return="mean", n="size").reindex(range(1, quantiles + 1))
    out.index.name = "quantile"
    return out.assign(n=out["n"].fillna(0).astype("int64"))


def score_autocorrelation(
    dates: np.ndarray, tickers: np.ndarray, scores: np.ndarray, *, lags: tuple[int, ...] = AUTOCORRELATION_LAGS
) -> pd.Series:
    """Mean over dates of the rank correlation of the tickers' scores with their scores ``k`` dates earlier.

    Args:
        dates: decision dates (n,).
        tickers: tickers (n,).
        scores: float (n,).
        lags: distances in decision dates.

    Returns:
        Series indexed by lag; NaN where no date pair shares at least 3 tickers with varying scores.
    """
    table = pd.DataFrame({"date": np.asarray(dates), "ticker": np.asarray(tickers).astype(str),
                          "s": np.asarray(scores, dtype="float64")})  # fmt: skip
    wide = table.pivot_table(index="date", columns="ticker", values="s", aggfunc="mean").sort_index()
    ranks = wide.rank(axis=1).to_numpy(dtype="float64")
    out = {}
    for k in lags:
        if k < 1:
            raise ValueError(f"lags must be >= 1, got lag {k}")
        values = [_corr(ranks[t], ranks[t - k]) for t in range(k, len(ranks))]
        finite = [v for v in values if np.isfinite(v)]
        out[k] = float(np.mean(finite)) if finite else float("nan")
    series = pd.Series(out, dtype="float64")
    series.index.name = "lag"
    return series


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = float(np.sqrt((x @ x) * (y @ y)))
    return float(x @ y) / denom if denom > 0 else float("nan")
