"""From a canonical price frame to one panel: features, labels and usable window ends.

The panel keeps every row of the prices (sorted by ticker, date). Normalisation fitted across
time is *not* applied here: it must be fitted on each training slice
(:class:`features.scaling.FeatureScaler`), and windows are cut after the split
(:class:`features.windows.WindowSet`). The optional cross-sectional normalisation
(``cs_norm``, :func:`features.cross_section.cross_sectional_normalise`) *is* applied here: it fits
nothing across time (each date's values use that date's rows only), so it cannot leak a test row
into training; the scaler still runs on its output afterwards. Likewise the
``quantile`` label scheme is fitted on training rows: :meth:`Panel.fit_labels` returns a panel
whose labels use cut points learned from those rows only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from features.alpha import expand_feature_sets, missing_references, relative_pairs
from features.cross_section import cross_sectional_normalise
from features.indicators import DEFAULT_FEATURES, FEATURES, feature_matrix, resolve_features
from features.labels import UNLABELED, LabelConfig, QuantileBand, class_balance, make_labels, omit_defaults
from features.segments import DEFAULT_MAX_GAP, Segments
from features.universe import Universe
from features.windows import finite_rows, window_end_mask


class DatasetConfig(BaseModel):
    """What a model sees and what it predicts.

    Each field's description is its documentation, ``updown backtest --help``'s text and Prefect's.
    ``max_gap`` cuts a history in segments (:mod:`features.segments`). ``features`` may name a
    feature set of :data:`features.alpha.FEATURE_SETS` (``alpha360``...), replaced by its members.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...] = Field(
        DEFAULT_FEATURES, description="names from the feature table, see docs/features.md"
    )
    timesteps: int = Field(30, ge=1, le=1000, description="trading days per input window")
    label: LabelConfig = Field(LabelConfig(), description="label timing and scheme")
    max_gap: int = Field(
        DEFAULT_MAX_GAP,
        ge=1,
        le=260,
        description="business days between two rows of a ticker beyond which its history is cut in two: "
        "features, labels and windows never reach across the cut",
    )
    cs_norm: Literal["none", "zscore", "rank"] = Field(
        "none",
        description="per-date normalisation of the features across tickers, as Qlib's CSZScoreNorm (zscore) "
        "or CSRankNorm (rank); none keeps them as computed",
    )
    universe: Universe | None = Field(
        None,
        description="tickers and their membership dates (features.universe); rows outside membership are "
        "no samples and left out of every cross-section (default: every row is a member)",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_defaults(self, handler(self), ("cs_norm", "universe"))

    @field_validator("features", mode="before")
    @classmethod
    def _expand_sets(cls, names: Any) -> Any:
        if isinstance(names, str):
            names = (names,)
        return expand_feature_sets(names) if isinstance(names, list | tuple) else names

    @field_validator("features")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in names if n not in FEATURES]
        if unknown or not names or len(set(names)) != len(names):
            raise ValueError(f"features must be distinct names from {list(FEATURES)}, got {list(names)}")
        if missing := missing_references(names):
            raise ValueError(f"features {list(names)} read their windows relative to {missing}: add them")
        return names

    @property
    def relative_columns(self) -> tuple[tuple[int, int], ...]:
        """``(column, reference column)`` of the window-relative level features (:mod:`features.alpha`)."""
        return relative_pairs(self.features)


