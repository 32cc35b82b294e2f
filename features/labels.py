"""Down / flat / up labels. **Labels look ahead by construction**: this module and
:mod:`features.barriers` are the only code in ``features/`` that reads the future, and labels must
never be used as model inputs.

Timing (the one place it is defined; the backtest's P&L uses the same):

* decision at the close of day ``t``, using features known at that close;
* the position is entered at the close of day ``t + lag`` (execution lag, default 1 day);
* the forward return is the simple return of ``adj_close`` from the close of ``t + lag`` to the
  close of ``t + lag + horizon`` (default 5 trading days of that ticker);
* rows whose forward window is incomplete (the last ``lag + horizon`` rows of a ticker, or rows
  whose window would cross a gap in its history, see :mod:`features.segments`) get no label, ever.

Classes, in this fixed order: ``0 = down``, ``1 = flat``, ``2 = up``. A row is down when its
forward return is strictly below its lower threshold, up when strictly above its upper threshold,
flat otherwise: **ties at a band edge are flat**. The schemes differ in the thresholds:

* ``fixed``: ``±band``.
* ``volatility``: ``±k * sigma_t * sqrt(horizon)``, where ``sigma_t`` is the std (ddof=1) of the
  daily log returns of the ``vol_window`` days ending at ``t``: data known at the decision.
  Rows before ``sigma_t`` exists are unlabeled.
* ``quantile``: the ``quantiles`` of the forward returns of the *training* rows, fitted by
  :class:`QuantileBand` and then frozen (:meth:`features.dataset.Panel.fit_labels`); until fitted,
  labels are pending (-1).
* ``cross_section``: each date's labelled rows against one another (:func:`cross_section_labels`):
  by default down / flat / up by the place of the forward return among that date's forward returns
  (cut at ``quantiles``, terciles by default); with ``cs_split="median_band"``, down below the
  date's median ``- cs_band``, up above its median ``+ cs_band``. The target is market-neutral.
* ``triple_barrier`` (:mod:`features.barriers`): from the entry close, an upper barrier at
  ``+profit_take * sigma_t * sqrt(horizon)`` and a lower one at ``-stop_loss * sigma_t *
  sqrt(horizon)``, watched with the adjusted highs and lows of days ``t+lag+1 .. t+lag+horizon``;
  up / down by the first barrier touched, flat when the vertical barrier (``horizon``) comes first.

``label_end`` is the close ``t + lag + horizon`` for every scheme, the last price any label or
forward return may depend on, so purging on it is safe (:mod:`features.split`). Under
``cross_section`` a row's class depends on every forward return of its date, so its ``label_end``
is the latest ``label_end`` among them (the same date when the tickers share a calendar).

**Holding period** (:func:`holding_days`): a position taken on the label is held ``horizon`` days,
except under ``triple_barrier``, where it is closed at the close of the day the first barrier was
touched (the label's ``touch_day``), as the label itself was decided; the strategy P&L uses it.

**Windows cut by a halt or a delisting** (:func:`cut_label_windows`): a row whose ``t+lag+horizon``
window crosses a gap or runs past the ticker's last row, while the universe's calendar goes on for
another ``lag + horizon`` days, is dropped like any unlabeled row (its return to the last price is
not a ``horizon``-day return, and a label must not change once it exists). The backtest counts them
in ``metrics.json`` (``cut_label_windows``) so the drop is never silent.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from features.barriers import first_touch
from features.segments import DEFAULT_MAX_GAP, Segments
from features.technical import realised_vol

CLASSES: tuple[str, str, str] = ("down", "flat", "up")
PROB_COLUMNS: tuple[str, str, str] = ("p_down", "p_flat", "p_up")
"""The probability columns of every prediction, in class order (:data:`CLASSES`)."""
UNLABELED = -1
LabelScheme = Literal["fixed", "volatility", "quantile", "cross_section", "triple_barrier"]
CrossSectionSplit = Literal["quantiles", "median_band"]


CROSS_SECTION_FIELDS: tuple[str, ...] = ("cs_split", "cs_band", "cs_min_tickers")


def omit_defaults(config: BaseModel, dumped: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``dumped`` without the named fields that hold their defaults.

    Fields added after configs were first stored are left out of a dump while at their default, so
    every earlier configuration dumps (into model cards, ``metrics.json``, fold-cache keys) exactly
    as before; loading restores the defaults.
    """
    model_fields = type(config).model_fields
    return {k: v for k, v in dumped.items() if k not in fields or getattr(config, k) != model_fields[k].default}


