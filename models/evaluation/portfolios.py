"""Cross-sectional books built from the score ``P(up) - P(down)``: top-k, TopkDropout and quantile spreads.

Each function takes the decision dates, tickers and scores of the predictions, row-aligned, and returns the
**signal** of every prediction in the units of :func:`models.evaluation.strategy.position_weights`: a
prediction's cohort weight is ``signal / (horizon * n_d)``, ``n_d`` the predictions of its date, so a
name meant to hold the fraction ``f`` of its cohort's capital gets ``signal = f * n_d``. The strategy's
timing, overlapping cohorts, costs and borrow then apply unchanged.

Books (``StrategyConfig.portfolio``):

* ``topk``: on each date, long the ``k`` highest scores and short the ``k`` lowest, equal weight, each
  side half the cohort's capital (dollar-neutral, gross 1). ``k = min(topk, floor(n / 2))`` with ``n``
  the date's tickers, so both sides always hold the same number of names and never overlap; a date with
  fewer than 2 tickers, or whose scores are all equal (nothing to rank), is flat.
* ``topk_dropout``: Qlib's TopkDropout on each side, rebalanced on every decision date. The long book
  keeps its names unless they rank among the ``n_drop`` worst of (held names + the best not-held
  candidates); it sells those and buys as many of the best-ranked names it does not hold, so at most
  ``n_drop`` names leave and ``n_drop`` enter a side per date. The short book does the same on
  ``-score``. Forced exits come on top: a held ticker with no prediction on the date is sold (it cannot be
  ranked), and a side that holds more than ``k`` names (the universe shrank) sells its worst. A ticker
  held by both sides (possible when ``n_drop`` is small and its score swings) nets out.
* ``quantile``: each date's tickers fall into ``quantiles`` buckets by ``ceil(quantiles * rank / n)``
  (rank 1 = lowest score, ties averaged: :func:`quantile_buckets`); long the top bucket, short the
  bottom, each side equal weight and half the capital. A date with fewer than ``quantiles`` tickers
  leaves the bottom bucket empty and is flat.

Ties in the score are broken by ticker name, so the books are deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.evaluation.config import StrategyConfig

__all__ = [
    "book_size",
    "long_book_signal",
    "portfolio_signal",
    "quantile_buckets",
    "quantile_signal",
    "topk_books",
    "topk_dropout_books",
    "topk_dropout_step",
    "topk_signal",
]


def book_size(n_tickers: int, *, topk: int) -> int:
    """Names per side on a date with ``n_tickers``: ``min(topk, floor(n_tickers / 2))`` (0: the date is flat)."""
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got topk={topk}")
    return min(topk, max(n_tickers, 0) // 2)


def _frame(dates: np.ndarray, tickers: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "date": np.asarray(dates),
            "ticker": np.asarray(tickers).astype(str),
            "s": np.asarray(scores, dtype="float64"),
        }
    )
    if not (len(frame["date"]) == len(frame["ticker"]) == len(frame["s"])):
        raise ValueError("dates, tickers and scores must have the same length")
    if frame.duplicated(["date", "ticker"]).any():
        raise ValueError("dates and tickers must be unique pairs")
    if not np.isfinite(frame["s"]).all():
        raise ValueError("scores must be finite")
    return frame


def _ranked(group: pd.DataFrame) -> list[int]:
    """Row positions of a date's group, best score first, ties by ticker."""
    order = group.assign(neg=-group["s"]).sort_values(["neg", "ticker"], kind="stable")
    return [int(i) for i in order.index]


