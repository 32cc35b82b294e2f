"""The feature catalogue: causal, scale-free features selectable by name, and :func:`compute_features`.

Every feature at day ``t`` uses only rows of the same ticker up to and including ``t`` (the close
of ``t`` is known at decision time), never reaching across a gap in the ticker's history
(:mod:`features.segments`); cross-sectional ranks also use other tickers' values of the same day.
Prices are adjusted (:mod:`features.technical`). The table with formulas, windows and reasons
is ``docs/features.md``; the formulas live in :mod:`features.technical` and
:mod:`features.cross_section`.

Each feature has a **warm-up** (rows of a segment before its first value; earlier rows are NaN and
:mod:`features.windows` skips them) and a **lookback** (rows up to and including ``t`` that
determine the value at ``t``): computed on any data holding those rows, the value is the same as
on the full history. Rolling features are exact; recursive smoothers (RSI, ATR, MACD) forget
their seed geometrically, and their lookback is where the seed's weight falls below
:data:`SEED_TOLERANCE`. Whoever scores new days must load at least
``feature_lookback(names) + timesteps - 1`` rows per ticker.

Each feature also names the optional price columns it **needs** (:attr:`FeatureSpec.needs`:
``open``, ``high``, ``low``, ``volume``; every feature reads ``adj_close``). On close-only data
(:func:`features.frame.missing_columns`) :func:`resolve_features` decides, in one place, which
features a model can use: the default set drops those that need a missing column with one logged
warning; an explicitly chosen set that needs one is refused by name.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.alpha import LEVEL_FEATURES, LEVEL_NEEDS
from features.cross_section import cross_sectional_rank
from features.frame import OPTIONAL_COLUMNS, missing_columns
from features.segments import DEFAULT_MAX_GAP, Segments
from features.technical import (
    atr,
    bollinger,
    dollar_volume_change,
    drawdown,
    garman_klass_vol,
    intraday_range,
    log_return,
    ma_distance,
    macd,
    parkinson_vol,
    realised_vol,
    rsi,
    volume_zscore,
)

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "SEED_TOLERANCE",
    "FeatureContext",
    "FeatureFn",
    "FeatureSpec",
    "compute_features",
    "feature_lookback",
    "feature_warmup",
    "intraday_range",
    "log_return",
    "ma_distance",
    "realised_vol",
    "resolve_features",
    "volume_zscore",
]

FeatureFn = Callable[[pd.DataFrame], pd.Series]
SEED_TOLERANCE = 1e-8
_log = logging.getLogger(__name__)

HL = ("high", "low")
OHLC = ("open", "high", "low")
VOLUME = ("volume",)


class FeatureContext:
    """One price frame, its segments and a cache shared by the features computed from it."""

    def __init__(self, prices: pd.DataFrame, segments: Segments) -> None:
        self.prices = prices
        self.segments = segments
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per context and key."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def release(self, name: str) -> None:
        """Forget a computed feature (it is recomputed if asked for again)."""
        self._cache.pop(f"feature:{name}", None)

    def feature(self, name: str) -> np.ndarray:
        """Values of a catalogue feature, float64 (n_rows,)."""
        return np.asarray(self.cached(f"feature:{name}", lambda: FEATURES[name].compute(self)), dtype="float64")


@dataclass(frozen=True)
class FeatureSpec:
    """A named feature.

    Attributes:
        name: the name models store.
        compute: values for every row of a context, float64 (n_rows,).
        warmup: rows of a segment before the first value.
        lookback: rows up to and including ``t`` that determine the value at ``t``.
        needs: optional price columns (:data:`features.frame.OPTIONAL_COLUMNS`) it reads besides
            ``close`` and ``adj_close``; empty for close-only features.
    """

    name: str
    compute: Callable[[FeatureContext], np.ndarray] = field(repr=False)
    warmup: int
    lookback: int
    needs: tuple[str, ...] = ()

    def __call__(self, prices: pd.DataFrame) -> pd.Series:
        """The feature alone for a canonical frame (default gap rule), row-aligned."""
        return pd.Series(self.compute(FeatureContext(prices, Segments.of(prices))), index=prices.index)


def _memory(alpha: float) -> int:
    """Steps after which a smoother's seed weighs less than :data:`SEED_TOLERANCE`."""
    return math.ceil(math.log(SEED_TOLERANCE) / math.log(1.0 - alpha))


