"""Feature normalisation fitted on training rows only (scikit-learn's estimator contract).

State is plain numbers and names, serialised to JSON (never pickle) and stored with a model.

Columns named ``passthrough`` (the window-relative log levels of :mod:`features.alpha`) are left as
they are: a z-score of a price *level* fitted across tickers and years means nothing, and clipping
it would break the log ratios the windows form from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class FeatureScaler:
    """Per-feature z-score with clipping: ``clip((x - mean_) / scale_, -clip, clip)``.

    Args:
        clip: Bound of the standardised values, in standard deviations; tames fat tails.
    """

    def __init__(self, *, clip: float = 5.0) -> None:
        if not clip > 0:
            raise ValueError(f"clip must be > 0, got clip={clip}")
        self.clip = clip

    def fit(
        self,
        X: np.ndarray,
        feature_names: Sequence[str],
        *,
        rows: np.ndarray | None = None,
        passthrough: Sequence[str] = (),
    ) -> FeatureScaler:
        """Learn mean and scale from the finite entries of ``X`` (n_rows, n_features).

        Args:
            X: Feature matrix.
            feature_names: One name per column.
            rows: Optional boolean mask or index of the training rows; fitting one column at a time
                through it avoids copying the whole training slice (memory stays ~ one column).
            passthrough: names of columns left unchanged (mean 0, scale 1, never clipped).
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(feature_names):
            raise ValueError(f"X must have shape (n_rows, {len(feature_names)}), got X.shape={X.shape}")
        unknown = [n for n in passthrough if n not in feature_names]
        if unknown:
            raise ValueError(f"passthrough names {unknown} are not among feature_names={list(feature_names)}")
        means, stds, empty = [], [], []
        for j, name in enumerate(feature_names):
            if name in passthrough:
                means.append(0.0)
                stds.append(1.0)
                continue
            col = np.asarray(X[:, j] if rows is None else X[rows, j], dtype="float64")
            col = col[np.isfinite(col)]
            if len(col) == 0:
                empty.append(name)
                continue
            means.append(col.mean())
            stds.append(col.std())
        if empty:
            raise ValueError(f"cannot fit scaler: features {empty} have no finite training value")
        self.mean_ = np.asarray(means)
        std = np.asarray(stds)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.feature_names_ = list(feature_names)
        self.passthrough_ = [n for n in feature_names if n in passthrough]
        return self

    def _clipped(self) -> np.ndarray:
        """Bool (n_features,): the columns that are clipped (all but the passthrough ones)."""
        return np.asarray([n not in self.passthrough_ for n in self.feature_names_])

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise RuntimeError("FeatureScaler is not fitted; call fit() on training rows first")

    def transform(self, X: np.ndarray, *, block: int = 65_536) -> np.ndarray:
        """Standardise ``X`` (n_rows, n_features) to float32; NaN stays NaN.

        Works through ``block`` rows at a time into one float32 output, so the temporaries stay
        small whatever the number of rows.
        """
        self._check_fitted()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.mean_):
            raise ValueError(f"X must have shape (n_rows, {len(self.mean_)}), got X.shape={X.shape}")
        out = np.empty(X.shape, dtype="float32")
        clipped = self._clipped()
        bound = np.where(clipped, self.clip, np.inf)
        for lo in range(0, len(X), block):
            z = (np.asarray(X[lo : lo + block], dtype="float64") - self.mean_) / self.scale_
            np.clip(z, -bound, bound, out=z)
            out[lo : lo + block] = z
        return out

    def normalise(self, X: np.ndarray) -> np.ndarray:
        """:meth:`transform` of any array whose last axis is the features, with NaN set to 0.

        What the network reads: unusable entries become 0 (they are never inside a window, see
        :mod:`features.windows`). Works on a whole feature matrix as on one batch of windows: a
        (batch, timesteps, n_features) array gives the same values, to the bit, as the same rows
        of the normalised matrix, since every step is elementwise.
        """
        X = np.asarray(X)
        out = self.transform(X.reshape(-1, X.shape[-1]))
        for lo in range(0, len(out), 65_536):  # in place, a block at a time: no full-size masks
            np.nan_to_num(out[lo : lo + 65_536], nan=0.0, copy=False)
        return out.reshape(X.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (``passthrough`` only when some column is)."""
        self._check_fitted()
        state: dict[str, Any] = {
            "kind": "zscore",
            "clip": self.clip,
            "feature_names": self.feature_names_,
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
        }
        if self.passthrough_:
            state["passthrough"] = list(self.passthrough_)
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureScaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output."""
        if state.get("kind") != "zscore":
            raise ValueError(f"scaler state must have kind='zscore', got kind={state.get('kind')!r}")
        scaler = cls(clip=float(state["clip"]))
        scaler.feature_names_ = list(state["feature_names"])
        scaler.mean_ = np.asarray(state["mean"], dtype="float64")
        scaler.scale_ = np.asarray(state["scale"], dtype="float64")
        scaler.passthrough_ = [str(n) for n in state.get("passthrough", [])]
        if any(n not in scaler.feature_names_ for n in scaler.passthrough_):
            raise ValueError(f"scaler state: passthrough {scaler.passthrough_} not among its feature_names")
        if not len(scaler.mean_) == len(scaler.scale_) == len(scaler.feature_names_):
            raise ValueError("scaler state: feature_names, mean and scale differ in length")
        return scaler