class LabelConfig(BaseModel):
    """Label timing and the down/flat/up thresholds (the module docstring has the timing and schemes).

    Each field's description is its documentation, ``updown backtest --help``'s text and Prefect's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(5, ge=1, le=250, description="label horizon in trading days: the forward return spans them")
    lag: int = Field(1, ge=0, le=20, description="trading days between the decision close and the entry close")
    band: float = Field(
        0.01, gt=0, lt=1, description="half-width of the fixed scheme's flat band, as a fraction (0.01 = ±1%)"
    )
    scheme: LabelScheme = Field(
        "fixed", description="how returns become down/flat/up, see docs/features.md (fixed: ±band)"
    )
    vol_window: int = Field(
        20, ge=2, le=1000, description="days of daily log returns in sigma_t (volatility, triple_barrier)"
    )
    k: float = Field(0.5, gt=0, le=20, description="half-width of the volatility band, in horizon standard deviations")
    quantiles: tuple[float, float] = Field(
        (1 / 3, 2 / 3),
        description="lower and upper cut points of the quantile scheme (over training returns) and of the "
        "cross_section scheme (over each date's returns), as probabilities",
    )
    profit_take: float = Field(
        1.0, gt=0, le=20, description="upper barrier of triple_barrier, in horizon standard deviations"
    )
    stop_loss: float = Field(
        1.0, gt=0, le=20, description="lower barrier of triple_barrier, in horizon standard deviations"
    )
    cs_split: CrossSectionSplit = Field(
        "quantiles",
        description="how cross_section splits a date's returns: quantiles (at --quantiles, terciles by default) "
        "or median_band (the date's median ± cs_band)",
    )
    cs_band: float = Field(
        0.0, ge=0, lt=1, description="half-width of cross_section's flat band around the date's median, a fraction"
    )
    cs_min_tickers: int = Field(
        5, ge=2, le=10_000, description="cross_section leaves dates with fewer labelled tickers unlabeled"
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_defaults(self, handler(self), CROSS_SECTION_FIELDS)

    @field_validator("quantiles")
    @classmethod
    def _ordered(cls, q: tuple[float, float]) -> tuple[float, float]:
        if not 0 < q[0] < q[1] < 1:
            raise ValueError(f"quantiles must satisfy 0 < lower < upper < 1, got quantiles={q}")
        return q


def forward_returns(
    prices: pd.DataFrame, *, horizon: int = 5, lag: int = 1, max_gap: int = DEFAULT_MAX_GAP
) -> pd.DataFrame:
    """Forward simple returns and the date each label window ends.

    Args:
        prices: Canonical frame sorted by ``(ticker, date)``.
        horizon: Trading days of the forward return (>= 1).
        lag: Execution lag in trading days (>= 0).
        max_gap: business days between rows beyond which a ticker's history is cut in two.

    Returns:
        Frame row-aligned with ``prices``: ``date, ticker``, ``forward_return`` (fraction,
        NaN when the window is incomplete) and ``label_end`` (the date of close ``t+lag+horizon``,
        NaT when incomplete).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got horizon={horizon}")
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got lag={lag}")
    seg = Segments.of(prices, max_gap=max_gap)
    adj = prices["adj_close"].to_numpy(dtype="float64")
    entry = seg.shift(adj, -lag)
    exit_ = seg.shift(adj, -(lag + horizon))
    end = seg.shift_dates(prices["date"].to_numpy(), -(lag + horizon))
    return prices.loc[:, ["date", "ticker"]].assign(forward_return=exit_ / entry - 1.0, label_end=end)


