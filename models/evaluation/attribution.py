"""Is the P&L skill or market exposure? A strategy's returns against a benchmark's (CAPM attribution).

With ``x_t = r_t - rf`` the strategy's and ``y_t = b_t - rf`` the benchmark's daily excess returns,
ordinary least squares ``x_t = alpha + beta y_t + e_t`` gives

* ``beta = cov(x, y) / var(y)``: the market exposure; a dollar-neutral book has beta near 0;
* **active returns** ``a_t = x_t - beta y_t`` (= ``alpha + e_t``): what a holder who hedged the
  market exposure with the benchmark would have earned; their Sharpe ratio is the *appraisal ratio*
  (Treynor & Black 1973) and is what PSR, DSR and the bootstrap interval are computed on;
* ``alpha`` (annualised) ``= periods_per_year * mean(a)``; ``residual_volatility = sqrt(ppy) sd(a)``;
* ``tracking_error = sqrt(ppy) sd(r - b)`` and ``information_ratio = ppy mean(r - b) / tracking_error``
  (Grinold & Kahn 2000), the benchmark-relative figures a long-only manager is judged on.

Beta is estimated on the whole period (in-sample): an attribution of what happened, not a tradable
hedge ratio. Sharpe ratios are per period unless a name says annualised.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["active_returns", "attribution", "daily_rate"]


def daily_rate(annual: float, *, periods_per_year: int = 252) -> float:
    """Per-period rate compounding to ``annual`` over ``periods_per_year`` periods."""
    return float((1.0 + annual) ** (1.0 / periods_per_year) - 1.0)


def _beta(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return float("nan")
    var = float(np.var(y, ddof=1))
    if not var > 0:
        return 0.0  # a constant benchmark explains nothing
    return float(np.cov(x, y, ddof=1)[0, 1] / var)


def active_returns(returns: np.ndarray, benchmark: np.ndarray, *, risk_free: float = 0.0) -> tuple[np.ndarray, float]:
    """Beta-hedged excess returns ``a_t = (r_t - rf) - beta (b_t - rf)`` and ``beta``.

    Args:
        returns: strategy returns (T,), per period, fractions.
        benchmark: benchmark returns (T,), same periods.
        risk_free: per-period risk-free rate.

    Returns:
        ``(active, beta)``; with fewer than 2 periods beta is NaN and ``active`` the excess returns.
    """
    x = np.asarray(returns, dtype="float64") - risk_free
    y = np.asarray(benchmark, dtype="float64") - risk_free
    if x.shape != y.shape:
        raise ValueError(f"returns and benchmark must have the same shape, got {x.shape} and {y.shape}")
    beta = _beta(x, y)
    if not math.isfinite(beta):
        return x, beta
    active = x - beta * y
    if len(x) > 1 and float(active.std()) <= 1e-9 * float(x.std()):
        active = np.zeros_like(active)  # hedged exactly: what is left is rounding, not a return
    return active, beta


def attribution(
    returns: np.ndarray, benchmark: np.ndarray, *, risk_free: float = 0.0, periods_per_year: int = 252
) -> dict[str, float]:
    """Alpha, beta, tracking error, information and appraisal ratios against ``benchmark``.

    Args:
        returns: strategy returns (T,), per period, fractions.
        benchmark: benchmark returns (T,), same periods.
        risk_free: per-period risk-free rate.
        periods_per_year: to annualise.

    Returns:
        ``beta``, ``alpha`` (annualised, simple), ``residual_volatility`` (annualised), ``active_sharpe``
        (annualised appraisal ratio ``alpha / residual_volatility``), ``tracking_error`` (annualised sd
        of ``r - b``), ``information_ratio`` and ``correlation``; NaN where undefined.
    """
    r, b = np.asarray(returns, dtype="float64"), np.asarray(benchmark, dtype="float64")
    active, beta = active_returns(r, b, risk_free=risk_free)
    nan = float("nan")
    root = math.sqrt(periods_per_year)
    n = len(r)
    resid_sd = float(active.std(ddof=1)) if n > 1 else nan
    diff = r - b
    te = float(diff.std(ddof=1)) if n > 1 else nan
    alpha = float(active.mean()) * periods_per_year if n else nan
    sr, sb = (float(np.std(v, ddof=1)) if n > 1 else nan for v in (r, b))
    return {
        "beta": beta,
        "alpha": alpha,
        "residual_volatility": resid_sd * root,
        "active_sharpe": float(active.mean() / resid_sd * root) if resid_sd > 0 else nan,
        "tracking_error": te * root,
        "information_ratio": float(diff.mean() / te * root) if te > 0 else nan,
        "correlation": float(np.corrcoef(r, b)[0, 1]) if sr > 0 and sb > 0 else nan,
    }
