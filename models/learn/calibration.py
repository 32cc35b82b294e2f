"""Turning network outputs into honest probabilities: class-weight correction, then temperature.

Class weights (``w_k``) make training see a balanced class mix, so the network learns
``p_w(k|x) ∝ w_k p(k|x)``. :func:`undo_class_weights` divides the weights back out (a prior
shift correction), so reported probabilities refer to the real class frequencies again.

Temperature scaling: one positive number that sharpens or flattens predicted probabilities.

``p_T = softmax(log p / T)``: ``T > 1`` flattens over-confident probabilities, ``T < 1`` sharpens
timid ones; the class ranking never changes. ``T`` is fitted on the chronological validation slice
by minimising its log-loss (Guo et al., 2017), so it uses no test data.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

_EPS = 1e-12


def undo_class_weights(probs: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``p_k ∝ p_w_k / w_k``, rows renormalised; ``weights=None`` returns the input unchanged."""
    if weights is None:
        return np.asarray(probs, dtype="float64")
    w = np.asarray(weights, dtype="float64")
    if w.ndim != 1 or (w <= 0).any():
        raise ValueError(f"weights must be positive, one per class, got weights={w.tolist()}")
    out = np.asarray(probs, dtype="float64") / w
    return out / out.sum(axis=1, keepdims=True)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities (n, k) by ``temperature``; rows still sum to 1."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got temperature={temperature}")
    logits = np.log(np.clip(np.asarray(probs, dtype="float64"), _EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray, *, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the mean log-loss of ``probs`` (n, k) against ``labels`` (n,).

    Raises:
        ValueError: when there are no samples to fit on.
    """
    y = np.asarray(labels, dtype="int64")
    if len(y) == 0:
        raise ValueError("cannot fit a temperature on 0 validation samples")

    def loss(t: float) -> float:
        p = apply_temperature(probs, t)[np.arange(len(y)), y]
        return float(-np.log(np.clip(p, _EPS, 1.0)).mean())

    res = minimize_scalar(loss, bounds=bounds, method="bounded", options={"xatol": 1e-4})
    return float(res.x)
