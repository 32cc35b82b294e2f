"""What the predictions would have earned: daily P&L of simple strategies, with costs.

Timing is the labels' (:mod:`features.labels`): a prediction made at the close of day ``t`` is traded
at the close of ``t + lag`` and held for ``horizon`` trading days of its ticker, to the close of
``t + lag + horizon``; it earns the ticker's daily ``adj_close`` returns of days ``t+lag+1 ..
t+lag+horizon``.

**Barrier exits**: when the predictions carry ``hold_days`` (the ``triple_barrier`` scheme,
:func:`features.labels.holding_days`), each position is closed at the close of day ``t + lag +
hold_days``, the day its label's first barrier was touched (the vertical barrier: ``horizon``), the
same timing as the label; it earns days ``t+lag+1 .. t+lag+hold_days`` and its slot is cash for the
rest of the cohort's ``horizon`` days. The exit is at that day's close, not at the barrier price (a
daily bar does not say when in the day the barrier was crossed, nor that an order would have filled
there), and it applies to every variant, the benchmark included, so they keep one timing.

Overlapping holds are combined as overlapping portfolios (Jegadeesh & Titman 1993): each decision
date opens a cohort with ``1 / horizon`` of the capital, split equally across the tickers predicted
that day (a ticker with no position leaves its slot in cash), so at most ``horizon`` cohorts are live
and gross exposure never exceeds 1. Cohort weights are held constant (rebalanced daily), so the
portfolio weight of a ticker on a day is the sum of its live cohorts' weights.

Variants: ``long_short``, ``long_only`` (+1 up, else 0) and the benchmark ``buy_and_hold`` (+1 for
every prediction: equal-weight long in the same universe, same timing). The long/short is
**dollar-neutral** by default (:attr:`StrategyConfig.neutral` ``"demean"``): the score ``P(up) -
P(down)`` (or, without probabilities, +1 up / 0 flat / -1 down) is demeaned across the tickers of each
decision date and scaled so the cohort's gross is its full slot, so a predictor that says "up" for
everything holds no net position and earns nothing from the market. ``neutral="none"`` restores the
directional book (+1 up, -1 down, 0 flat), whose net exposure follows the calls. The cross-sectional
books (:attr:`StrategyConfig.portfolio` ``topk``, ``topk_dropout``, ``quantile``) replace the long/short's
signals with :mod:`models.evaluation.portfolios`'s; timing, cohorts and costs are the same.

Turnover on day ``d`` is ``sum_k |w_k,d - w_k,d-1|`` (one-way, fraction of capital; drift between
rebalances is ignored): the trade made at the close before day ``d`` to hold day ``d``'s weights. Its
cost, ``cost_bps * 1e-4 * turnover``, is charged to day ``d``; short positions pay ``borrow_bps`` a year
on their size (``borrow_bps * 1e-4 / 252 * short exposure`` a day). Positions still open on the last
price date are not liquidated. Returns are simple, fractions; "annualised" means over 252 trading days.

Each variant is measured against the benchmark's gross return (:mod:`models.evaluation.attribution`):
alpha, beta, tracking error and information ratio; PSR, DSR and the bootstrap Sharpe interval are
computed on its **active** (beta-hedged) returns, so market exposure cannot pass for skill.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.labels import PROB_COLUMNS
from features.storage.atomic import json_ready
from models.evaluation.attribution import active_returns, attribution, daily_rate
from models.evaluation.config import StrategyConfig
from models.evaluation.portfolios import portfolio_signal
from models.evaluation.significance import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    sharpe_confidence_interval,
    sharpe_ratio,
)

VARIANTS: tuple[str, ...] = ("long_short", "long_only", "buy_and_hold")
COST_GRID_BPS: tuple[float, ...] = (0.0, 2.0, 5.0, 10.0, 20.0)
_SIGNALS = {"long_short": (-1.0, 0.0, 1.0), "long_only": (0.0, 0.0, 1.0), "buy_and_hold": (1.0, 1.0, 1.0)}
BENCHMARK = "buy_and_hold"


@dataclass(frozen=True)
class StrategyResult:
    """Daily P&L, positions and summary of one backtest of the predictions.

    Attributes:
        daily: one row per trading day: ``date`` and, for each variant ``v`` in :data:`VARIANTS`,
            ``v_gross`` and ``v_net`` (returns before and after costs), ``v_turnover``,
            ``v_exposure`` (sum of |weights|), ``v_net_exposure`` (sum of weights) and
            ``v_short_exposure`` (sum of short weights' sizes); ``n_tickers`` (tickers held by the benchmark).
        positions: ``date, ticker`` and each variant's portfolio weight, rows with any position.
        metrics: variant -> :func:`performance` of its net returns, plus ``gross_*`` figures,
            ``break_even_cost_bps``, the attribution against the benchmark's gross returns
            (:func:`models.evaluation.attribution.attribution`), and ``psr``, ``dsr`` and the bootstrap
            ``sharpe_ci`` of its **active** returns.
        cost_sensitivity: ``variant, cost_bps, total_return, annualised_return, sharpe, max_drawdown``.
        settings: the :class:`StrategyConfig`, lag, horizon, n_trials and the bootstrap settings used.
    """

    daily: pd.DataFrame
    positions: pd.DataFrame
    metrics: dict[str, dict[str, Any]]
    cost_sensitivity: pd.DataFrame
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Metrics, cost sensitivity (records) and settings as strict JSON types (NaN as None)."""
        return json_ready(
            {"metrics": self.metrics, "cost_sensitivity": self.cost_sensitivity.to_dict(orient="records"),
             "settings": self.settings}
        )  # fmt: skip


def signals(predicted: pd.Series, *, variant: str) -> np.ndarray:
    """Signals +1/0/-1 of each prediction for ``variant`` (``long_short``, ``long_only``, ``buy_and_hold``)."""
    if variant not in _SIGNALS:
        raise ValueError(f"variant must be one of {list(_SIGNALS)}, got variant={variant!r}")
    lookup = dict(zip(("down", "flat", "up"), _SIGNALS[variant], strict=True))
    out = predicted.map(lookup).to_numpy(dtype="float64")
    if np.isnan(out).any():
        raise ValueError(f"predicted must hold only down/flat/up, got {sorted(set(predicted) - set(lookup))}")
    return out


def align_prices(predictions: pd.DataFrame, prices: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Price rows of the predicted tickers (sorted by ticker, date) and the price row of each prediction."""
    tickers = pd.unique(predictions["ticker"].astype(str))
    px = prices.loc[prices["ticker"].astype(str).isin(tickers), ["date", "ticker", "adj_close"]]
    px = (
        px.assign(ticker=px["ticker"].astype(str)).sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    )
    if px.duplicated(["date", "ticker"]).any():
        raise ValueError("prices must have unique (date, ticker) rows")
    keys = pd.DataFrame(
        {
            "date": predictions["date"].to_numpy(dtype="datetime64[ns]"),
            "ticker": predictions["ticker"].astype(str).to_numpy(),
        }
    )
    lookup = px.loc[:, ["date", "ticker"]].assign(row=np.arange(len(px)))
    rows = keys.merge(lookup, on=["date", "ticker"], how="left")["row"]
    if rows.isna().any():
        missing = keys[rows.isna().to_numpy()].head(3).to_dict(orient="records")
        raise ValueError(
            f"predictions have {int(rows.isna().sum())} (date, ticker) rows without a price, e.g. {missing}"
        )
    return px, rows.to_numpy(dtype="int64")


def asset_returns(px: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tickers, each ticker's-first-row flags and simple daily returns of :func:`align_prices`' rows (0 on those)."""
    ticker = px["ticker"].to_numpy()
    first = np.r_[True, ticker[1:] != ticker[:-1]]
    adj = px["adj_close"].to_numpy(dtype="float64")
    return ticker, first, np.where(first, 0.0, adj / np.r_[np.nan, adj[:-1]] - 1.0)


def gross_and_turnover(w: np.ndarray, first: np.ndarray, ret: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per price row: the position's gross return ``w * ret`` and its turnover ``|w - w_prev|`` (per ticker)."""
    prev = np.where(first, 0.0, np.r_[0.0, w[:-1]])
    return np.where(w != 0, w * np.nan_to_num(ret), 0.0), np.abs(w - prev)


def position_weights(
    signal: np.ndarray,
    rows: np.ndarray,
    dates: np.ndarray,
    tickers: np.ndarray,
    *,
    lag: int,
    horizon: int,
    hold_days: np.ndarray | None = None,
) -> np.ndarray:
    """Portfolio weight of every price row from the signals of the predictions.

    Args:
        signal: float (m,), +1/0/-1 per prediction.
        rows: int (m,), each prediction's price row in the sorted price frame.
        dates: decision dates (m,), for the number of tickers predicted per date.
        tickers: (n_rows,) ticker of every price row (sorted by ticker, date).
        lag: execution lag in trading days.
        horizon: holding period in trading days (the cohort's slot: ``1 / horizon`` of the capital).
        hold_days: int (m,) days each position is actually held, 1..horizon (barrier exits); None =
            ``horizon`` for every one.

    Returns:
        float64 (n_rows,): the weight held over the day ending at each row's close.
    """
    n_rows = len(tickers)
    groups = np.asarray(tickers)
    first = np.r_[True, groups[1:] != groups[:-1]]
    end = np.r_[np.flatnonzero(first)[1:], n_rows]  # one past each group's last row
    group_end = end[np.cumsum(first) - 1]
    per_date = pd.Series(np.asarray(dates)).map(pd.Series(np.asarray(dates)).value_counts()).to_numpy(dtype="float64")
    amount = np.asarray(signal, dtype="float64") / (horizon * per_date)
    held = np.full(len(amount), horizon) if hold_days is None else np.asarray(hold_days, dtype="int64")
    if held.shape != amount.shape or (held < 1).any() or (held > horizon).any():
        raise ValueError(f"hold_days must hold {len(amount)} values in 1..horizon={horizon}")
    weights = np.zeros(n_rows)
    for j in range(1, horizon + 1):
        target = rows + lag + j
        ok = (target < group_end[rows]) & (j <= held)
        np.add.at(weights, target[ok], amount[ok])
    return weights


def drawdown(returns: np.ndarray) -> np.ndarray:
    """Drawdown of the compounded equity from its running peak (starting capital 1 counts as a peak), <= 0."""
    equity = np.cumprod(1 + np.asarray(returns, dtype="float64"))
    return np.asarray(equity / np.maximum.accumulate(np.maximum(equity, 1.0)) - 1.0)


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough loss of the compounded equity, as a positive fraction (0 = never below a peak)."""
    r = np.asarray(returns, dtype="float64")
    return float(-drawdown(r).min()) if len(r) else float("nan")


def performance(
    returns: np.ndarray,
    *,
    turnover: np.ndarray | None = None,
    exposure: np.ndarray | None = None,
    periods_per_year: int = 252,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """Summary of a daily return series (``risk_free``: per-period rate, for Sharpe and Sortino).

    Returns:
        ``n_days``, ``total_return`` (compounded), ``annualised_return``, ``annualised_volatility``,
        ``sharpe`` and ``sortino`` (annualised, of the excess returns ``r - risk_free``; Sortino's
        downside deviation is ``sqrt(mean(min(r - risk_free, 0)^2))``), ``max_drawdown`` (positive fraction), ``calmar``
        (annualised return / max drawdown), ``hit_rate`` (share of days with exposure whose return was
        > 0), ``turnover`` (mean daily), ``annual_turnover``, ``exposure`` (mean gross exposure).
    """
    r = np.asarray(returns, dtype="float64")
    n = len(r)
    nan = float("nan")
    gross = np.ones(n) if exposure is None else np.asarray(exposure, dtype="float64")
    total = float(np.prod(1 + r) - 1) if n else nan
    ann = float((1 + total) ** (periods_per_year / n) - 1) if n and total > -1 else nan
    sd = float(r.std(ddof=1)) if n > 1 else nan
    excess = r - risk_free
    down = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))) if n else nan
    mdd = max_drawdown(r)
    active = gross > 0
    root = math.sqrt(periods_per_year)
    mean_turnover = float(np.mean(turnover)) if turnover is not None and n else nan
    return {
        "n_days": n,
        "total_return": total,
        "annualised_return": ann,
        "annualised_volatility": sd * root,
        "sharpe": float(excess.mean() / sd * root) if sd > 0 else nan,
        "sortino": float(excess.mean() / down * root) if down > 0 else nan,
        "max_drawdown": mdd,
        "calmar": ann / mdd if mdd > 0 else nan,
        "hit_rate": float(np.mean(r[active] > 0)) if active.any() else nan,
        "turnover": mean_turnover,
        "annual_turnover": mean_turnover * periods_per_year,
        "exposure": float(np.mean(gross)) if n else nan,
    }


def break_even_cost(gross: np.ndarray, turnover: np.ndarray) -> float | None:
    """Cost in basis points per unit of turnover at which the mean daily net return is zero.

    Returns:
        ``1e4 * mean(gross) / mean(turnover)``; None when the strategy does not make money before
        costs (or never trades, when there is no cost to break even against).
    """
    g, t = float(np.mean(gross)) if len(gross) else 0.0, float(np.mean(turnover)) if len(turnover) else 0.0
    return 1e4 * g / t if g > 0 and t > 0 else None


def cost_sensitivity(
    daily: pd.DataFrame,
    *,
    costs_bps: Sequence[float] = COST_GRID_BPS,
    borrow_bps: float = 0.0,
    periods_per_year: int = 252,
    risk_free: float = 0.0,
) -> pd.DataFrame:
    """Net performance of each variant over a grid of costs (bps per unit of turnover), borrow held fixed."""
    rows = []
    for v in VARIANTS:
        gross, turnover = daily[f"{v}_gross"].to_numpy(), daily[f"{v}_turnover"].to_numpy()
        borrow = borrow_bps * 1e-4 / periods_per_year * daily[f"{v}_short_exposure"].to_numpy()
        for c in costs_bps:
            p = performance(
                gross - c * 1e-4 * turnover - borrow, periods_per_year=periods_per_year, risk_free=risk_free
            )
            rows.append((v, float(c), p["total_return"], p["annualised_return"], p["sharpe"], p["max_drawdown"]))
    columns = ["variant", "cost_bps", "total_return", "annualised_return", "sharpe", "max_drawdown"]
    return pd.DataFrame(rows, columns=columns)


def backtest_strategy(
    predictions: pd.DataFrame,
    prices: pd.DataFrame,
    *,
    lag: int = 1,
    horizon: int = 5,
    config: StrategyConfig | None = None,
    costs_grid_bps: Sequence[float] = COST_GRID_BPS,
    periods_per_year: int = 252,
    n_trials: int = 1,
    trial_sharpe_variance: float | Mapping[str, float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> StrategyResult:
    """Daily P&L of the long/short and long-only strategies and the buy-and-hold benchmark.

    :func:`strategy_returns` then :func:`summarise_strategy`.

    Args:
        predictions: ``date, ticker`` and ``predicted`` (down/flat/up), one row per decision; with
            ``p_down, p_up`` the dollar-neutral long/short is sized by the score ``p_up - p_down``;
            with ``hold_days`` each position exits after that many days (barrier exits).
        prices: canonical price frame (``date, ticker, adj_close``) covering the holding periods.
        lag: execution lag (trading days), as in the labels.
        horizon: holding period (trading days), as in the labels.
        config: costs, borrow, risk-free rate and neutrality (default :class:`StrategyConfig`).
        costs_grid_bps: costs of the sensitivity table.
        periods_per_year: trading days per year, to annualise.
        n_trials: configurations tried to choose this one (for the Deflated Sharpe Ratio).
        trial_sharpe_variance: variance of their per-day active Sharpe ratios, one number for every
            variant or variant -> its own; None gives no DSR when ``n_trials > 1``.
        n_boot: stationary-bootstrap resamples of the Sharpe interval.
        seed: seed of the bootstrap.

    Returns:
        :class:`StrategyResult`.
    """
    config = config or StrategyConfig()
    daily, positions = strategy_returns(predictions, prices, lag=lag, horizon=horizon, config=config)
    return summarise_strategy(
        daily, positions, lag=lag, horizon=horizon, config=config, costs_grid_bps=costs_grid_bps,
        periods_per_year=periods_per_year, n_trials=n_trials, trial_sharpe_variance=trial_sharpe_variance,
        n_boot=n_boot, seed=seed,
    )  # fmt: skip


def neutral_signal(score: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Dollar-neutral signals: ``score`` demeaned across each date's predictions, scaled to gross ``n_date``.

    ``s_i = n_d (x_i - mean_d x) / sum_d |x - mean_d x|``, so that :func:`position_weights` (which
    divides by ``horizon * n_d``) gives each cohort weights summing to 0 with absolute sum ``1 / horizon``.
    A date whose scores are all equal gets no position.
    """
    x = pd.Series(np.asarray(score, dtype="float64"))
    groups = pd.Series(np.asarray(dates))
    dev = x - x.groupby(groups).transform("mean")
    dev = dev.where(dev.abs() > 1e-12 * max(float(x.abs().max()), 1.0), 0.0)  # equal scores: no position
    gross = dev.abs().groupby(groups).transform("sum")
    n = groups.map(groups.value_counts()).astype("float64")
    return np.asarray(np.where(gross > 0, n * dev / gross.where(gross > 0, 1.0), 0.0), dtype="float64")


def prediction_score(predictions: pd.DataFrame) -> np.ndarray:
    """``P(up) - P(down)`` of each prediction; without probabilities, +1 up / 0 flat / -1 down."""
    if {PROB_COLUMNS[0], PROB_COLUMNS[2]} <= set(predictions.columns):
        return np.asarray(
            predictions[PROB_COLUMNS[2]].to_numpy(dtype="float64")
            - predictions[PROB_COLUMNS[0]].to_numpy(dtype="float64")
        )
    return signals(predictions["predicted"], variant="long_short")


def _variant_signal(predictions: pd.DataFrame, v: str, config: StrategyConfig) -> np.ndarray:
    dates = predictions["date"].to_numpy(dtype="datetime64[ns]")
    if v == "long_short" and config.portfolio != "demeaned":  # cross-sectional books: models.evaluation.portfolios
        tickers = predictions["ticker"].astype(str).to_numpy()
        return portfolio_signal(dates, tickers, prediction_score(predictions), config=config)
    if v != "long_short" or config.neutral == "none":
        return signals(predictions["predicted"], variant=v)
    return neutral_signal(prediction_score(predictions), dates)


def strategy_returns(
    predictions: pd.DataFrame,
    prices: pd.DataFrame,
    *,
    lag: int = 1,
    horizon: int = 5,
    config: StrategyConfig | None = None,
    periods_per_year: int = 252,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(daily, positions) of :class:`StrategyResult`: the P&L before any summary (see :func:`backtest_strategy`)."""
    config = config or StrategyConfig()
    if horizon < 1 or lag < 0:
        raise ValueError(f"horizon must be >= 1 and lag >= 0, got horizon={horizon}, lag={lag}")
    if len(predictions) == 0:
        raise ValueError("predictions must hold at least one row")
    px, rows = align_prices(predictions, prices)
    ticker, first, ret = asset_returns(px)
    pred_dates = predictions["date"].to_numpy(dtype="datetime64[ns]")
    hold = predictions["hold_days"].to_numpy(dtype="int64") if "hold_days" in predictions.columns else None
    weights = {
        v: position_weights(
            _variant_signal(predictions, v, config), rows, pred_dates, ticker, lag=lag, horizon=horizon, hold_days=hold
        )
        for v in VARIANTS
    }
    columns: dict[str, Any] = {"date": px["date"].to_numpy(dtype="datetime64[ns]")}
    for v, w in weights.items():
        columns[f"{v}_gross"], columns[f"{v}_turnover"] = gross_and_turnover(w, first, ret)
        columns[f"{v}_exposure"] = np.abs(w)
        columns[f"{v}_net_exposure"] = w
        columns[f"{v}_short_exposure"] = np.maximum(-w, 0.0)
    columns["n_tickers"] = (weights["buy_and_hold"] != 0).astype("int64")
    per_row = pd.DataFrame(columns)
    daily = per_row.groupby("date", sort=True).sum()
    live = daily["buy_and_hold_exposure"].gt(0) | daily["buy_and_hold_turnover"].gt(0)
    if not live.any():
        raise ValueError(f"no prediction can be held: prices end before t + lag + 1 (lag={lag})")
    span = live.index[live.to_numpy()]
    daily = daily.loc[span[0] : span[-1]]
    borrow = config.borrow_bps * 1e-4 / periods_per_year
    for v in VARIANTS:
        daily[f"{v}_net"] = (
            daily[f"{v}_gross"]
            - config.cost_bps * 1e-4 * daily[f"{v}_turnover"]
            - borrow * daily[f"{v}_short_exposure"]
        )
    keys = ("gross", "net", "turnover", "exposure", "net_exposure", "short_exposure")
    daily = daily.loc[:, [*(f"{v}_{k}" for v in VARIANTS for k in keys), "n_tickers"]].reset_index()
    held = per_row.loc[:, ["date"]].assign(ticker=ticker, **weights)
    positions = held[np.any([w != 0 for w in weights.values()], axis=0)].reset_index(drop=True)
    return daily, positions


def summarise_strategy(
    daily: pd.DataFrame,
    positions: pd.DataFrame,
    *,
    lag: int,
    horizon: int,
    config: StrategyConfig | None = None,
    costs_grid_bps: Sequence[float] = COST_GRID_BPS,
    periods_per_year: int = 252,
    n_trials: int = 1,
    trial_sharpe_variance: float | Mapping[str, float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> StrategyResult:
    """Metrics and cost sensitivity of :func:`strategy_returns`'s output (arguments as :func:`backtest_strategy`)."""
    config = config or StrategyConfig()
    if isinstance(trial_sharpe_variance, Mapping):
        variances: dict[str, float | None] = {v: trial_sharpe_variance.get(v) for v in VARIANTS}
    else:
        variances = dict.fromkeys(VARIANTS, trial_sharpe_variance)
    settings = {
        **config.model_dump(), "lag": lag, "horizon": horizon, "periods_per_year": periods_per_year,
        "benchmark": BENCHMARK, "n_trials": n_trials, "trial_sharpe_variance": variances, "n_boot": n_boot,
        "seed": seed,
    }  # fmt: skip
    rf = daily_rate(config.risk_free, periods_per_year=periods_per_year)
    benchmark = daily[f"{BENCHMARK}_gross"].to_numpy()
    metrics = {
        v: _variant_metrics(daily, v, benchmark, settings, variance=variances[v], risk_free=rf) for v in VARIANTS
    }
    sensitivity = cost_sensitivity(
        daily, costs_bps=costs_grid_bps, borrow_bps=config.borrow_bps, periods_per_year=periods_per_year, risk_free=rf
    )
    return StrategyResult(
        daily=daily, positions=positions, metrics=metrics, cost_sensitivity=sensitivity, settings=settings
    )


def active_daily_sharpe(
    daily: pd.DataFrame, *, risk_free: float = 0.0, periods_per_year: int = 252
) -> dict[str, float]:
    """Per-day Sharpe ratio of each variant's active (beta-hedged, net) returns: what the trials ledger records."""
    rf = daily_rate(risk_free, periods_per_year=periods_per_year)
    benchmark = daily[f"{BENCHMARK}_gross"].to_numpy()
    return {v: sharpe_ratio(active_returns(daily[f"{v}_net"].to_numpy(), benchmark, risk_free=rf)[0]) for v in VARIANTS}


def _variant_metrics(
    daily: pd.DataFrame, v: str, benchmark: np.ndarray, s: dict[str, Any], *, variance: float | None, risk_free: float
) -> dict[str, Any]:
    net, gross, turnover = (daily[f"{v}_{k}"].to_numpy() for k in ("net", "gross", "turnover"))
    ppy = s["periods_per_year"]
    out: dict[str, Any] = performance(
        net, turnover=turnover, exposure=daily[f"{v}_exposure"].to_numpy(), periods_per_year=ppy, risk_free=risk_free
    )
    g = performance(gross, periods_per_year=ppy, risk_free=risk_free)
    out.update(
        gross_total_return=g["total_return"], gross_annualised_return=g["annualised_return"], gross_sharpe=g["sharpe"]
    )
    out["net_exposure"] = float(daily[f"{v}_net_exposure"].mean())
    out["short_exposure"] = float(daily[f"{v}_short_exposure"].mean())
    out["cost_bps"] = s["cost_bps"]
    out["borrow_bps"] = s["borrow_bps"]
    out["break_even_cost_bps"] = break_even_cost(gross, turnover)
    out.update(attribution(net, benchmark, risk_free=risk_free, periods_per_year=ppy))
    active, _ = active_returns(net, benchmark, risk_free=risk_free)
    out["psr"] = probabilistic_sharpe_ratio(active)["psr"]
    if s["n_trials"] == 1 or variance is not None:
        out["dsr"] = deflated_sharpe_ratio(active, n_trials=s["n_trials"], sharpe_variance=variance or 0.0)["dsr"]
    else:
        out["dsr"] = None
    ci = sharpe_confidence_interval(active, n_boot=s["n_boot"], seed=s["seed"], periods_per_year=ppy)
    out["sharpe_ci"] = {k: ci[k] for k in ("lower", "upper", "confidence", "mean_block")}
    return out


def strategy_table(result: StrategyResult) -> pd.DataFrame:
    """Scalar strategy metrics and the cost sensitivity as a tidy ``metric, subject, scope, value`` table.

    ``subject`` is the variant; ``scope`` is ``all`` for the metrics at the run's cost and
    ``cost=Xbps`` for the sensitivity rows.
    """
    rows: list[tuple[str, str, str, Any]] = []
    for v, m in result.metrics.items():
        for k, value in m.items():
            if k == "sharpe_ci":
                rows += [("sharpe_ci_lower", v, "all", value["lower"]), ("sharpe_ci_upper", v, "all", value["upper"])]
            elif value is None or isinstance(value, int | float):
                rows.append((k, v, "all", value))
    for rec in result.cost_sensitivity.to_dict(orient="records"):
        scope = f"cost={rec['cost_bps']:g}bps"
        rows += [
            (k, str(rec["variant"]), scope, rec[k])
            for k in ("total_return", "annualised_return", "sharpe", "max_drawdown")
        ]
    table = pd.DataFrame(rows, columns=["metric", "subject", "scope", "value"])
    table["value"] = pd.to_numeric(table["value"], errors="coerce").astype("float64")
    return table