def bucket_between(
    forward_return: np.ndarray | pd.Series, lower: np.ndarray | float, upper: np.ndarray | float
) -> np.ndarray:
    """Classes 0/1/2 against per-row thresholds: ``r < lower`` down, ``r > upper`` up, else flat.

    Args:
        forward_return: simple returns (n_rows,), fractions.
        lower: lower threshold(s), fractions (scalar or (n_rows,)).
        upper: upper threshold(s), fractions, ``>= lower``.

    Returns:
        int8 array (n_rows,); :data:`UNLABELED` (-1) where the return or a threshold is NaN.
    """
    r = np.asarray(forward_return, dtype="float64")
    lo = np.broadcast_to(np.asarray(lower, dtype="float64"), r.shape)
    hi = np.broadcast_to(np.asarray(upper, dtype="float64"), r.shape)
    out = np.full(r.shape, 1, dtype="int8")
    out[r < lo] = 0
    out[r > hi] = 2
    out[np.isnan(r) | np.isnan(lo) | np.isnan(hi)] = UNLABELED
    return out


def bucket(forward_return: np.ndarray | pd.Series, *, band: float) -> np.ndarray:
    """Map simple returns to classes 0/1/2 with a fixed ``±band``; NaN becomes -1. int8 array."""
    if not 0 < band < 1:
        raise ValueError(f"band must be in (0, 1), got band={band}")
    return bucket_between(forward_return, -band, band)


