"""A seeded synthetic market whose predictability is known exactly.

Daily log returns of each ticker follow a *local drift* model::

    r_t = m_t + sigma * e_t,          e_t ~ N(0, 1)
    m_t = rho * m_{t-1} + eta_t,       eta_t ~ N(0, q),  q = (signal * sigma)**2 * (1 - rho**2)

so ``signal`` is the standard deviation of the hidden drift in units of the daily noise.
``signal=0`` is a pure random walk: nothing can be learned. ``signal>0`` plants momentum
that can be partly recovered from past prices. Because the model is linear and Gaussian, the
distribution of the forward log return given the observed past prices is exactly Gaussian and is
computed by a Kalman filter (:meth:`SyntheticMarket.forward_distribution`); from it
:meth:`SyntheticMarket.bayes_accuracy` gives the best accuracy any classifier can reach on a
down/flat/up label, which lets tests tell learning from luck.

Options that make the market less kind to naive statistics (all off by default, which leaves the
output bit-identical to the plain model above)::

    e_t = sqrt(factor) z_t + sqrt(1 - factor) eps_t                  z_t common to all tickers
    u_t = sqrt(h_t) e_t,  h_{t+1} = (1 - a - b) + a u_t**2 + b h_t    GARCH(1,1): a, b = garch_alpha, garch_beta
    r_t = m_t + sigma * u_t

``z`` and ``eps`` are standard normal, or Student-t with ``tails`` degrees of freedom scaled to unit
variance, so ``sigma`` stays each ticker's unconditional daily volatility and ``factor`` is the share
of its noise variance that is common to the market. The class probabilities stay exact where a closed
form exists and are computed numerically where none does:

* Gaussian noise without GARCH: Kalman filter. With ``factor > 0`` the filter uses every ticker's past
  (the common noise shows in the cross-section): in units of ``sigma`` the system is exchangeable, so it
  splits exactly into a scalar filter for the cross-sectional mean and one for the deviations from it.
* ``garch_alpha > 0`` or ``tails > 0``: only with ``signal = 0`` (a hidden drift in non-Gaussian noise
  has no finite-dimensional filter). The forward return's law then depends only on ``sigma`` and on
  ``h_{t+1}``, which the past prices fix; its CDF is tabulated by Monte Carlo (``ORACLE_PATHS``
  antithetic paths, so up and down stay exactly symmetric: standard error <= 0.002 per probability)
  on ``ORACLE_GRID`` values of ``log h`` and interpolated linearly in between.

Realistic signal levels: with the default ``rho=0.95`` and 5-day labels at lag 1 with a ±1% band,
``signal`` 0.07 / 0.1 / 0.15 lifts the Bayes-optimal accuracy 0.8 / 1.5 / 3.1 points above the best
constant forecast (:meth:`SyntheticMarket.prior_accuracy`; ``factor=0.5`` adds about half a point,
the cross-section's information; checked in ``tests/features/prices/test_sources.py``).

Spec syntax: ``synthetic:tickers=20,days=2000,seed=7,signal=0.0`` (every key optional; also ``rho``,
``vol``, ``start``, ``factor``, ``garch_alpha``, ``garch_beta`` and ``tails``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from math import erf, sqrt

import numpy as np
import pandas as pd

from features.dates import DateLike
from features.prices.sources.base import select

ORACLE_PATHS = 80_000
ORACLE_GRID = 41


MAX_ROWS = 20_000_000
"""The most rows (tickers x days) a synthetic market may have: it is generated whole, in memory."""
BYTES_PER_ROW = 300
"""Peak memory per row while building a market and its frame (measured: 298 B at 1,000,000 rows)."""


@dataclass(frozen=True)
class SyntheticMarket:
    """Generator of a multi-ticker daily OHLCV market (business days, no holidays).

    Attributes:
        tickers: number of tickers, named ``SYN00``, ``SYN01``, ...
        days: trading days per ticker.
        seed: seed of the generator; the same seed gives the same market.
        signal: std of the hidden drift in units of daily noise (0 = random walk).
        rho: daily persistence of the hidden drift, in [0, 1).
        vol: typical daily volatility of log returns (each ticker draws 0.7x-1.5x of it).
        start: first trading day.
        factor: share of each ticker's noise variance common to all tickers, in [0, 1).
        garch_alpha: GARCH(1,1) reaction of the variance to the last squared shock (0 = constant).
        garch_beta: GARCH(1,1) persistence of the variance; ``garch_alpha + garch_beta < 1``.
        tails: degrees of freedom (> 2) of Student-t innovations scaled to unit variance; 0 = Gaussian.
    """

    tickers: int = 20
    days: int = 2000
    seed: int = 7
    signal: float = 0.0
    rho: float = 0.95
    vol: float = 0.015
    start: str = "2010-01-04"
    factor: float = 0.0
    garch_alpha: float = 0.0
    garch_beta: float = 0.0
    tails: float = 0.0
    name: str = "synthetic"

    def __post_init__(self) -> None:
        if not 1 <= self.tickers <= 10_000:
            raise ValueError(f"tickers must be in [1, 10000], got tickers={self.tickers}")
        if not 2 <= self.days <= 100_000:
            raise ValueError(f"days must be in [2, 100000], got days={self.days}")
        if self.tickers * self.days > MAX_ROWS:  # the limits hold together: the market is built whole, in memory
            raise ValueError(
                f"tickers x days must be at most {MAX_ROWS:,} rows, got tickers={self.tickers} x days={self.days} = "
                f"{self.tickers * self.days:,} rows (about {self.tickers * self.days * BYTES_PER_ROW / 2**30:.0f} GiB "
                "of memory to build)"
            )
        if not 0 <= self.signal <= 10:
            raise ValueError(f"signal must be in [0, 10], got signal={self.signal}")
        if not 0 <= self.rho < 1:
            raise ValueError(f"rho must be in [0, 1), got rho={self.rho}")
        if not 0 < self.vol < 1:
            raise ValueError(f"vol must be in (0, 1), got vol={self.vol}")
        if not 0 <= self.factor < 1:
            raise ValueError(f"factor must be in [0, 1), got factor={self.factor}")
        a, b = self.garch_alpha, self.garch_beta
        if not (a >= 0 and b >= 0 and a + b < 1):
            raise ValueError(f"garch_alpha and garch_beta must be >= 0 with a sum < 1, got {a} and {b}")
        if not (self.tails == 0 or self.tails > 2):
            raise ValueError(f"tails must be 0 (Gaussian) or > 2 degrees of freedom, got tails={self.tails}")

    @classmethod
    def from_spec(cls, arg: str) -> SyntheticMarket:
        """Build from the part of a spec after ``synthetic:``, e.g. ``"tickers=5,seed=1"``."""
        types = {f.name: f.type for f in fields(cls) if f.name != "name"}
        kwargs: dict[str, object] = {}
        for item in filter(None, (p.strip() for p in arg.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in types:
                raise ValueError(f"synthetic source options are {sorted(types)} as key=value, got {item!r}")
            caster = {"int": int, "float": float, "str": str}[str(types[key])]
            try:
                kwargs[key] = caster(value.strip())
            except ValueError as exc:
                raise ValueError(f"synthetic option {key} must be {types[key]}, got {value!r}") from exc
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def symbols(self) -> list[str]:
        width = max(2, len(str(self.tickers - 1)))
        return [f"SYN{i:0{width}d}" for i in range(self.tickers)]

    @property
    def gaussian(self) -> bool:
        """Gaussian noise with constant volatility: the class probabilities have a closed form."""
        return self.garch_alpha == 0 and self.tails == 0

    @cached_property
    def _paths(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        n, k = self.days, self.tickers
        sigma = self.vol * rng.uniform(0.7, 1.5, size=k)
        q_std = self.signal * sigma * sqrt(1 - self.rho**2)
        drift = np.empty((n, k))
        m = rng.standard_normal(k) * self.signal * sigma  # start in the stationary law
        eta = rng.standard_normal((n, k)) * q_std
        for t in range(n):
            m = self.rho * m + eta[t]
            drift[t] = m
        noise, h = rng.standard_normal((n, k)), np.ones((n, k))
        if self.factor or self.tails or self.garch_alpha:
            noise, h = self._shape_noise(noise)
        returns = drift + noise * sigma
        returns[0] = 0.0
        close = rng.uniform(20, 200, size=k) * np.exp(np.cumsum(returns, axis=0))
        prev = np.vstack([close[:1], close[:-1]])
        open_ = prev * np.exp(rng.standard_normal((n, k)) * 0.25 * sigma)
        top = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal((n, k))) * 0.5 * sigma)
        bottom = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal((n, k))) * 0.5 * sigma)
        volume = np.round(np.exp(rng.normal(13.5, 0.4, size=(n, k))))
        return {
            "sigma": sigma, "returns": returns, "close": close, "open": open_,
            "high": top, "low": bottom, "volume": volume, "h": h,
        }  # fmt: skip

    def _unit_t(self, rng: np.random.Generator, z: np.ndarray) -> np.ndarray:
        """Standard normals ``z`` made unit-variance Student-t draws (returned unchanged when Gaussian)."""
        if not self.tails:
            return z
        return np.asarray(z * np.sqrt((self.tails - 2) / rng.chisquare(self.tails, size=z.shape)))

    def _innovations(self, rng: np.random.Generator, normal: np.ndarray, *, common: bool) -> np.ndarray:
        """Unit-variance innovations of shape ``normal.shape`` (steps, columns): tails and factor applied.

        ``common``: the factor's draw is shared by the columns of a step (tickers of one day); else
        each column draws its own (independent simulated paths of one ticker).
        """
        e = self._unit_t(rng, normal)
        if self.factor:
            z = self._unit_t(rng, rng.standard_normal((len(e), 1) if common else e.shape))
            e = sqrt(1 - self.factor) * e + sqrt(self.factor) * z
        return e

    def _shape_noise(self, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Factor, fat tails and GARCH applied to the base draws; returns ``(u, h)``, (days, tickers).

        The extra draws come from their own stream seeded from ``seed``, so the base stream, and with it
        every market with the options off, is unchanged. ``u[0] = 0`` like the placeholder return of day 0.
        """
        e = self._innovations(np.random.default_rng([self.seed, 1]), normal, common=True)
        a, b = self.garch_alpha, self.garch_beta
        h, u = np.ones_like(e), np.zeros_like(e)
        for t in range(1, len(e)):
            h[t] = (1 - a - b) + a * u[t - 1] ** 2 + b * h[t - 1]
            u[t] = np.sqrt(h[t]) * e[t]
        return u, h

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.bdate_range(self.start, periods=self.days)

    def frame(self) -> pd.DataFrame:
        """The whole market as a canonical frame."""
        p, k = self._paths, self.tickers
        cols = {c: p[c].T.ravel() for c in ("open", "high", "low", "close", "volume")}
        return pd.DataFrame(
            {
                "date": np.tile(self.dates.to_numpy(), k),
                "ticker": np.repeat(self.symbols, self.days),
                **cols,
                "adj_close": cols["close"],
            }
        )

    def fetch(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """Canonical prices for ``tickers`` (None = all) between ``start`` and ``end`` inclusive."""
        return select(self.frame(), tickers, start, end, name=f"synthetic(seed={self.seed})")

    def _long(self, **columns: np.ndarray) -> pd.DataFrame:
        """(days, tickers) arrays as a frame with ``date, ticker`` sorted by ``(ticker, date)``."""
        k = self.tickers
        return pd.DataFrame(
            {
                "date": np.tile(self.dates.to_numpy(), k),
                "ticker": np.repeat(self.symbols, self.days),
                **{name: values.T.ravel() for name, values in columns.items()},
            }
        )

    def forward_distribution(self, *, horizon: int, lag: int) -> pd.DataFrame:
        """Exact mean and std of the forward log return given the prices observed up to each close.

        The forward return runs from the close of day ``t + lag`` to the close of day
        ``t + lag + horizon`` (the timing of :mod:`features.labels`). It is Gaussian for Gaussian
        markets; with GARCH or fat tails (``signal=0`` only) its mean is 0 and its variance
        ``sigma^2 sum_j E[h_{t+j}]`` with ``E[h_{t+j}] = 1 + (a + b)^(j-1) (h_{t+1} - 1)``.

        Returns:
            Frame with ``date, ticker, mean, std`` (log-return units), one row per day and
            ticker, sorted by ``(ticker, date)``.
        """
        p, rho = self._paths, self.rho
        sigma = p["sigma"]
        if not self.gaussian:
            self._require_no_signal()
            j = np.arange(lag + 1, lag + horizon + 1)
            decay = float(np.sum((self.garch_alpha + self.garch_beta) ** (j - 1)))
            total = horizon + (self._next_variance() - 1) * decay
            return self._long(mean=np.zeros_like(total), std=sigma * np.sqrt(total))
        means, post_var = self._cross_section_filter() if self.factor else self._ticker_filter()
        q = (self.signal * sigma) ** 2 * (1 - rho**2)
        steps = np.arange(lag + 1, lag + horizon + 1)
        S = float(np.sum(rho**steps))
        c = np.array([np.sum(rho ** (steps[steps >= i] - i)) for i in range(1, lag + horizon + 1)])
        var = S**2 * post_var + q * float(np.sum(c**2)) + horizon * sigma**2
        return self._long(mean=S * means, std=np.sqrt(var))

    def _ticker_filter(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-ticker Kalman filter of the drift: filtered means and variances, each (days, tickers)."""
        p, rho = self._paths, self.rho
        r, sigma = p["returns"], p["sigma"]
        obs_var = sigma**2
        q = (self.signal * sigma) ** 2 * (1 - rho**2)
        stat_var = (self.signal * sigma) ** 2
        m_hat = np.zeros_like(sigma)
        P = stat_var.copy()
        means = np.empty_like(r)
        post_var = np.empty_like(r)
        means[0], post_var[0] = m_hat, P  # day 0 has no return to observe (r[0] is a placeholder)
        for t in range(1, r.shape[0]):
            P_pred = rho**2 * P + q
            gain = np.divide(P_pred, P_pred + obs_var)
            m_hat = rho * m_hat + gain * (r[t] - rho * m_hat)
            P = (1 - gain) * P_pred
            means[t], post_var[t] = m_hat, P
        return means, post_var

    def _cross_section_filter(self) -> tuple[np.ndarray, np.ndarray]:
        """Kalman filter of every drift given every ticker's past returns, with a common noise factor.

        In units of ``sigma`` the drifts are iid AR(1) with variance ``signal**2`` and the noise has
        covariance ``f 11' + (1 - f) I``: ``f k + 1 - f`` along the mean direction, ``1 - f`` across it.
        Both subspaces are invariant, so two scalar filters (gains ``g_par``, ``g_perp``) are exact.
        """
        p, rho, k = self._paths, self.rho, self.tickers
        y = p["returns"] / p["sigma"]
        s2 = self.signal**2
        q = s2 * (1 - rho**2)
        r_par, r_perp = self.factor * k + 1 - self.factor, 1 - self.factor
        x = np.zeros(k)
        P_par = P_perp = s2
        means, post_var = np.empty_like(y), np.empty_like(y)
        means[0], post_var[0] = x, s2
        for t in range(1, y.shape[0]):
            pred_par, pred_perp = rho**2 * P_par + q, rho**2 * P_perp + q
            g_par, g_perp = pred_par / (pred_par + r_par), pred_perp / (pred_perp + r_perp)
            v = y[t] - rho * x
            v_mean = v.mean()
            x = rho * x + g_par * v_mean + g_perp * (v - v_mean)
            P_par, P_perp = (1 - g_par) * pred_par, (1 - g_perp) * pred_perp
            means[t], post_var[t] = x, P_par / k + P_perp * (1 - 1 / k)
        return means * p["sigma"], post_var * p["sigma"] ** 2

    def _require_no_signal(self) -> None:
        if self.signal:
            raise ValueError(
                "class probabilities under garch_alpha > 0 or tails > 0 need signal=0 (a hidden drift in "
                f"non-Gaussian noise has no exact filter), got signal={self.signal}"
            )

    def _next_variance(self) -> np.ndarray:
        """``h_{t+1}``, fixed at the close of day t by the past returns; (days, tickers)."""
        a, b = self.garch_alpha, self.garch_beta
        h, u = self._paths["h"], self._paths["returns"] / self._paths["sigma"]
        return np.asarray((1 - a - b) + a * u**2 + b * h)

    def class_probabilities(self, *, horizon: int, lag: int, band: float) -> pd.DataFrame:
        """True ``p_down, p_flat, p_up`` for a fixed band ``±band`` on the simple forward return."""
        if not self.gaussian:
            return self._numeric_class_probabilities(horizon=horizon, lag=lag, band=band)
        dist = self.forward_distribution(horizon=horizon, lag=lag)
        lo, hi = np.log1p(-band), np.log1p(band)
        p_down = _normal_cdf((lo - dist["mean"].to_numpy()) / dist["std"].to_numpy())
        p_up = 1 - _normal_cdf((hi - dist["mean"].to_numpy()) / dist["std"].to_numpy())
        return dist[["date", "ticker"]].assign(p_down=p_down, p_flat=1 - p_down - p_up, p_up=p_up)

    def bayes_accuracy(self, *, horizon: int, lag: int, band: float) -> float:
        """Expected accuracy of the Bayes-optimal classifier, averaged over all days and tickers."""
        probs = self.class_probabilities(horizon=horizon, lag=lag, band=band)
        return float(probs[["p_down", "p_flat", "p_up"]].max(axis=1).mean())

    def prior_accuracy(self, *, horizon: int, lag: int, band: float) -> float:
        """Accuracy of the best constant forecast per ticker (its likeliest class), averaged over tickers.

        Gaussian markets: from the stationary law of the forward return, ``N(0, sigma^2 (horizon +
        signal^2 sum_{a,b} rho^|a-b|))`` over the window's days ``a, b``. Otherwise: from each ticker's
        class probabilities averaged over the sample's days (the law of total probability).
        """
        if not self.gaussian:
            probs = self.class_probabilities(horizon=horizon, lag=lag, band=band)
            return float(probs.groupby("ticker")[["p_down", "p_flat", "p_up"]].mean().max(axis=1).mean())
        steps = np.arange(lag + 1, lag + horizon + 1)
        drift = self.signal**2 * float(np.sum(self.rho ** np.abs(steps[:, None] - steps[None, :])))
        std = self._paths["sigma"] * sqrt(horizon + drift)
        p_down = _normal_cdf(np.log1p(-band) / std)
        p_up = 1 - _normal_cdf(np.log1p(band) / std)
        return float(np.maximum(np.maximum(p_down, p_up), 1 - p_down - p_up).mean())

    def _numeric_class_probabilities(self, *, horizon: int, lag: int, band: float) -> pd.DataFrame:
        """Class probabilities from a Monte Carlo table of the forward law over ``log h_{t+1}`` (signal=0)."""
        self._require_no_signal()
        log_h = np.log(self._next_variance())
        lo_h, hi_h = float(log_h.min()), float(log_h.max())
        grid = np.linspace(lo_h, hi_h, ORACLE_GRID if hi_h > lo_h else 1)
        sums = np.sort(self._forward_sums(np.exp(grid), steps=lag + horizon, horizon=horizon), axis=1)
        sigma, n = self._paths["sigma"], sums.shape[1]
        below = []
        for edge in (np.log1p(-band), np.log1p(band)):
            # P(sigma S < edge) per grid point and ticker, then interpolated in log h for every day.
            cdf = np.stack([np.searchsorted(row, edge / sigma) / n for row in sums])  # (grid, tickers)
            below.append(np.column_stack([np.interp(log_h[:, i], grid, cdf[:, i]) for i in range(self.tickers)]))
        p_down, p_up = below[0], 1 - below[1]
        return self._long(p_down=p_down, p_flat=1 - p_down - p_up, p_up=p_up)

    def _forward_sums(self, h_next: np.ndarray, *, steps: int, horizon: int) -> np.ndarray:
        """Simulated sums of the last ``horizon`` of ``steps`` unit-scale shocks, from each ``h_{t+1}``.

        Returns:
            float array (len(h_next), ORACLE_PATHS); antithetic: ``-S`` is there for every ``S``.
        """
        half = ORACLE_PATHS // 2
        rng = np.random.default_rng([self.seed, 2])
        e = self._innovations(rng, rng.standard_normal((steps, half)), common=False)
        a, b = self.garch_alpha, self.garch_beta
        h = np.repeat(np.asarray(h_next, dtype="float64")[:, None], half, axis=1)
        total = np.zeros_like(h)
        for j in range(steps):
            u = np.sqrt(h) * e[j]
            if j >= steps - horizon:
                total += u
            h = (1 - a - b) + a * u**2 + b * h
        return np.concatenate([total, -total], axis=1)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.vectorize(lambda v: 0.5 * (1 + erf(v / sqrt(2))))(np.asarray(z, dtype="float64")))
