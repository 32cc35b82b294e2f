"""From a canonical price frame to one panel: features, labels and usable window ends.

The panel keeps every row of the prices (sorted by ticker, date). Normalisation is *not*
applied here: it must be fitted on each training slice (:class:`features.scaling.FeatureScaler`),
and windows are cut after the split (:class:`features.windows.WindowSet`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.indicators import DEFAULT_FEATURES, FEATURES, compute_features
from features.labels import LabelConfig, make_labels
from features.windows import window_end_mask


class DatasetConfig(BaseModel):
    """What a model sees and what it predicts.

    Attributes:
        features: names from :data:`features.indicators.FEATURES`.
        timesteps: rows per window.
        label: label timing and band.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...] = DEFAULT_FEATURES
    timesteps: int = Field(30, ge=1, le=1000)
    label: LabelConfig = LabelConfig()

    @field_validator("features")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in names if n not in FEATURES]
        if unknown or not names or len(set(names)) != len(names):
            raise ValueError(f"features must be distinct names from {list(FEATURES)}, got {list(names)}")
        return names


@dataclass(frozen=True)
class Panel:
    """Row-aligned arrays for a universe (n_rows = all price rows, sorted by ticker, date).

    Attributes:
        keys: frame with ``date, ticker`` per row.
        X: float64 (n_rows, n_features) raw, unnormalised features.
        label: int8 (n_rows,), 0/1/2 or -1 when unlabeled.
        forward_return: float64 (n_rows,), the labelled return (NaN when unlabeled).
        label_end: datetime64 (n_rows,), date the label window ends (NaT when unlabeled).
        window_ok: bool (n_rows,), a full window of usable rows ends here.
        config: how it was built.
    """

    keys: pd.DataFrame
    X: np.ndarray
    label: np.ndarray
    forward_return: np.ndarray
    label_end: np.ndarray
    window_ok: np.ndarray
    config: DatasetConfig

    @property
    def dates(self) -> np.ndarray:
        return self.keys["date"].to_numpy()

    @property
    def calendar(self) -> pd.DatetimeIndex:
        """Sorted unique dates of the universe."""
        return pd.DatetimeIndex(np.unique(self.dates))

    def samples(self, *, labeled: bool = True) -> np.ndarray:
        """Row positions that can be samples: a full window ends there (and, if asked, labeled)."""
        ok = self.window_ok & (self.label >= 0) if labeled else self.window_ok
        return np.flatnonzero(ok)


def build_panel(prices: pd.DataFrame, config: DatasetConfig) -> Panel:
    """Compute features, labels and window validity for a canonical price frame.

    Args:
        prices: Canonical frame (see :mod:`features.frame`), sorted by ``(ticker, date)``.
        config: Features, timesteps and label settings.
    """
    feats = compute_features(prices, names=config.features)
    labels = make_labels(prices, config.label)
    X = feats.loc[:, list(config.features)].to_numpy(dtype="float64")
    codes = pd.factorize(prices["ticker"])[0]
    ok = window_end_mask(codes, np.isfinite(X).all(axis=1), timesteps=config.timesteps)
    return Panel(
        keys=prices.loc[:, ["date", "ticker"]].reset_index(drop=True),
        X=X,
        label=labels["label"].to_numpy(),
        forward_return=labels["forward_return"].to_numpy(dtype="float64"),
        label_end=labels["label_end"].to_numpy(),
        window_ok=ok,
        config=config,
    )
