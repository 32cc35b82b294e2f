"""Is it luck? Significance tests for forecasts and for the strategy built on them.

* :func:`diebold_mariano`: equal expected loss of two forecasts, with the Harvey-Leybourne-Newbold
  small-sample correction and a Newey-West long-run variance (:func:`long_run_variance`, Bartlett
  kernel, Newey-West 1994 automatic bandwidth, never below ``horizon - 1``).
* :func:`pesaran_timmermann`: are predicted and realised directions independent?
* :func:`probabilistic_sharpe_ratio` and :func:`deflated_sharpe_ratio` (Bailey & López de Prado 2012,
  2014): the probability that the true Sharpe ratio exceeds a benchmark, given the sample length,
  skewness and kurtosis; the deflated version takes as benchmark the Sharpe ratio the best of
  ``n_trials`` unskilled configurations would show.
* :func:`sharpe_confidence_interval`: a percentile interval from the stationary bootstrap
  (Politis & Romano 1994), with the mean block length chosen by :func:`optimal_block_length`
  (Politis & White 2004, corrected by Patton, Politis & White 2009).

Sharpe ratios are per period (daily: mean / standard deviation, no risk-free rate) unless a name says
``annualised``. All functions are pure; the bootstrap takes a ``seed``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

EULER_GAMMA = 0.5772156649015329


def per_date_mean(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Average ``values`` over the samples of each date, in date order.

    Same-day samples of different tickers are not independent, so tests run on one number per date.

    Args:
        values: float array (n,).
        dates: array (n,) of dates (any sortable type).

    Returns:
        float64 array (n_unique_dates,), sorted by date.
    """
    v = np.asarray(values, dtype="float64")
    uniq, inverse = np.unique(np.asarray(dates), return_inverse=True)
    return np.bincount(inverse, weights=v, minlength=len(uniq)) / np.bincount(inverse, minlength=len(uniq))


NW_BARTLETT_CONSTANT = 1.1447  # Newey & West (1994), Table I: c_gamma of the Bartlett kernel


def newey_west_bandwidth(x: np.ndarray) -> float:
    """Newey & West (1994) automatic bandwidth of the Bartlett kernel.

    With ``gamma_j`` the autocovariances of the demeaned series (divided by T) and the pre-bandwidth
    ``n = ceil(4 (T / 100)^(2/9))``: ``s0 = gamma_0 + 2 sum_{j=1..n} gamma_j``,
    ``s1 = 2 sum_{j=1..n} j gamma_j`` and ``b = 1.1447 ((s1 / s0)^2 T)^(1/3)``, capped at ``T - 1``.
    This is the rule of ``arch.covariance.kernel.Bartlett`` (which the tests check it against).

    Args:
        x: float array (T,), T >= 2.

    Returns:
        The bandwidth ``b`` (not necessarily an integer); 0 for a constant series.
    """
    v = np.asarray(x, dtype="float64")
    T = len(v)
    if T < 2:
        raise ValueError(f"x must hold at least 2 observations, got {T}")
    e = v - v.mean()
    n = math.ceil(4 * (T / 100) ** (2 / 9))
    gammas = np.array([float(e[j:] @ e[: T - j]) / T for j in range(min(n, T - 1) + 1)])
    j = np.arange(len(gammas))
    s0 = gammas[0] + 2 * float(gammas[1:].sum())
    s1 = 2 * float(j[1:] @ gammas[1:])
    if s0 == 0:
        return 0.0
    return float(min(NW_BARTLETT_CONSTANT * ((s1 / s0) ** 2 * T) ** (1 / 3), T - 1.0))