class QuantileBand:
    """Thresholds at quantiles of training forward returns (scikit-learn's estimator contract).

    Args:
        quantiles: lower and upper probabilities, ``0 < lower < upper < 1``; (1/3, 2/3) gives
            balanced classes on the training rows.
    """

    def __init__(self, *, quantiles: tuple[float, float] = (1 / 3, 2 / 3)) -> None:
        if not 0 < quantiles[0] < quantiles[1] < 1:
            raise ValueError(f"quantiles must satisfy 0 < lower < upper < 1, got quantiles={quantiles}")
        self.quantiles = (float(quantiles[0]), float(quantiles[1]))

    def fit(self, forward_return: np.ndarray) -> QuantileBand:
        """Learn ``thresholds_`` (lower, upper) from training returns (fractions, all finite)."""
        r = np.asarray(forward_return, dtype="float64")
        if r.ndim != 1 or len(r) == 0 or not np.isfinite(r).all():
            raise ValueError(f"forward_return must be a non-empty 1-d array of finite returns, got shape {r.shape}")
        lo, hi = np.quantile(r, self.quantiles)
        self.thresholds_ = (float(lo), float(hi))
        self.n_fit_ = len(r)
        return self

    def transform(self, forward_return: np.ndarray) -> np.ndarray:
        """Classes of ``forward_return`` with the frozen thresholds (int8, -1 where NaN)."""
        if not hasattr(self, "thresholds_"):
            raise RuntimeError("QuantileBand is not fitted; call fit() on training returns first")
        return bucket_between(forward_return, self.thresholds_[0], self.thresholds_[1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: scheme, quantiles and, once fitted, thresholds and n_fit."""
        state: dict[str, Any] = {"scheme": "quantile", "quantiles": list(self.quantiles)}
        if hasattr(self, "thresholds_"):
            state.update(thresholds=list(self.thresholds_), n_fit=self.n_fit_)
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> QuantileBand:
        """Rebuild from :meth:`to_dict` output (fitted when it holds thresholds)."""
        if state.get("scheme") != "quantile":
            raise ValueError(f"label state must have scheme='quantile', got scheme={state.get('scheme')!r}")
        band = cls(quantiles=(float(state["quantiles"][0]), float(state["quantiles"][1])))
        if state.get("thresholds") is not None:
            lo, hi = (float(v) for v in state["thresholds"])
            if not lo <= hi:
                raise ValueError(f"label state thresholds must be ordered, got thresholds={state['thresholds']}")
            band.thresholds_ = (lo, hi)
            band.n_fit_ = int(state.get("n_fit", 0))
        return band


class ThinCrossSectionWarning(UserWarning):
    """Some dates had too few labelled tickers for a ``cross_section`` label and were left unlabeled."""


def cross_section_labels(
    forward_return: np.ndarray, label_end: np.ndarray, dates: np.ndarray, config: LabelConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Down/flat/up of each row by its forward return's place among the same date's forward returns.

    Only rows with a forward return (a complete label window) take part. With
    ``config.cs_split == "quantiles"`` a row's place is its mid-rank percentile
    ``q = (rank - 0.5) / n`` among the ``n`` labelled rows of its date, ``rank`` being the average
    rank (1 = lowest return): down when ``q < quantiles[0]``, up when ``q > quantiles[1]``, flat
    otherwise, so the terciles of 6 tickers are 2/2/2 and of 5 tickers 2/1/2. **Ties** share their
    average rank and hence their class: the result depends on the returns only, never on the row
    order or the ticker names. With ``"median_band"`` the thresholds are the date's median
    ``∓ cs_band`` and :func:`bucket_between`'s rule applies (a return on an edge is flat; with
    ``cs_band=0`` only returns equal to the median are flat).

    **Why this is not look-ahead for features**: nothing is fitted across dates, let alone on test
    rows; date ``t``'s classes use only date ``t``'s forward returns, and every one of them ends
    by the returned ``label_end`` (the latest of the date's windows). Like every label it is known
    only at that close: a row becomes a training sample once its ``label_end`` has passed, which
    the purge and embargo (:mod:`features.split`) already require. Labels are never inputs.

    Args:
        forward_return: float (n_rows,), simple returns, NaN where the window is incomplete.
        label_end: datetime64 (n_rows,), each row's own window end (NaT where incomplete).
        dates: (n_rows,) the rows' decision dates.
        config: ``quantiles``, ``cs_split``, ``cs_band`` and ``cs_min_tickers``.

    Returns:
        ``(label, lower, upper, label_end)``: int8 classes (-1 where the row has no return or its
        date has fewer than ``cs_min_tickers`` labelled rows); the thresholds as returns (the
        date's median ∓ ``cs_band`` for ``median_band``, NaN for ``quantiles``, whose cut is on
        ranks); the date's latest window end (NaT where unlabeled).

    Warns:
        ThinCrossSectionWarning: once, naming how many dates were skipped for too few tickers.
    """
    r = np.asarray(forward_return, dtype="float64")
    n_rows = len(r)
    label = np.full(n_rows, UNLABELED, dtype="int8")
    lower, upper = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    end = np.full(n_rows, np.datetime64("NaT", "ns"))
    ok = np.flatnonzero(np.isfinite(r))
    if not len(ok):
        return label, lower, upper, end
    day = np.asarray(dates)[ok]
    grouped = pd.Series(r[ok]).groupby(day, sort=False)
    count = grouped.transform("count").to_numpy(dtype="int64")
    if config.cs_split == "quantiles":
        place = (grouped.rank(method="average").to_numpy(dtype="float64") - 0.5) / count
        lab = bucket_between(place, config.quantiles[0], config.quantiles[1])
    else:
        median = grouped.transform("median").to_numpy(dtype="float64")
        lo, hi = median - config.cs_band, median + config.cs_band
        lab = bucket_between(r[ok], lo, hi)
        lower[ok], upper[ok] = lo, hi
    ends = pd.Series(np.asarray(label_end)[ok].astype("datetime64[ns]")).groupby(day, sort=False).transform("max")
    thin = count < config.cs_min_tickers
    if thin.any():
        n_thin = len(pd.unique(day[thin]))
        warnings.warn(
            f"cross_section labels: {n_thin} of {len(pd.unique(day))} dates have fewer than "
            f"cs_min_tickers={config.cs_min_tickers} labelled tickers and were left unlabeled",
            ThinCrossSectionWarning,
            stacklevel=3,
        )
    keep = ok[~thin]
    label[keep] = lab[~thin]
    end[keep] = ends.to_numpy()[~thin]
    lower[ok[thin]], upper[ok[thin]] = np.nan, np.nan
    return label, lower, upper, end


def horizon_sigma(prices: pd.DataFrame, config: LabelConfig, *, max_gap: int = DEFAULT_MAX_GAP) -> np.ndarray:
    """``sigma_t * sqrt(horizon)``: the volatility unit of the scaled schemes, from data up to ``t``.

    Returns:
        float64 array (n_rows,), a fraction; NaN before ``vol_window`` returns exist.
    """
    seg = Segments.of(prices, max_gap=max_gap)
    sigma = realised_vol(prices, window=config.vol_window, segments=seg).to_numpy(dtype="float64")
    return np.asarray(sigma * np.sqrt(config.horizon))


def make_labels(
    prices: pd.DataFrame,
    config: LabelConfig,
    *,
    band: QuantileBand | None = None,
    max_gap: int = DEFAULT_MAX_GAP,
    members: np.ndarray | None = None,
) -> pd.DataFrame:
    """Forward returns, label ends, thresholds and classes for every row of ``prices``.

    Args:
        prices: Canonical frame sorted by ``(ticker, date)``.
        config: Timing and scheme.
        band: for the ``quantile`` scheme, fitted thresholds; None leaves labels pending (-1).
        max_gap: business days between rows beyond which a ticker's history is cut in two.
        members: bool (n_rows,), the rows inside the universe's membership (:mod:`features.universe`);
            the others get no label and stay out of ``cross_section``'s ranking. None: all rows.

    Returns:
        Frame with ``date, ticker, forward_return, label_end, label`` (int8, -1 = unlabeled or
        pending), ``lower, upper`` (the row's thresholds as returns; NaN where unknown) and
        ``label_decided`` (the date the class was settled: the barrier touch for
        ``triple_barrier``, ``label_end`` otherwise). Rows without a label under the scheme have
        NaN ``forward_return`` and NaT ``label_end``, except pending ``quantile`` rows.

    Raises:
        ValueError: when ``band`` is given for a scheme other than ``quantile``.
    """
    if band is not None and config.scheme != "quantile":
        raise ValueError(f"band is only used by scheme='quantile', got scheme={config.scheme!r}")
    fwd = forward_returns(prices, horizon=config.horizon, lag=config.lag, max_gap=max_gap)
    r = fwd["forward_return"].to_numpy(dtype="float64")
    if members is not None:  # a non-member has no label: it is no sample and in no date's cross-section
        r = np.where(members, r, np.nan)
    n = len(r)
    decided = end = fwd["label_end"].to_numpy()
    if config.scheme == "fixed":
        lower, upper = np.full(n, -config.band), np.full(n, config.band)
        label = bucket_between(r, lower, upper)
    elif config.scheme == "volatility":
        unit = horizon_sigma(prices, config, max_gap=max_gap)
        lower, upper = -config.k * unit, config.k * unit
        label = bucket_between(r, lower, upper)
    elif config.scheme == "quantile":
        lo, hi = band.thresholds_ if band is not None else (np.nan, np.nan)
        lower, upper = np.full(n, lo), np.full(n, hi)
        label = band.transform(r) if band is not None else np.full(n, UNLABELED, dtype="int8")
    elif config.scheme == "cross_section":
        label, lower, upper, end = cross_section_labels(r, end, prices["date"].to_numpy(), config)
        decided = end
    else:
        unit = horizon_sigma(prices, config, max_gap=max_gap)
        lower, upper = -config.stop_loss * unit, config.profit_take * unit
        touch = first_touch(prices, horizon=config.horizon, lag=config.lag, lower=lower, upper=upper, max_gap=max_gap)
        label = np.where(np.isnan(r), UNLABELED, touch["label"].to_numpy()).astype("int8")
        decided = touch["label_decided"].to_numpy()
    pending = config.scheme == "quantile" and band is None
    keep = ~np.isnan(r) if pending else label != UNLABELED
    nat = np.datetime64("NaT", "ns")
    return fwd.assign(
        forward_return=np.where(keep, r, np.nan),
        label_end=np.where(keep, end, nat),
        label=label,
        lower=np.where(keep, lower, np.nan),
        upper=np.where(keep, upper, np.nan),
        label_decided=np.where(keep & ~pending, decided, nat),
    )


def class_balance(labels: np.ndarray) -> dict[str, float]:
    """Share of each class among labeled entries, keyed by class name."""
    lab = np.asarray(labels)
    lab = lab[lab >= 0]
    n = max(len(lab), 1)
    return {name: float(np.sum(lab == k)) / n for k, name in enumerate(CLASSES)}


def class_balance_by_split(labels: np.ndarray, splits: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Class shares and counts of each split, e.g. ``{"train": rows, "val": rows, "test": rows}``.

    Args:
        labels: int array (n_rows,) of classes (-1 = unlabeled, ignored).
        splits: split name -> row positions (int array) into ``labels``.

    Returns:
        ``{split: {"down": share, "flat": share, "up": share, "n": labeled rows}}``.
    """
    lab = np.asarray(labels)
    out: dict[str, dict[str, Any]] = {}
    for name, rows in splits.items():
        part = lab[np.asarray(rows, dtype="int64")]
        out[name] = {**class_balance(part), "n": int(np.sum(part >= 0))}
    return out


def holding_days(prices: pd.DataFrame, config: LabelConfig, *, max_gap: int = DEFAULT_MAX_GAP) -> np.ndarray:
    """Trading days a position taken on each row's label is held, from the entry close ``t + lag``.

    ``horizon`` for every labeled row, except under ``triple_barrier``: the day ``d`` (1..horizon) of
    the first barrier touch (:func:`features.barriers.first_touch`), ``horizon`` when the vertical
    barrier came first.

    Returns:
        int64 array (n_rows,); -1 where the row has no complete label window.
    """
    if config.scheme != "triple_barrier":
        fwd = forward_returns(prices, horizon=config.horizon, lag=config.lag, max_gap=max_gap)
        return np.where(fwd["forward_return"].notna().to_numpy(), config.horizon, -1).astype("int64")
    unit = horizon_sigma(prices, config, max_gap=max_gap)
    touch = first_touch(
        prices, horizon=config.horizon, lag=config.lag, lower=-config.stop_loss * unit,
        upper=config.profit_take * unit, max_gap=max_gap,
    )  # fmt: skip
    return np.asarray(touch["touch_day"].to_numpy(dtype="int64"))


def cut_label_windows(
    prices: pd.DataFrame, *, horizon: int = 5, lag: int = 1, max_gap: int = DEFAULT_MAX_GAP
) -> np.ndarray:
    """Rows whose label window is cut by a gap (halt) or by the end of the ticker's data (delisting).

    A row is cut when fewer than ``lag + horizon`` rows follow it in its segment although the
    universe (every ticker of ``prices``) has at least ``lag + horizon`` trading days after its
    date: the window ``t .. t+lag+horizon`` would have closed had the ticker kept trading. Rows
    at the end of the data (whose windows simply have not closed yet) are not cut.

    Returns:
        bool array (n_rows,).
    """
    seg = Segments.of(prices, max_gap=max_gap)
    dates = prices["date"].to_numpy().astype("datetime64[ns]")
    calendar = np.unique(dates)
    after = len(calendar) - np.searchsorted(calendar, dates, side="right")
    return np.asarray((seg.left < lag + horizon) & (after >= lag + horizon))
