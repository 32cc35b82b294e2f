"""3. Feature engineering: :func:`features.indicators.compute_features` against a per-ticker pandas loop.

The loop is what one would write first: ``for ticker, g in prices.groupby("ticker")`` and the
default features of that ticker with ``Series.rolling`` / ``Series.ewm``, then ``concat``. It
follows the formulas of :mod:`features.technical` (TA-Lib seeding of the recursive smoothers),
and :func:`check_same` verifies on a sample that both give the same numbers. The synthetic
market has no gaps, so a ticker is one segment and the loop needs no gap logic.

Goal: 500 tickers x 5,000 days of the default features in <= 10 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import Figure, Scale, check_scale, ratios, result, side_by_side, synthetic_prices

NAME = "features"
GOAL = "default features for 500 tickers x 5,000 days <= 10 s"

SIZES: dict[str, dict[str, int]] = {
    "full": {"tickers": 500, "days": 5000, "repeats": 3, "loop_repeats": 2},
    "quick": {"tickers": 100, "days": 5000, "repeats": 2, "loop_repeats": 1},
    "toy": {"tickers": 3, "days": 300, "repeats": 1, "loop_repeats": 1},
}


def _seeded_ewm(values: pd.Series, *, alpha: float, window: int, first: int = 0) -> pd.Series:
    """EMA seeded with the mean of the first ``window`` values from position ``first`` (TA-Lib)."""
    seed_pos = first + window - 1
    pos = np.arange(len(values))
    seed = values.rolling(window, min_periods=window).mean()
    z = values.where(pos > seed_pos, seed.where(pos == seed_pos))
    out = z.ewm(alpha=alpha, adjust=False).mean()
    return out.where(pos >= seed_pos)


def loop_features(prices: pd.DataFrame) -> pd.DataFrame:
    """The default features, one ticker at a time with plain pandas (the baseline)."""
    parts = []
    for _, g in prices.groupby("ticker", sort=False):
        adj, close = g["adj_close"], g["close"]
        factor = adj / close
        high, low = g["high"] * factor, g["low"] * factor
        log_adj = np.log(adj)
        r1 = log_adj.diff()
        f = pd.DataFrame({"date": g["date"], "ticker": g["ticker"]})
        f["ret_1"], f["ret_5"], f["ret_20"] = r1, log_adj.diff(5), log_adj.diff(20)
        f["vol_20"] = r1.rolling(20).std()
        hl = np.log(g["high"] / g["low"])
        co = np.log(close / g["open"])
        gk = (0.5 * hl**2 - (2 * np.log(2) - 1) * co**2).rolling(20).mean()
        f["vol_gk_20"] = np.sqrt(gk.clip(lower=0))
        prev = adj.shift(1)
        tr = pd.concat([high - low, (high - prev).abs(), (low - prev).abs()], axis=1).max(axis=1, skipna=False)
        f["atr_14"] = _seeded_ewm(tr, alpha=1 / 14, window=14, first=1) / adj
        d = adj.diff()
        gain = _seeded_ewm(d.clip(lower=0), alpha=1 / 14, window=14, first=1)
        loss = _seeded_ewm((-d).clip(lower=0), alpha=1 / 14, window=14, first=1)
        total = gain + loss
        f["rsi_14"] = (100 * gain / total.where(total > 0)).where(total > 0, 50.0).where(total.notna())
        line = _seeded_ewm(adj, alpha=2 / 13, window=12) - _seeded_ewm(adj, alpha=2 / 27, window=26)
        sig = _seeded_ewm(line, alpha=2 / 10, window=9, first=25)
        f["macd"], f["macd_hist"] = line / adj, (line - sig) / adj
        mid, sd = adj.rolling(20).mean(), adj.rolling(20).std(ddof=0)
        f["bb_pctb_20"] = ((adj - (mid - 2 * sd)) / (4 * sd)).where(sd > 0, 0.5).where(sd.notna())
        f["ma_dist_20"] = adj / mid - 1
        f["dd_20"] = adj / adj.rolling(20).max() - 1
        logv = np.log1p(g["volume"])
        vm, vs = logv.rolling(20).mean(), logv.rolling(20).std()
        f["volume_z_20"] = ((logv - vm) / vs.where(vs > 1e-12)).where(vs.isna() | (vs > 1e-12), 0.0)
        s = (close * g["volume"]).rolling(5).sum()
        f["dvol_chg_5"] = np.log1p(s) - np.log1p(s.shift(5))
        parts.append(f)
    return pd.concat(parts)


def check_same(prices: pd.DataFrame) -> float:
    """Largest absolute difference between the library and the loop (NaN positions must match).

    Raises:
        AssertionError: when NaNs differ or a value differs by more than 1e-9 relative.
    """
    from features.indicators import DEFAULT_FEATURES, compute_features

    a = compute_features(prices, names=DEFAULT_FEATURES).loc[:, list(DEFAULT_FEATURES)].to_numpy()
    b = loop_features(prices).loc[:, list(DEFAULT_FEATURES)].to_numpy()
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        raise AssertionError("loop and compute_features differ in where values are missing")
    ok = ~np.isnan(a)
    if not np.allclose(a[ok], b[ok], rtol=1e-9, atol=1e-12):
        raise AssertionError(f"loop and compute_features differ by up to {np.abs(a[ok] - b[ok]).max():.3g}")
    return float(np.abs(a[ok] - b[ok]).max()) if ok.any() else 0.0


def run(*, scale: Scale = "full", repeats: int | None = None) -> dict[str, Any]:
    """Measure; see the module docstring."""
    from features.indicators import DEFAULT_FEATURES, compute_features

    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    prices = synthetic_prices(size["tickers"], size["days"])
    max_diff = check_same(prices[prices["ticker"].isin(prices["ticker"].unique()[:3])].reset_index(drop=True))

    def library() -> None:
        compute_features(prices, names=DEFAULT_FEATURES)

    def loop() -> None:
        loop_features(prices)

    # The loop is slow: fewer repeats of it, each bracketed by library runs (L, loop, L, loop, L).
    lib_times: list[float] = []
    loop_times: list[float] = []
    pairs = side_by_side({"library": library, "loop": loop}, repeats=size["loop_repeats"], warmup=False)
    lib_times += pairs["library"]
    loop_times += pairs["loop"]
    lib_times += side_by_side({"library": library}, repeats=max(0, reps - len(lib_times)), warmup=False)["library"]
    # What build_panel calls: feature_matrix in chunks of whole tickers (the default) against the
    # whole frame at once (one chunk), interleaved; the values are the same to the bit.
    from features.indicators import feature_matrix

    chunks = side_by_side(
        {
            "chunked": lambda: feature_matrix(prices, names=DEFAULT_FEATURES),
            "whole": lambda: feature_matrix(prices, names=DEFAULT_FEATURES, chunk_rows=len(prices)),
        },
        repeats=reps,
        warmup=False,
    )
    n_rows = len(prices)
    figures = {
        "feature_matrix_chunked_s": Figure("s", chunks["chunked"]),
        "feature_matrix_whole_s": Figure("s", chunks["whole"]),
        "chunked_over_whole_ratio": Figure("ratio", ratios(chunks["chunked"], chunks["whole"])),
        "compute_features_s": Figure("s", lib_times),
        "per_ticker_loop_s": Figure("s", loop_times),
        "loop_over_library_ratio": Figure("ratio", ratios(loop_times, pairs["library"]), "higher"),
        "rows_per_s": Figure("rows/s", [n_rows / t for t in lib_times], "higher"),
    }
    goal_s = 10.0 * n_rows / (500 * 5000)  # the goal, scaled to the size measured
    return result(
        NAME,
        goal=GOAL,
        headline="compute_features_s",
        figures=figures,
        met=bool(figures["compute_features_s"].median <= goal_s) if scale == "full" else None,
        params={
            "tickers": size["tickers"],
            "days": size["days"],
            "rows": n_rows,
            "features": list(DEFAULT_FEATURES),
            "repeats": reps,
        },
        notes=[f"loop and compute_features agree on 3 tickers: max |difference| {max_diff:.2e}"],
    )