def long_run_variance(
    x: np.ndarray, *, min_bandwidth: float = 0.0, bandwidth: float | None = None
) -> tuple[float, float]:
    """Newey-West (1987) long-run variance with the Newey-West (1994) automatic bandwidth.

    ``LRV = gamma_0 + 2 sum_{j=1..floor(b)} (1 - j / (b + 1)) gamma_j`` (Bartlett kernel), with
    ``b = min(max(newey_west_bandwidth(x), min_bandwidth), T - 1)``. The Bartlett weights keep the
    estimate non-negative. ``T * Var(mean)`` of a weakly dependent series is estimated by it. With
    ``min_bandwidth = m >= 1`` the result is at least the truncated estimate ``gamma_0 + 2 sum_{j=1..m}
    gamma_j`` (Hansen & Hodrick 1980; Diebold & Mariano 1995): lags an overlap is known to create keep
    their full weight.

    Args:
        x: float array (T,), T >= 2.
        min_bandwidth: lower bound on ``b``; ``horizon - 1`` for overlapping ``horizon``-day outcomes.
        bandwidth: a fixed ``b`` instead of the automatic one (still at least ``min_bandwidth``); an
            integer ``m`` gives the classic Newey-West estimator with lags ``1..m``.

    Returns:
        ``(lrv, bandwidth)``.
    """
    if not min_bandwidth >= 0:
        raise ValueError(f"min_bandwidth must be >= 0, got min_bandwidth={min_bandwidth}")
    if bandwidth is not None and not bandwidth >= 0:
        raise ValueError(f"bandwidth must be >= 0 or None, got bandwidth={bandwidth}")
    v = np.asarray(x, dtype="float64")
    T = len(v)
    auto = newey_west_bandwidth(v) if bandwidth is None else float(bandwidth)
    bw = min(max(auto, float(min_bandwidth)), T - 1.0)
    e = v - v.mean()
    gammas = [float(e[j:] @ e[: T - j]) / T for j in range(int(bw) + 1)]
    lrv = gammas[0] + 2 * sum((1 - j / (bw + 1)) * gammas[j] for j in range(1, len(gammas)))
    # Bartlett weights shrink lags 1..min_bandwidth, which the MA(horizon-1) structure of overlapping
    # outcomes carries in full: never report less than the truncated (Hansen-Hodrick 1980) estimate over
    # those lags, the estimator of Diebold & Mariano (1995) itself, so the kernel can only widen it.
    floor = int(min(min_bandwidth, T - 1))
    if floor >= 1:
        lrv = max(lrv, gammas[0] + 2 * sum(gammas[1 : floor + 1]))
    return max(lrv, 0.0), bw


def _is_constant(x: np.ndarray) -> bool:
    scale = float(np.max(np.abs(x))) if len(x) else 0.0
    return bool(float(np.ptp(x)) <= 64 * np.finfo("float64").eps * scale)


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, *, horizon: int) -> dict[str, float]:
    """Diebold-Mariano (1995) test of equal expected loss, with a HAC variance and the HLN correction.

    ``d_t = loss_a_t - loss_b_t``; a negative mean means ``a`` is better. ``DM = mean(d) / sqrt(LRV / T)``
    with the Bartlett-kernel long-run variance of :func:`long_run_variance` (Newey & West 1987), its
    bandwidth chosen by the Newey & West (1994) rule and never below ``horizon - 1`` (overlapping
    ``horizon``-day labels make ``d`` at least MA(horizon-1)). The Harvey-Leybourne-Newbold (1997)
    factor ``sqrt((T + 1 - 2h + h (h - 1) / T) / T)`` and the Student t(T-1) reference are kept: they
    were derived for the truncated lag-(h-1) estimator, and with the Bartlett kernel, whose finite-sample
    bias is also downward, they remain a (small, conservative) shrinkage that vanishes as T grows.

    Returns:
        ``mean_diff``, ``statistic`` (HLN-corrected), two-sided ``p_value`` and ``bandwidth``.
        Fewer than 3 observations: NaN statistic and p-value. A constant ``d`` (zero variance, up to
        rounding in the last bits, which must not turn into a huge random statistic): identical losses
        give NaN statistic and p-value (nothing to test: the verdict says "identical losses"); a constant
        non-zero difference gives statistic ``±inf`` and p-value 0 (one forecast is better on every
        date by the same amount).
    """
    d = np.asarray(loss_a, dtype="float64") - np.asarray(loss_b, dtype="float64")
    T, h = len(d), max(int(horizon), 1)
    nan = float("nan")
    if T < 3:
        return {"mean_diff": float(d.mean()) if T else nan, "statistic": nan, "p_value": nan, "bandwidth": nan}
    mean = float(d.mean())
    if _is_constant(d):
        if mean == 0:
            return {"mean_diff": 0.0, "statistic": nan, "p_value": nan, "bandwidth": 0.0}
        return {"mean_diff": mean, "statistic": math.copysign(math.inf, mean), "p_value": 0.0, "bandwidth": 0.0}
    lrv, bw = long_run_variance(d, min_bandwidth=h - 1)
    dm = mean / math.sqrt(lrv / T)
    hln = dm * math.sqrt(max(T + 1 - 2 * h + h * (h - 1) / T, 1e-12) / T)
    p = 2 * stats.t.sf(abs(hln), df=T - 1)
    return {"mean_diff": mean, "statistic": float(hln), "p_value": float(p), "bandwidth": bw}