def _side_signal(long: np.ndarray, short: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Signals of two boolean books: each side equal weight, half its date's cohort (see module docstring)."""
    d = pd.Series(np.asarray(dates))
    n = d.map(d.value_counts()).to_numpy(dtype="float64")
    n_long = pd.Series(long).groupby(d).transform("sum").to_numpy(dtype="float64")
    n_short = pd.Series(short).groupby(d).transform("sum").to_numpy(dtype="float64")
    out = np.where(long, 0.5 * n / np.maximum(n_long, 1.0), 0.0)
    return np.asarray(out - np.where(short, 0.5 * n / np.maximum(n_short, 1.0), 0.0), dtype="float64")


def topk_books(
    dates: np.ndarray, tickers: np.ndarray, scores: np.ndarray, *, topk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (long, short) masks of the ``topk`` book: the ``k`` best and ``k`` worst scores of each date.

    ``k`` is :func:`book_size`; a date whose scores are all equal is flat.
    """
    frame = _frame(dates, tickers, scores)
    long, short = np.zeros(len(frame), dtype=bool), np.zeros(len(frame), dtype=bool)
    for _, g in frame.groupby("date", sort=True):
        k = book_size(len(g), topk=topk)
        if k == 0 or g["s"].max() - g["s"].min() <= 1e-12 * max(float(g["s"].abs().max()), 1.0):
            continue
        ranked = _ranked(g)
        long[ranked[:k]] = True
        short[ranked[-k:]] = True
    return long, short


def topk_signal(dates: np.ndarray, tickers: np.ndarray, scores: np.ndarray, *, topk: int) -> np.ndarray:
    """Signals of the equal-weight top-k / bottom-k long/short (dollar-neutral, gross 1 per cohort)."""
    long, short = topk_books(dates, tickers, scores, topk=topk)
    return _side_signal(long, short, dates)


def topk_dropout_step(held: list[str], ranked: list[str], *, k: int, n_drop: int) -> list[str]:
    """One TopkDropout rebalance of one side: the names held after today's trades.

    Args:
        held: names held before today (any order).
        ranked: today's tickers, best first.
        k: target number of names (today's :func:`book_size`).
        n_drop: names replaced per date at most (forced exits aside).

    Returns:
        The new book, best first: held names without a rank today are sold; of the rest, those among the
        ``n_drop`` worst of (held + the ``n_drop + k - held`` best not-held names) are sold and replaced by
        as many of those candidates, best first (never more than fill the book to ``k``); a book still
        above ``k`` names sells its worst.
    """
    position = {t: i for i, t in enumerate(ranked)}
    last = sorted((t for t in held if t in position), key=position.__getitem__)
    kept = set(last)
    candidates = [t for t in ranked if t not in kept][: max(n_drop + k - len(last), 0)]
    combined = sorted([*last, *candidates], key=position.__getitem__)
    worst = set(combined[-n_drop:]) if n_drop > 0 and combined else set()
    sell = [t for t in last if t in worst]
    buy = candidates[: max(len(sell) + k - len(last), 0)]
    book = sorted([*(t for t in last if t not in worst), *buy], key=position.__getitem__)
    return book[:k]


def topk_dropout_books(
    dates: np.ndarray, tickers: np.ndarray, scores: np.ndarray, *, topk: int, n_drop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (long, short) masks of the TopkDropout books, rebalanced date by date in order.

    The long side ranks by score, the short side by ``-score`` (ties by ticker on both); each follows
    :func:`topk_dropout_step` with ``k = book_size(n, topk=topk)``.
    """
    if n_drop < 1 or n_drop > topk:
        raise ValueError(f"n_drop must be in 1..topk={topk}, got n_drop={n_drop}")
    frame = _frame(dates, tickers, scores)
    long, short = np.zeros(len(frame), dtype=bool), np.zeros(len(frame), dtype=bool)
    held_long: list[str] = []
    held_short: list[str] = []
    for _, g in frame.groupby("date", sort=True):
        rows = _ranked(g)
        names = frame["ticker"].to_numpy()[rows].tolist()
        k = book_size(len(g), topk=topk)
        held_long = topk_dropout_step(held_long, names, k=k, n_drop=n_drop)
        held_short = topk_dropout_step(held_short, names[::-1], k=k, n_drop=n_drop)
        row_of = dict(zip(names, rows, strict=True))
        long[[row_of[t] for t in held_long]] = True
        short[[row_of[t] for t in held_short]] = True
    return long, short


def quantile_buckets(dates: np.ndarray, scores: np.ndarray, *, quantiles: int = 5) -> np.ndarray:
    """Score bucket 1 (lowest) .. ``quantiles`` of each row within its date: ``ceil(quantiles * rank / n)``.

    Ranks average ties; int64 (n,).
    """
    if quantiles < 2:
        raise ValueError(f"quantiles must be >= 2, got quantiles={quantiles}")
    s = pd.Series(np.asarray(scores, dtype="float64"))
    d = pd.Series(np.asarray(dates))
    rank = s.groupby(d).rank(method="average")
    n = s.groupby(d).transform("size")
    return np.asarray(np.clip(np.ceil(quantiles * rank / n), 1, quantiles), dtype="int64")


def quantile_signal(dates: np.ndarray, scores: np.ndarray, *, quantiles: int = 5) -> np.ndarray:
    """Signals of the quantile spread: long the top bucket, short the bottom (flat if either is empty)."""
    bucket = quantile_buckets(dates, scores, quantiles=quantiles)
    d = pd.Series(np.asarray(dates))
    long, short = bucket == quantiles, bucket == 1
    both = pd.Series(long).groupby(d).transform("any") & pd.Series(short).groupby(d).transform("any")
    ok = both.to_numpy(dtype=bool)
    return _side_signal(long & ok, short & ok, dates)


def long_book_signal(
    dates: np.ndarray, tickers: np.ndarray, scores: np.ndarray, *, config: StrategyConfig
) -> np.ndarray:
    """Signals of the long side alone, with the full cohort (gross 1): the top-k book of Qlib's reports.

    The TopkDropout long book for ``portfolio="topk_dropout"``, the top-k equal-weight book otherwise.
    """
    if config.portfolio == "topk_dropout":
        long, _ = topk_dropout_books(dates, tickers, scores, topk=config.topk, n_drop=config.n_drop)
    else:
        long, _ = topk_books(dates, tickers, scores, topk=config.topk)
    return 2.0 * _side_signal(long, np.zeros_like(long), dates)


def portfolio_signal(
    dates: np.ndarray, tickers: np.ndarray, scores: np.ndarray, *, config: StrategyConfig
) -> np.ndarray:
    """Long/short signals of ``config.portfolio`` (``topk``, ``topk_dropout`` or ``quantile``).

    ``demeaned`` is :func:`models.evaluation.strategy.neutral_signal` and is not built here.
    """
    if config.portfolio == "topk":
        return topk_signal(dates, tickers, scores, topk=config.topk)
    if config.portfolio == "topk_dropout":
        long, short = topk_dropout_books(dates, tickers, scores, topk=config.topk, n_drop=config.n_drop)
        return _side_signal(long, short, dates)
    if config.portfolio == "quantile":
        return quantile_signal(dates, scores, quantiles=config.quantiles)
    raise ValueError(f"portfolio must be topk, topk_dropout or quantile here, got portfolio={config.portfolio!r}")
