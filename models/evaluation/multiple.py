"""Many tests at once: Holm's step-down correction and the Reality Check / SPA across configurations.

* :func:`holm`: family-wise adjusted p-values of ``m`` tests (Holm 1979): sort ascending,
  ``p~_(i) = max_{j<=i} min(1, (m - j + 1) p_(j))``. Rejecting ``p~ < alpha`` keeps the chance of any
  false rejection at or below ``alpha`` whatever the dependence between the tests.
* :func:`superior_predictive_ability`: is the best of ``k`` configurations better than a benchmark, or
  is its edge what the best of ``k`` equally good configurations would show by luck? White's (2000)
  Reality Check with Hansen's (2005) re-centring, exactly as ``arch.bootstrap.SPA`` computes it (the
  tests check the two agree to the last digit on the same bootstrap draws): ``d_{k,t} = L_{0,t} -
  L_{k,t}`` (positive: configuration ``k`` beats the benchmark), statistic ``max_k mean(d_k)``, and
  for each stationary-bootstrap resample ``b`` (Politis & Romano 1994) ``max_k (mean(d*_{k,b}) -
  g(mean(d_k)))``. ``upper`` re-centres every configuration (``g(x) = x``: White's Reality Check,
  conservative), ``lower`` only those that beat the benchmark (``g(x) = max(x, 0)``), ``consistent``
  those whose mean is above ``-sqrt(2 log log T * w_k / T)`` (Hansen's SPA), ``w_k`` the stationary
  bootstrap variance of ``d_k``: ``w = gamma_0 + 2 sum_{i=1..T-1} k_i gamma_i``,
  ``k_i = (1 - i/T)(1 - p)^i + (i/T)(1 - p)^(T-i)``, ``p = 1 / block``. The p-value is the share of
  resamples whose statistic exceeds the sample's by more than rounding (``arch`` compares the
  rounded values, so a resample equal to the sample in exact arithmetic counts by chance there).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from models.evaluation.significance import _indices, optimal_block_length

__all__ = ["holm", "superior_predictive_ability"]

# Differences of means below this share of the largest |loss difference| are ties (rounding).
_TIE = 1e-9


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, in the input order; NaN stays NaN (not counted in ``m``).

    Args:
        p_values: float array (m,) of raw p-values.

    Returns:
        float64 array (m,), each in [0, 1] and never below its raw p-value.
    """
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if not m:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def _sb_variance(demeaned: np.ndarray, block: float) -> np.ndarray:
    """Stationary-bootstrap variance of each column's mean times T (Politis & Romano 1994, as ``arch``)."""
    t = demeaned.shape[0]
    p = 1.0 / block
    variances = np.sum(demeaned**2, axis=0) / t
    for i in range(1, t):
        kappa = (1.0 - i / t) * (1 - p) ** i + (i / t) * (1 - p) ** (t - i)
        variances = variances + 2 * kappa * np.sum(demeaned[: t - i] * demeaned[i:], axis=0) / t
    return np.asarray(variances)


def superior_predictive_ability(
    benchmark: np.ndarray,
    models: np.ndarray,
    *,
    block: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    indices: np.ndarray | None = None,
) -> dict[str, Any]:
    """White's Reality Check and Hansen's SPA p-values: does any configuration beat the benchmark?

    Args:
        benchmark: float (T,) per-period losses of the benchmark (zeros when ``models`` already hold
            loss *differences* against each configuration's own benchmark).
        models: float (T, k) per-period losses of the ``k`` configurations, rows aligned with ``benchmark``.
        block: mean block length of the stationary bootstrap; None = :func:`optimal_block_length` of
            the cross-configuration mean of ``benchmark - models``.
        n_boot: bootstrap resamples.
        seed: seed of the resampling.
        indices: int (n_boot, T) resampled positions to use instead of drawing them (to reproduce
            another implementation's draws).

    Returns:
        ``lower``, ``consistent`` (Hansen's SPA), ``upper`` (White's Reality Check) p-values,
        ``statistic`` (the best mean loss reduction), ``best`` (its column), ``k``, ``T``, ``block``,
        ``n_boot``; NaN p-values with fewer than 4 periods.
    """
    bench = np.asarray(benchmark, dtype="float64")
    loss = np.asarray(models, dtype="float64")
    if loss.ndim == 1:
        loss = loss[:, None]
    if loss.shape[0] != len(bench):
        raise ValueError(f"models must have one row per benchmark period ({len(bench)}), got {loss.shape[0]}")
    d = bench[:, None] - loss
    t, k = d.shape
    nan = float("nan")
    mean = d.mean(axis=0) if t else np.full(k, nan)
    out: dict[str, Any] = {"lower": nan, "consistent": nan, "upper": nan, "k": k, "T": t, "n_boot": n_boot}
    out.update(statistic=float(mean.max()) if t and k else nan, best=int(np.argmax(mean)) if t and k else None)
    if t < 4 or k < 1:
        return {**out, "block": nan}
    b = float(block) if block is not None else optimal_block_length(d.mean(axis=1))
    variances = _sb_variance(d - mean, b)
    valid = mean >= -np.sqrt(variances / t * 2 * math.log(math.log(t)))
    centres = (np.where(mean < 0, 0.0, mean), np.where(valid, mean, 0.0), mean)
    if indices is None:
        indices = _indices(t, mean_block=b, n_boot=n_boot, rng=np.random.default_rng(seed))
    boot = np.stack([d[idx].mean(axis=0) for idx in np.asarray(indices)])  # (n_boot, k)
    stat = float(mean.max())
    # A resample made of one block wrapping round the sample (likely when the block is long against
    # T) is a cyclic shift: its mean equals the sample's in exact arithmetic and differs only by the
    # rounding of another summation order. Counted as not exceeding, as exact arithmetic has it, so
    # the p-value does not move with the CPU's summation order (it moved by 0.014 between two
    # machines on the golden backtest; 0.26-0.62 from rounding alone on pure shifts).
    tie = _TIE * float(np.abs(d).max())
    for name, centre in zip(("lower", "consistent", "upper"), centres, strict=True):
        out[name] = float(np.mean((boot - centre).max(axis=1) > stat + tie))
    return {**out, "block": b, "n_boot": len(boot)}
