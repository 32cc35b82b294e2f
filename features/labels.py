"""Down / flat / up labels. **Labels look ahead by construction**: they are the only thing in
``features/`` that reads the future, and they must never be used as model inputs.

Timing (the one place it is defined; the backtest's P&L uses the same):

* decision at the close of day ``t``, using features known at that close;
* the position is entered at the close of day ``t + lag`` (execution lag, default 1 day);
* the label is the simple return of ``adj_close`` from the close of ``t + lag`` to the close of
  ``t + lag + horizon`` (default 5 trading days of that ticker);
* rows whose forward window is incomplete (the last ``lag + horizon`` rows of a ticker) get no
  label, ever.

Classes, in this fixed order: ``0 = down`` (return < -band), ``1 = flat`` (|return| <= band,
ties at the band edge are flat), ``2 = up`` (return > band).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

CLASSES: tuple[str, str, str] = ("down", "flat", "up")
UNLABELED = -1


class LabelConfig(BaseModel):
    """Label timing and the down/flat/up band.

    Attributes:
        horizon: trading days the forward return spans.
        lag: trading days between the decision close and the entry close.
        band: half-width of the flat band, as a fraction (0.01 = ±1%).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(5, ge=1, le=250)
    lag: int = Field(1, ge=0, le=20)
    band: float = Field(0.01, gt=0, lt=1)


def forward_returns(prices: pd.DataFrame, *, horizon: int = 5, lag: int = 1) -> pd.DataFrame:
    """Forward simple returns and the date each label window ends.

    Args:
        prices: Canonical frame sorted by ``(ticker, date)``.
        horizon: Trading days of the forward return (>= 1).
        lag: Execution lag in trading days (>= 0).

    Returns:
        Frame row-aligned with ``prices``: ``date, ticker``, ``forward_return`` (fraction,
        NaN when the window is incomplete) and ``label_end`` (the date of close ``t+lag+horizon``,
        NaT when incomplete).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got horizon={horizon}")
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got lag={lag}")
    by = prices["ticker"].to_numpy()
    adj = prices["adj_close"]
    entry = adj.groupby(by, sort=False).shift(-lag)
    exit_ = adj.groupby(by, sort=False).shift(-(lag + horizon))
    end = prices["date"].groupby(by, sort=False).shift(-(lag + horizon))
    return prices.loc[:, ["date", "ticker"]].assign(forward_return=exit_ / entry - 1.0, label_end=end)


def bucket(forward_return: np.ndarray | pd.Series, *, band: float) -> np.ndarray:
    """Map simple returns to classes 0/1/2; NaN becomes :data:`UNLABELED` (-1). int8 array."""
    if not 0 < band < 1:
        raise ValueError(f"band must be in (0, 1), got band={band}")
    r = np.asarray(forward_return, dtype="float64")
    out = np.full(r.shape, 1, dtype="int8")
    out[r < -band] = 0
    out[r > band] = 2
    out[np.isnan(r)] = UNLABELED
    return out


def make_labels(prices: pd.DataFrame, config: LabelConfig) -> pd.DataFrame:
    """Forward returns, label ends and classes for every row of ``prices``.

    Returns:
        Frame with ``date, ticker, forward_return, label_end, label`` (int8, -1 = unlabeled).
    """
    fwd = forward_returns(prices, horizon=config.horizon, lag=config.lag)
    return fwd.assign(label=bucket(fwd["forward_return"], band=config.band))


def class_balance(labels: np.ndarray) -> dict[str, float]:
    """Share of each class among labeled entries, keyed by class name."""
    lab = np.asarray(labels)
    lab = lab[lab >= 0]
    n = max(len(lab), 1)
    return {name: float(np.sum(lab == k)) / n for k, name in enumerate(CLASSES)}