def _smoothed_lookback(warmup: int, alpha: float) -> int:
    return warmup + 1 + _memory(alpha)


def _per_ticker(fn: Callable[..., pd.Series], **options: int) -> Callable[[FeatureContext], np.ndarray]:
    """A feature computed by a :mod:`features.technical` function returning one series."""

    def compute(c: FeatureContext) -> np.ndarray:
        return np.asarray(fn(c.prices, segments=c.segments, **options).to_numpy(dtype="float64"))

    return compute


def _column(key: str, fn: Callable[..., pd.DataFrame], column: str) -> Callable[[FeatureContext], np.ndarray]:
    """One column of a :mod:`features.technical` function returning several (computed once)."""

    def compute(c: FeatureContext) -> np.ndarray:
        frame = c.cached(key, lambda: fn(c.prices, segments=c.segments))
        return np.asarray(frame[column].to_numpy(dtype="float64"))

    return compute


def _ranked(base: str) -> Callable[[FeatureContext], np.ndarray]:
    """Cross-sectional percentile rank of another feature."""

    def compute(c: FeatureContext) -> np.ndarray:
        return cross_sectional_rank(c.feature(base), c.prices["date"].to_numpy())

    return compute


def _optional(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a feature reads that a close-only source may lack."""
    return tuple(c for c in columns if c in OPTIONAL_COLUMNS)


_RANK_BASES: dict[str, str] = {}
"""Cross-sectional features (computed over all tickers of a date) -> the per-ticker feature they rank."""


def _catalogue() -> dict[str, FeatureSpec]:
    wilder14 = _smoothed_lookback(14, 1 / 14)
    macd_line = _smoothed_lookback(25, 2 / 27)  # the 26-day EMA forgets its seed last
    macd_signal = macd_line + 9 + _memory(2 / 10)
    specs = [
        *(FeatureSpec(f"ret_{k}", _per_ticker(log_return, periods=k), k, k + 1) for k in (1, 5, 10, 20, 60)),
        *(FeatureSpec(f"vol_{w}", _per_ticker(realised_vol, window=w), w, w + 1) for w in (20, 60)),
        FeatureSpec("vol_pk_20", _per_ticker(parkinson_vol, window=20), 19, 20, HL),
        FeatureSpec("vol_gk_20", _per_ticker(garman_klass_vol, window=20), 19, 20, OHLC),
        FeatureSpec("range_1", lambda c: np.asarray(intraday_range(c.prices).to_numpy(dtype="float64")), 0, 1, HL),
        FeatureSpec("rsi_14", _per_ticker(rsi, window=14), 14, wilder14),
        FeatureSpec("atr_14", _per_ticker(atr, window=14), 14, wilder14, HL),
        FeatureSpec("macd", _column("macd", macd, "macd"), 25, macd_line),
        FeatureSpec("macd_signal", _column("macd", macd, "macd_signal"), 33, macd_signal),
        FeatureSpec("macd_hist", _column("macd", macd, "macd_hist"), 33, macd_signal),
        FeatureSpec("bb_pctb_20", _column("bollinger", bollinger, "pctb"), 19, 20),
        FeatureSpec("bb_width_20", _column("bollinger", bollinger, "width"), 19, 20),
        *(FeatureSpec(f"ma_dist_{w}", _per_ticker(ma_distance, window=w), w - 1, w) for w in (20, 50, 200)),
        *(FeatureSpec(f"dd_{w}", _per_ticker(drawdown, window=w), w - 1, w) for w in (20, 60, 252)),
        FeatureSpec("volume_z_20", _per_ticker(volume_zscore, window=20), 19, 20, VOLUME),
        FeatureSpec("dvol_chg_5", _per_ticker(dollar_volume_change, window=5), 9, 10, VOLUME),
    ]
    by_name = {s.name: s for s in specs}
    for base in ("ret_5", "ret_20", "ret_60", "vol_20", "volume_z_20"):
        b = by_name[base]
        specs.append(FeatureSpec(f"xs_{base}", _ranked(base), b.warmup, b.lookback, b.needs))
        _RANK_BASES[f"xs_{base}"] = base
    # features.alpha: the per-row levels of the alpha360 set
    specs += [FeatureSpec(name, _level(fn), 0, 1, _optional(LEVEL_NEEDS[name])) for name, fn in LEVEL_FEATURES.items()]
    return {s.name: s for s in specs}


def _level(fn: Callable[[pd.DataFrame], np.ndarray]) -> Callable[[FeatureContext], np.ndarray]:
    """A per-row level of :mod:`features.alpha` (read relative to its window's last row)."""
    return lambda c: fn(c.prices)


FEATURES: dict[str, FeatureSpec] = _catalogue()

# What a default model trains on: momentum at three horizons, three volatility estimators (the
# band classifier lives on volatility), three oscillators, trend stretch and drawdown, and
# activity. Every warm-up is at most 33 rows; cross-sectional ranks stay opt-in because they tie
# a model to its universe.
DEFAULT_FEATURES: tuple[str, ...] = (
    "ret_1",
    "ret_5",
    "ret_20",
    "vol_20",
    "vol_gk_20",
    "atr_14",
    "rsi_14",
    "macd",
    "macd_hist",
    "bb_pctb_20",
    "ma_dist_20",
    "dd_20",
    "volume_z_20",
    "dvol_chg_5",
)


def _check_names(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise ValueError(f"features must be a non-empty subset of {list(FEATURES)}, got {list(names)}")


def feature_warmup(names: Sequence[str]) -> int:
    """Rows of a segment before every named feature has a value.

    Raises:
        ValueError: naming any unknown feature.
    """
    _check_names(names)
    return max(FEATURES[n].warmup for n in names)


def feature_lookback(names: Sequence[str]) -> int:
    """Rows of a ticker up to and including ``t`` that determine all named features at ``t``.

    Raises:
        ValueError: naming any unknown feature.
    """
    _check_names(names)
    return max(FEATURES[n].lookback for n in names)


def resolve_features(names: Sequence[str], prices: pd.DataFrame, *, adapt: bool | None = None) -> tuple[str, ...]:
    """The features a model can use on ``prices``: the one place that decides, for close-only data.

    A column is *missing* when some ticker of ``prices`` has it NaN on every row
    (:func:`features.frame.missing_columns`): a model is one feature matrix for the whole universe,
    so one close-only ticker makes the column missing for all (its rows would otherwise never
    have a full window). Rows where a present column is NaN only now and then stay as they are
    (NaN features; windows skip them).

    Args:
        names: The requested feature names.
        prices: The canonical prices the model trains on or scores.
        adapt: Whether features that need a missing column may be dropped. None (the default):
            only when ``names`` is :data:`DEFAULT_FEATURES` (the set nobody chose by name). A model
            being scored passes False: it must see exactly the features it was trained on.

    Returns:
        ``names`` in order, less the dropped features (one ``WARNING`` log record names them,
        the missing columns and the tickers lacking them).

    Raises:
        ValueError: for unknown names; when a feature that may not be dropped needs a missing
            column (naming the feature, the column and the tickers); when nothing is left.
    """
    _check_names(names)
    absent = missing_columns(prices)
    lacking = {n: [c for c in FEATURES[n].needs if c in absent] for n in names}
    lacking = {n: cols for n, cols in lacking.items() if cols}
    if not lacking:
        return tuple(names)
    columns = [c for c in absent if any(c in cols for cols in lacking.values())]
    by_tickers: dict[tuple[str, ...], list[str]] = {}
    for c in columns:
        by_tickers.setdefault(absent[c], []).append(c)
    who = "; ".join(f"{', '.join(cols)} NaN throughout for {list(t)}" for t, cols in by_tickers.items())
    if adapt is None:
        adapt = tuple(names) == DEFAULT_FEATURES
    if not adapt:
        what = ", ".join(f"{n} needs {'/'.join(cols)}" for n, cols in lacking.items())
        raise ValueError(f"features unavailable on these prices: {what} ({who}); choose features without them")
    kept = tuple(n for n in names if n not in lacking)
    if not kept:
        raise ValueError(f"no feature of {list(names)} is available on these prices ({who})")
    _log.warning(
        "close-only data: %s; the default feature set drops %s and keeps %d features",
        who,
        sorted(lacking),
        len(kept),
    )
    return kept


def compute_features(
    prices: pd.DataFrame, *, names: Sequence[str] = DEFAULT_FEATURES, max_gap: int = DEFAULT_MAX_GAP
) -> pd.DataFrame:
    """Compute the named features for every row of a canonical price frame.

    Args:
        prices: Canonical frame (sorted by ticker, date), any number of tickers.
        names: Feature names from :data:`FEATURES`, in the column order wanted.
        max_gap: business days between consecutive rows beyond which a ticker's history is cut
            in two (see :mod:`features.segments`).

    Returns:
        New frame with ``date, ticker`` and one float64 column per feature, row-aligned with
        ``prices`` (same index). Warm-up rows are NaN.

    Raises:
        ValueError: naming any unknown feature, or when ``prices`` is not sorted by (ticker, date).
    """
    _check_names(names)
    context = FeatureContext(prices, Segments.of(prices, max_gap=max_gap))
    out = prices.loc[:, ["date", "ticker"]].copy()
    for name in names:
        out[name] = context.feature(name)
    return out


CHUNK_ROWS = 1 << 18
"""Rows of whole tickers per chunk of :func:`feature_matrix` (the kernels' temporaries scale with it)."""


def feature_matrix(
    prices: pd.DataFrame,
    *,
    names: Sequence[str] = DEFAULT_FEATURES,
    max_gap: int = DEFAULT_MAX_GAP,
    chunk_rows: int = CHUNK_ROWS,
) -> np.ndarray:
    """The same values as :func:`compute_features`, as one float64 array (n_rows, len(names)).

    Filled into one preallocated array. The per-ticker features are computed on chunks of whole
    tickers of about ``chunk_rows`` rows, so the kernels' temporaries (a dozen columns' worth for
    ATR or RSI) scale with a chunk, not with the panel. Every per-ticker value depends only on
    rows of its own segment and every kernel restarts at a segment's first row, so the values are
    the same to the bit as on the whole frame. The cross-sectional ranks (``xs_*``) need every
    ticker of a date: their base feature is filled in chunks too and ranked over all rows after.

    Args:
        prices: Canonical frame (sorted by ticker, date), any number of tickers.
        names: Feature names from :data:`FEATURES`, in the column order wanted.
        max_gap: see :func:`compute_features`.
        chunk_rows: rows per chunk (>= 1); a ticker longer than that is one chunk of its own.

    Raises:
        ValueError: naming any unknown feature, for ``chunk_rows`` < 1, or when ``prices`` is not
            sorted by (ticker, date).
    """
    _check_names(names)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got chunk_rows={chunk_rows}")
    Segments.of(prices, max_gap=max_gap)  # validates the order once, as compute_features does
    out = np.empty((len(prices), len(names)), dtype="float64")
    ranked = {j: name for j, name in enumerate(names) if name in _RANK_BASES}
    bases = sorted({_RANK_BASES[name] for name in ranked.values()})
    base_values = {b: np.empty(len(prices), dtype="float64") for b in bases}
    per_ticker = [(j, name) for j, name in enumerate(names) if j not in ranked]
    for lo, hi in _ticker_chunks(pd.factorize(prices["ticker"])[0], chunk_rows):
        part = prices.iloc[lo:hi]
        context = FeatureContext(part, Segments.of(part, max_gap=max_gap))
        for j, name in per_ticker:
            out[lo:hi, j] = context.feature(name)
            context.release(name)
        for b in bases:
            base_values[b][lo:hi] = context.feature(b)
            context.release(b)
        del context, part
    dates = prices["date"].to_numpy()
    for j, name in ranked.items():
        out[:, j] = cross_sectional_rank(base_values[_RANK_BASES[name]], dates)
    return out


def _ticker_chunks(codes: np.ndarray, chunk_rows: int) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of whole tickers, each at least ``chunk_rows`` rows but the last.

    ``codes`` are the rows' ticker codes (``pd.factorize``; rows grouped by ticker). Codes, not the
    symbols: ``to_numpy`` of a string column makes a Python object per row (half a feature matrix).
    """
    n = len(codes)
    if n == 0:
        return []
    starts = np.flatnonzero(np.diff(codes) != 0) + 1
    bounds = [0]
    for s in starts:
        if s - bounds[-1] >= chunk_rows:
            bounds.append(int(s))
    bounds.append(n)
    return list(itertools.pairwise(bounds))