def pesaran_timmermann(predicted_up: np.ndarray, realised_up: np.ndarray) -> dict[str, float]:
    """Pesaran-Timmermann (1992) test that predicted and realised directions are independent.

    ``P`` is the hit rate, ``P* = Py Px + (1-Py)(1-Px)`` the hit rate expected under independence,
    and ``PT = (P - P*) / sqrt(V(P) - V(P*))`` is standard normal under the null. The test assumes
    independent observations: overlapping horizons and same-day tickers make it anti-conservative,
    so it is reported alongside, never instead of, the Diebold-Mariano tests.

    Args:
        predicted_up: bool array (n,): the forecast says up (else down).
        realised_up: bool array (n,): the outcome was up (else down).

    Returns:
        ``n``, ``hit_rate``, ``expected_hit_rate``, ``statistic`` and one-sided ``p_value``
        (H1: the forecast has directional skill); NaN statistic when either side never changes
        direction (the test is undefined) or ``n < 2``.
    """
    x = np.asarray(predicted_up, dtype=bool)
    y = np.asarray(realised_up, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"predicted_up and realised_up must have the same shape, got {x.shape} and {y.shape}")
    n = len(x)
    nan = float("nan")
    p_hat = float(np.mean(x == y)) if n else nan
    if n < 2:
        return {"n": n, "hit_rate": p_hat, "expected_hit_rate": nan, "statistic": nan, "p_value": nan}
    px, py = float(x.mean()), float(y.mean())
    p_star = py * px + (1 - py) * (1 - px)
    v_p = p_star * (1 - p_star) / n
    v_star = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    out = {"n": n, "hit_rate": p_hat, "expected_hit_rate": p_star, "statistic": nan, "p_value": nan}
    if v_p - v_star > 0 and 0 < px < 1 and 0 < py < 1:
        stat = (p_hat - p_star) / math.sqrt(v_p - v_star)
        out.update(statistic=stat, p_value=float(stats.norm.sf(stat)))
    return out


def sharpe_ratio(returns: np.ndarray) -> float:
    """Per-period Sharpe ratio ``mean / std`` (ddof=1, no risk-free rate); NaN when undefined."""
    r = np.asarray(returns, dtype="float64")
    if len(r) < 2:
        return float("nan")
    sd = float(r.std(ddof=1))
    return float(r.mean() / sd) if sd > 0 else float("nan")