@dataclass(frozen=True)
class Panel:
    """Row-aligned arrays for a universe (n_rows = all price rows, sorted by ticker, date).

    Attributes:
        keys: frame with ``date, ticker`` per row.
        X: float64 (n_rows, n_features) features, normalised across each date's tickers when
            ``config.cs_norm`` asks for it (the window-relative level columns excepted), otherwise raw.
        label: int8 (n_rows,), 0/1/2 or -1 when unlabeled; all -1 while a ``quantile`` panel
            awaits :meth:`fit_labels` (see :attr:`labels_ready`).
        forward_return: float64 (n_rows,), the labelled return (NaN when the row has no label
            under the scheme).
        label_end: datetime64 (n_rows,), date of the close ``t+lag+horizon`` (NaT when the row has
            no label under the scheme): the last price the label depends on.
        window_ok: bool (n_rows,), a full window of usable rows of one segment ends here.
        config: how it was built.
        label_state: JSON-ready fitted label state: ``{"scheme": ...}``, plus for ``quantile``
            the ``quantiles`` and, once fitted, ``thresholds`` (lower, upper returns) and ``n_fit``.
    """

    keys: pd.DataFrame
    X: np.ndarray
    label: np.ndarray
    forward_return: np.ndarray
    label_end: np.ndarray
    window_ok: np.ndarray
    config: DatasetConfig
    label_state: dict[str, Any] = field(default_factory=dict)

    @property
    def dates(self) -> np.ndarray:
        return self.keys["date"].to_numpy()

    @property
    def calendar(self) -> pd.DatetimeIndex:
        """Sorted unique dates of the universe."""
        return pd.DatetimeIndex(np.unique(self.dates))

    @property
    def labels_ready(self) -> bool:
        """False only for a ``quantile`` panel whose thresholds are not fitted yet."""
        return self.config.label.scheme != "quantile" or "thresholds" in self.label_state

    def samples(self, *, labeled: bool = True) -> np.ndarray:
        """Row positions that can be samples: a full window ends there (and, if asked, labeled).

        "Labeled" means the row has a complete label window under the scheme (``label_end`` is
        set); on a fitted or fitting-free panel these are exactly the rows with ``label >= 0``.
        """
        ok = self.window_ok & ~np.isnat(self.label_end) if labeled else self.window_ok
        return np.flatnonzero(ok)

    def class_balance(self, rows: np.ndarray) -> dict[str, float]:
        """Share of each class among the labeled ``rows`` (e.g. one split's samples)."""
        return class_balance(self.label[np.asarray(rows, dtype="int64")])

    def fit_labels(self, rows: np.ndarray) -> Panel:
        """A new panel whose labels use thresholds fitted on the forward returns of ``rows`` only.

        For the ``quantile`` scheme the cut points are the configured quantiles of
        ``forward_return[rows]`` (pass the training rows of a fold), then frozen and applied to
        every row. Other schemes need no fitting: returns ``self``.

        Args:
            rows: int array of row positions, each with a label window (see :meth:`samples`).

        Raises:
            ValueError: when ``rows`` is empty or holds rows without a forward return.
        """
        if self.config.label.scheme != "quantile":
            return self
        rows = np.asarray(rows, dtype="int64")
        r = self.forward_return[rows]
        if len(rows) == 0 or not np.isfinite(r).all():
            bad = int(np.sum(~np.isfinite(r)))
            raise ValueError(f"rows must be a non-empty set of labeled rows, got {len(rows)} rows ({bad} unlabeled)")
        band = QuantileBand(quantiles=self.config.label.quantiles).fit(r)
        return self._relabel(band)

    def with_label_state(self, state: dict[str, Any]) -> Panel:
        """A panel labelled with a stored :attr:`label_state` (e.g. a model's frozen thresholds).

        Raises:
            ValueError: when the state's scheme differs from the config's or holds no thresholds.
        """
        scheme = self.config.label.scheme
        if state.get("scheme") != scheme:
            raise ValueError(f"label state scheme must be {scheme!r}, got scheme={state.get('scheme')!r}")
        if scheme != "quantile":
            return self
        if state.get("thresholds") is None:
            raise ValueError("label state holds no thresholds: fit_labels() on training rows first")
        return self._relabel(QuantileBand.from_dict(state))

    def _relabel(self, band: QuantileBand) -> Panel:
        labelable = ~np.isnat(self.label_end)
        label = np.where(labelable, band.transform(self.forward_return), UNLABELED).astype("int8")
        return dataclasses.replace(self, label=label, label_state=band.to_dict())


def build_panel(prices: pd.DataFrame, config: DatasetConfig) -> Panel:
    """Compute features, labels and window validity for a canonical price frame.

    Args:
        prices: Canonical frame (see :mod:`features.frame`), sorted by ``(ticker, date)``.
        config: Features, timesteps, label settings and the gap rule.

    Returns:
        The panel; final labels, except for the ``quantile`` scheme, whose labels stay pending
        (-1) until :meth:`Panel.fit_labels`.

    Raises:
        ValueError: when a feature needs a column the prices lack (close-only data); adapt the
            config first with :func:`features.indicators.resolve_features`.

    Warns:
        features.labels.ThinCrossSectionWarning: under ``cross_section``, once, when dates with too
            few labelled tickers were left unlabeled.

    With ``config.universe`` (:mod:`features.universe`), rows outside membership keep their
    features (a member's windows may read its earlier history) but are no window ends, carry no
    label and take no part in a cross-section: ``cs_norm`` normalises them among the other
    non-members of their date, apart from the members.
    """
    resolve_features(config.features, prices, adapt=False)  # exactly the configured features, or refuse
    members = member_mask(prices, config.universe)
    # Labels and segment codes first: their temporaries then peak before the feature matrix exists;
    # only the three label columns the panel keeps stay alive while it is built.
    labels = make_labels(prices, config.label, max_gap=config.max_gap, members=members)
    label = labels["label"].to_numpy()
    forward_return = labels["forward_return"].to_numpy(dtype="float64")
    label_end = labels["label_end"].to_numpy()
    del labels
    codes = Segments.of(prices, max_gap=config.max_gap).codes
    X = feature_matrix(prices, names=config.features, max_gap=config.max_gap)
    if config.cs_norm != "none":
        skip = [j for j, _ in config.relative_columns]
        groups = _cross_section_groups(prices["date"].to_numpy(), members)
        X = cross_sectional_normalise(X, groups, method=config.cs_norm, skip=skip)
    ok = window_end_mask(codes, finite_rows(X), timesteps=config.timesteps)
    if members is not None:
        ok &= members
    scheme = config.label.scheme
    state = QuantileBand(quantiles=config.label.quantiles).to_dict() if scheme == "quantile" else {"scheme": scheme}
    return Panel(
        keys=prices.loc[:, ["date", "ticker"]].reset_index(drop=True),
        X=X,
        label=label,
        forward_return=forward_return,
        label_end=label_end,
        window_ok=ok,
        config=config,
        label_state=state,
    )


def member_mask(prices: pd.DataFrame, universe: Universe | None) -> np.ndarray | None:
    """Whether each price row's ticker was a member on its date (None without a universe: all are)."""
    if universe is None:
        return None
    return universe.mask(prices["ticker"].to_numpy(), prices["date"].to_numpy())


def _cross_section_groups(dates: np.ndarray, members: np.ndarray | None) -> np.ndarray:
    """The cross-section key of each row: its date, with non-members in a group of their own per date."""
    if members is None:
        return dates
    day = pd.DatetimeIndex(dates).strftime("%Y-%m-%d").to_numpy(dtype=object)
    return np.where(members, day, "out:" + day)
