"""A seeded synthetic market whose predictability is known exactly.

Daily log returns of each ticker follow a *local drift* model::

    r_t = m_t + sigma * e_t,          e_t ~ N(0, 1)
    m_t = rho * m_{t-1} + eta_t,       eta_t ~ N(0, q),  q = (signal * sigma)**2 * (1 - rho**2)

so ``signal`` is the standard deviation of the hidden drift in units of the daily noise.
``signal=0`` is a pure random walk: nothing can be learned. ``signal>0`` plants momentum
that can be partly recovered from past prices. Because the model is linear and Gaussian, the
distribution of the forward log return given *only the observed past prices* is exactly
Gaussian and is computed by a Kalman filter (:meth:`SyntheticMarket.forward_distribution`);
from it :meth:`SyntheticMarket.bayes_accuracy` gives the best accuracy any classifier can
reach on a down/flat/up label, which lets tests tell learning from luck.

Spec syntax: ``synthetic:tickers=20,days=2000,seed=7,signal=0.0`` (every key optional; also
``rho``, ``vol`` and ``start``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from math import erf, sqrt

import numpy as np
import pandas as pd

from features.sources.base import DateLike, select


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
    """

    tickers: int = 20
    days: int = 2000
    seed: int = 7
    signal: float = 0.0
    rho: float = 0.95
    vol: float = 0.015
    start: str = "2010-01-04"
    name: str = "synthetic"

    def __post_init__(self) -> None:
        if not 1 <= self.tickers <= 10_000:
            raise ValueError(f"tickers must be in [1, 10000], got tickers={self.tickers}")
        if not 2 <= self.days <= 100_000:
            raise ValueError(f"days must be in [2, 100000], got days={self.days}")
        if not 0 <= self.signal <= 10:
            raise ValueError(f"signal must be in [0, 10], got signal={self.signal}")
        if not 0 <= self.rho < 1:
            raise ValueError(f"rho must be in [0, 1), got rho={self.rho}")
        if not 0 < self.vol < 1:
            raise ValueError(f"vol must be in (0, 1), got vol={self.vol}")

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
        returns = drift + rng.standard_normal((n, k)) * sigma
        returns[0] = 0.0
        close = rng.uniform(20, 200, size=k) * np.exp(np.cumsum(returns, axis=0))
        prev = np.vstack([close[:1], close[:-1]])
        open_ = prev * np.exp(rng.standard_normal((n, k)) * 0.25 * sigma)
        top = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal((n, k))) * 0.5 * sigma)
        bottom = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal((n, k))) * 0.5 * sigma)
        volume = np.round(np.exp(rng.normal(13.5, 0.4, size=(n, k))))
        return {
            "sigma": sigma, "returns": returns, "close": close, "open": open_,
            "high": top, "low": bottom, "volume": volume,
        }  # fmt: skip

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

    def forward_distribution(self, *, horizon: int, lag: int) -> pd.DataFrame:
        """Exact law of the forward log return given the prices observed up to each close.

        The forward return runs from the close of day ``t + lag`` to the close of day
        ``t + lag + horizon`` (the timing of :mod:`features.labels`).

        Returns:
            Frame with ``date, ticker, mean, std`` (log-return units), one row per day and
            ticker, sorted by ``(ticker, date)``.
        """
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
        steps = np.arange(lag + 1, lag + horizon + 1)
        S = float(np.sum(rho**steps))
        c = np.array([np.sum(rho ** (steps[steps >= i] - i)) for i in range(1, lag + horizon + 1)])
        var = S**2 * post_var + q * float(np.sum(c**2)) + horizon * obs_var
        k = self.tickers
        return pd.DataFrame(
            {
                "date": np.tile(self.dates.to_numpy(), k),
                "ticker": np.repeat(self.symbols, self.days),
                "mean": (S * means).T.ravel(),
                "std": np.sqrt(var).T.ravel(),
            }
        )

    def class_probabilities(self, *, horizon: int, lag: int, band: float) -> pd.DataFrame:
        """True ``p_down, p_flat, p_up`` for a fixed band ``±band`` on the simple forward return."""
        dist = self.forward_distribution(horizon=horizon, lag=lag)
        lo, hi = np.log1p(-band), np.log1p(band)
        cdf = np.vectorize(lambda z: 0.5 * (1 + erf(z / sqrt(2))))
        p_down = cdf((lo - dist["mean"].to_numpy()) / dist["std"].to_numpy())
        p_up = 1 - cdf((hi - dist["mean"].to_numpy()) / dist["std"].to_numpy())
        return dist[["date", "ticker"]].assign(p_down=p_down, p_flat=1 - p_down - p_up, p_up=p_up)

    def bayes_accuracy(self, *, horizon: int, lag: int, band: float) -> float:
        """Expected accuracy of the Bayes-optimal classifier, averaged over all days and tickers."""
        probs = self.class_probabilities(horizon=horizon, lag=lag, band=band)
        return float(probs[["p_down", "p_flat", "p_up"]].max(axis=1).mean())