def psr_from_stats(sharpe: float, *, n_obs: int, skew: float, kurtosis: float, benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe Ratio from summary statistics (Bailey & López de Prado 2012).

    ``PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``.

    Args:
        sharpe: observed per-period Sharpe ratio ``SR``.
        n_obs: number of returns it was measured on.
        skew: skewness of the returns.
        kurtosis: kurtosis of the returns (not excess: 3 for a normal distribution).
        benchmark: per-period Sharpe ratio ``SR*`` to beat.

    Returns:
        Probability in [0, 1] that the true Sharpe ratio exceeds ``benchmark``; NaN when undefined.
    """
    denom = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if n_obs < 2 or not np.isfinite(sharpe) or not denom > 0:
        return float("nan")
    return float(stats.norm.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom)))


def _moments(returns: np.ndarray) -> tuple[float, int, float, float]:
    r = np.asarray(returns, dtype="float64")
    sr = sharpe_ratio(r)
    if not np.isfinite(sr):
        return sr, len(r), float("nan"), float("nan")
    return sr, len(r), float(stats.skew(r)), float(stats.kurtosis(r, fisher=False))


def probabilistic_sharpe_ratio(returns: np.ndarray, *, benchmark: float = 0.0) -> dict[str, float]:
    """PSR of a return series against a per-period benchmark Sharpe ratio.

    Skewness and kurtosis are the (biased) sample moments, as in Bailey & López de Prado.

    Returns:
        ``sharpe`` (per period), ``n``, ``skew``, ``kurtosis``, ``benchmark`` and ``psr``.
    """
    sr, n, skew, kurt = _moments(returns)
    psr = psr_from_stats(sr, n_obs=n, skew=skew, kurtosis=kurt, benchmark=benchmark)
    return {"sharpe": sr, "n": n, "skew": skew, "kurtosis": kurt, "benchmark": benchmark, "psr": psr}


def expected_max_sharpe(*, n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` unskilled configurations (the DSR benchmark).

    ``SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))``, ``g`` = Euler-Mascheroni.

    Args:
        n_trials: configurations tried (>= 1); one trial gives 0.
        sharpe_variance: variance of the per-period Sharpe ratios across the trials (>= 0).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got n_trials={n_trials}")
    if not sharpe_variance >= 0:
        raise ValueError(f"sharpe_variance must be >= 0, got sharpe_variance={sharpe_variance}")
    if n_trials == 1:
        return 0.0
    z1 = stats.norm.ppf(1 - 1 / n_trials)
    z2 = stats.norm.ppf(1 - 1 / (n_trials * math.e))
    return float(math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def deflated_sharpe_ratio(returns: np.ndarray, *, n_trials: int, sharpe_variance: float) -> dict[str, float]:
    """Deflated Sharpe Ratio (Bailey & López de Prado 2014): PSR against :func:`expected_max_sharpe`.

    Args:
        returns: per-period returns of the chosen configuration.
        n_trials: configurations tried before choosing it (record this in the run).
        sharpe_variance: variance of the per-period Sharpe ratios of those configurations.

    Returns:
        ``sharpe``, ``n``, ``skew``, ``kurtosis``, ``n_trials``, ``expected_max_sharpe`` and ``dsr``.
    """
    sr0 = expected_max_sharpe(n_trials=n_trials, sharpe_variance=sharpe_variance)
    res = probabilistic_sharpe_ratio(returns, benchmark=sr0)
    return {
        "sharpe": res["sharpe"], "n": res["n"], "skew": res["skew"], "kurtosis": res["kurtosis"],
        "n_trials": n_trials, "expected_max_sharpe": sr0, "dsr": res["psr"],
    }  # fmt: skip


def optimal_block_length(x: np.ndarray) -> float:
    """Mean block length for the stationary bootstrap (Politis & White 2004; Patton et al. 2009).

    ``m`` is the smallest lag after which ``K = max(5, log10 n)`` consecutive autocorrelations lie
    within ``±2 sqrt(log10(n) / n)``; with ``M = min(2 max(m, 1), ceil(sqrt n) + K)`` and the flat-top
    window ``w(s) = min(1, 2 (1 - |s|))``, ``G = sum_{|k|<=M} w(k/M) |k| gamma_k``,
    ``sigma2 = sum_{|k|<=M} w(k/M) gamma_k`` and ``b = (2 G^2 / (2 sigma2^2))^(1/3) n^(1/3)``,
    capped at ``ceil(min(3 sqrt n, n / 3))``.

    Args:
        x: float array (n,), n >= 4.

    Returns:
        The block length (>= 1, not necessarily an integer).
    """
    v = np.asarray(x, dtype="float64")
    n = len(v)
    if n < 4:
        raise ValueError(f"x must hold at least 4 observations, got {n}")
    e = v - v.mean()
    gamma0 = float(e @ e) / n
    if gamma0 <= 0:
        return 1.0
    k_n = max(5, int(math.log10(n)))
    m_max = math.ceil(math.sqrt(n)) + k_n
    lags = min(m_max + k_n, n - 1)
    acv = np.array([float(e[k:] @ e[: n - k]) / n for k in range(lags + 1)])
    small = np.abs(acv[1:] / gamma0) < 2 * math.sqrt(math.log10(n) / n)  # small[k-1] is lag k
    m = next((j for j in range(0, len(small) - k_n + 1) if small[j : j + k_n].all()), None)
    big_m = min(2 * max(m, 1), m_max) if m is not None else m_max
    big_m = min(big_m, lags)
    k = np.arange(1, big_m + 1)
    w = np.minimum(1.0, 2 * (1 - k / big_m))
    g = 2 * float(np.sum(w * k * acv[1 : big_m + 1]))
    sigma2 = gamma0 + 2 * float(np.sum(w * acv[1 : big_m + 1]))
    b_max = math.ceil(min(3 * math.sqrt(n), n / 3))
    if sigma2 <= 0:
        return 1.0
    b = (g**2 / sigma2**2) ** (1 / 3) * n ** (1 / 3)
    return float(min(max(b, 1.0), b_max))


def stationary_bootstrap_indices(n: int, *, mean_block: float, n_boot: int, seed: int) -> np.ndarray:
    """Index resamples of the stationary bootstrap (Politis & Romano 1994), wrapping around the end.

    Each resample starts at a uniform position; every next index continues the current block with
    probability ``1 - 1/mean_block`` and jumps to a new uniform position otherwise, so block lengths
    are geometric with mean ``mean_block``.

    Returns:
        int64 array (n_boot, n) of positions into the original series.
    """
    return _indices(n, mean_block=mean_block, n_boot=n_boot, rng=np.random.default_rng(seed))


def _indices(n: int, *, mean_block: float, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    if n < 1 or n_boot < 1:
        raise ValueError(f"n and n_boot must be >= 1, got n={n}, n_boot={n_boot}")
    if not mean_block >= 1:
        raise ValueError(f"mean_block must be >= 1, got mean_block={mean_block}")
    starts = rng.integers(0, n, size=(n_boot, n))
    new = rng.random((n_boot, n)) < 1.0 / mean_block
    new[:, 0] = True
    t = np.arange(n)
    block_start = np.maximum.accumulate(np.where(new, t, 0), axis=1)
    first = np.take_along_axis(starts, block_start, axis=1)
    return np.asarray((first + (t - block_start)) % n, dtype="int64")


def sharpe_confidence_interval(
    returns: np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = 1000,
    mean_block: float | None = None,
    seed: int = 0,
    periods_per_year: int = 252,
) -> dict[str, Any]:
    """Stationary-bootstrap percentile interval for the annualised Sharpe ratio.

    Args:
        returns: per-period returns (e.g. daily net strategy returns), in time order.
        confidence: coverage of the two-sided interval.
        n_boot: bootstrap resamples.
        mean_block: mean block length; None = :func:`optimal_block_length` of the returns.
        seed: seed of the resampling.
        periods_per_year: to annualise (252 trading days).

    Returns:
        ``sharpe`` (annualised), ``lower``, ``upper``, ``confidence``, ``mean_block``, ``n_boot``
        and ``n``; NaN bounds when the series is too short or constant.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got confidence={confidence}")
    r = np.asarray(returns, dtype="float64")
    n = len(r)
    ann = math.sqrt(periods_per_year)
    nan = float("nan")
    out: dict[str, Any] = {"sharpe": sharpe_ratio(r) * ann, "lower": nan, "upper": nan, "confidence": confidence}
    out.update(mean_block=nan, n_boot=n_boot, n=n)
    if n < 4 or not np.isfinite(out["sharpe"]):
        return out
    block = optimal_block_length(r) if mean_block is None else float(mean_block)
    rng = np.random.default_rng(seed)
    sharpes = []
    for chunk in np.array_split(np.arange(n_boot), n_boot * n // 2_000_000 + 1):  # bounded memory
        sample = r[_indices(n, mean_block=block, n_boot=len(chunk), rng=rng)]
        sd = sample.std(axis=1, ddof=1)
        sharpes.append(np.where(sd > 0, sample.mean(axis=1) / np.where(sd > 0, sd, 1.0), np.nan) * ann)
    boot = np.concatenate(sharpes)
    lo, hi = np.nanquantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    out.update(lower=float(lo), upper=float(hi), mean_block=block)
    return out
