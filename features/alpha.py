"""Alpha360-style inputs: price and volume levels that a window expresses relative to its last day.

Qlib's Alpha360 feeds, for each date ``t``, the last 60 days of close, open, high, low and vwap
each divided by ``close_t``, and volume divided by ``volume_t`` (6 x 60 values, read by its LSTM
as 60 timesteps x 6 features). Here a window already holds the timesteps, so the set is built in
two steps:

* **per row** (:data:`LEVEL_FEATURES`), the log level of day ``t`` alone: ``rel_close = log(adj
  close_t)``, ``rel_open``, ``rel_high``, ``rel_low`` (adjusted by ``adj_close / close`` as in
  :func:`features.technical.adjusted_ohlc`), ``rel_vwap`` the log of the typical price
  ``(high + low + close) / 3`` (the sources carry no vwap; the typical price is its usual proxy),
  and ``rel_volume = log(1 + volume / factor)`` (shares adjusted for splits like Qlib's
  ``$volume``; ``log1p`` keeps a zero-volume day finite). These levels are not scale-free and
  are never used alone;
* **per window** (:func:`relative_pairs`, applied by :class:`features.windows.WindowSet`), the
  last row's reference level is subtracted from every row: the price columns from ``rel_close``
  and the volume column from itself, so a window ending at ``t`` holds
  ``log(close_{t-i} / close_t)``, ``log(open_{t-i} / close_t)``, ... and
  ``log((1 + volume_{t-i}) / (1 + volume_t))``. Log ratios rather than Qlib's ratios: the same
  information, symmetric and closer to normal. The last row of ``rel_close`` and ``rel_volume`` is
  0 by construction; that of ``rel_open`` is ``log(open_t / close_t)``.

The transform is part of the model: :class:`models.learn.classifier.LSTMClassifier` applies it at
training, backtest prediction and daily scoring alike and stores its pairs in the model card. The
feature scaler leaves these columns as they are (the log ratios are already of order 0.01-1) and so
does the cross-sectional normalisation (``cs_norm``), which would mix other tickers' levels into a
ticker's window. Each value uses day ``t``'s row only: no warm-up, lookback 1.

Feature sets (:data:`FEATURE_SETS`): ``alpha360`` (all six, Qlib's order), ``alpha360_cv`` (close
and volume) and ``alpha360_close`` (close only, for close-only data); pair them with
``timesteps=60`` for Qlib's 60 days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

PRICE_REFERENCE = "rel_close"
VOLUME_REFERENCE = "rel_volume"


def _factor(prices: pd.DataFrame) -> np.ndarray:
    return np.asarray(prices["adj_close"].to_numpy(dtype="float64") / prices["close"].to_numpy(dtype="float64"))


def _log_price(column: str) -> Callable[[pd.DataFrame], np.ndarray]:
    def compute(prices: pd.DataFrame) -> np.ndarray:
        if column == "close":
            return np.asarray(np.log(prices["adj_close"].to_numpy(dtype="float64")))
        return np.asarray(np.log(prices[column].to_numpy(dtype="float64") * _factor(prices)))

    return compute


def log_typical_price(prices: pd.DataFrame) -> np.ndarray:
    """``log((high + low + close) / 3)`` on the adjusted scale: the vwap proxy, float64 (n_rows,)."""
    typical = (prices["high"] + prices["low"] + prices["close"]).to_numpy(dtype="float64") / 3.0
    return np.asarray(np.log(typical * _factor(prices)))


def log_volume(prices: pd.DataFrame) -> np.ndarray:
    """``log(1 + volume / factor)``: split-adjusted share volume, float64 (n_rows,)."""
    return np.asarray(np.log1p(prices["volume"].to_numpy(dtype="float64") / _factor(prices)))


LEVEL_FEATURES: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "rel_close": _log_price("close"),
    "rel_open": _log_price("open"),
    "rel_high": _log_price("high"),
    "rel_low": _log_price("low"),
    "rel_vwap": log_typical_price,
    "rel_volume": log_volume,
}
"""Per-row log levels, each read relative to its window's last row (see the module docstring)."""

LEVEL_NEEDS: dict[str, tuple[str, ...]] = {
    "rel_close": ("adj_close",),
    "rel_open": ("open", "close", "adj_close"),
    "rel_high": ("high", "close", "adj_close"),
    "rel_low": ("low", "close", "adj_close"),
    "rel_vwap": ("high", "low", "close", "adj_close"),
    "rel_volume": ("volume", "close", "adj_close"),
}
"""The price columns each level feature reads (for sources without open/high/low/volume)."""

REFERENCE: dict[str, str] = {name: PRICE_REFERENCE for name in LEVEL_FEATURES} | {VOLUME_REFERENCE: VOLUME_REFERENCE}
"""Level feature -> the feature whose last-row value its windows subtract."""

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "alpha360": ("rel_close", "rel_open", "rel_high", "rel_low", "rel_vwap", "rel_volume"),
    "alpha360_cv": ("rel_close", "rel_volume"),
    "alpha360_close": ("rel_close",),
}
"""Named feature sets a ``features`` list may hold in place of their members."""


def expand_feature_sets(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` with each :data:`FEATURE_SETS` name replaced by its members, in order."""
    out: list[str] = []
    for name in names:
        out.extend(FEATURE_SETS.get(name, (name,)))
    return tuple(out)


def missing_references(names: Sequence[str]) -> list[str]:
    """Reference features that ``names`` needs for its level features but lacks (e.g. ``rel_close``)."""
    wanted = {REFERENCE[n] for n in names if n in REFERENCE}
    return sorted(wanted - set(names))


def relative_pairs(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """``(column, reference column)`` positions of the level features among ``names``.

    Raises:
        ValueError: when a level feature's reference is not among ``names``.
    """
    missing = missing_references(names)
    if missing:
        raise ValueError(f"level features need their reference features {missing} among features={list(names)}")
    pos = {n: j for j, n in enumerate(names)}
    return tuple((j, pos[REFERENCE[n]]) for j, n in enumerate(names) if n in REFERENCE)
