"""Feature normalisation fitted on training rows only (scikit-learn's estimator contract).

State is plain numbers and names, serialised to JSON (never pickle) and stored with a model.
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

    def fit(self, X: np.ndarray, feature_names: Sequence[str]) -> FeatureScaler:
        """Learn mean and scale from the finite entries of ``X`` (n_rows, n_features)."""
        X = np.asarray(X, dtype="float64")
        if X.ndim != 2 or X.shape[1] != len(feature_names):
            raise ValueError(f"X must have shape (n_rows, {len(feature_names)}), got X.shape={X.shape}")
        finite = np.isfinite(X)
        if not finite.any(axis=0).all():
            empty = [n for n, ok in zip(feature_names, finite.any(axis=0), strict=True) if not ok]
            raise ValueError(f"cannot fit scaler: features {empty} have no finite training value")
        masked = np.where(finite, X, np.nan)
        self.mean_ = np.nanmean(masked, axis=0)
        std = np.nanstd(masked, axis=0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.feature_names_ = list(feature_names)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise RuntimeError("FeatureScaler is not fitted; call fit() on training rows first")

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardise ``X`` (n_rows, n_features) to float32; NaN stays NaN."""
        self._check_fitted()
        X = np.asarray(X, dtype="float64")
        if X.ndim != 2 or X.shape[1] != len(self.mean_):
            raise ValueError(f"X must have shape (n_rows, {len(self.mean_)}), got X.shape={X.shape}")
        z = (X - self.mean_) / self.scale_
        return np.clip(z, -self.clip, self.clip).astype("float32")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        self._check_fitted()
        return {
            "kind": "zscore",
            "clip": self.clip,
            "feature_names": self.feature_names_,
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureScaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output."""
        if state.get("kind") != "zscore":
            raise ValueError(f"scaler state must have kind='zscore', got kind={state.get('kind')!r}")
        scaler = cls(clip=float(state["clip"]))
        scaler.feature_names_ = list(state["feature_names"])
        scaler.mean_ = np.asarray(state["mean"], dtype="float64")
        scaler.scale_ = np.asarray(state["scale"], dtype="float64")
        if not len(scaler.mean_) == len(scaler.scale_) == len(scaler.feature_names_):
            raise ValueError("scaler state: feature_names, mean and scale differ in length")
        return scaler
