import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.cross_section import cross_sectional_rank
from features.frame import canonicalize
from features.indicators import (
    DEFAULT_FEATURES,
    FEATURES,
    compute_features,
    feature_lookback,
    feature_warmup,
    ma_distance,
    realised_vol,
    resolve_features,
    volume_zscore,
)
from features.technical import (
    atr,
    bollinger,
    dollar_volume_change,
    drawdown,
    garman_klass_vol,
    macd,
    parkinson_vol,
    rsi,
)
from tests.support import make_prices

PATH = [100.0, 102.0, 101.0, 105.0, 104.0, 108.0, 110.0, 107.0]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"
LEGACY = ("ret_1", "ret_5", "ret_10", "ret_20", "vol_20", "range_1", "ma_dist_20", "volume_z_20")


def ohlc_prices(closes: dict[str, list[float]], *, seed: int = 0, start: str = "2020-01-01") -> pd.DataFrame:
    """Canonical frame with a random open/high/low around each close, a dividend-like adjustment
    factor that steps halfway through, and random volume (zeros included)."""
    rng = np.random.default_rng(seed)
    frames = []
    for ticker, path in closes.items():
        c = np.asarray(path, dtype="float64")
        n = len(c)
        o = c * np.exp(rng.normal(0, 0.01, n))
        h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.01, n)))
        low = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
        factor = np.where(np.arange(n) < n // 2, 0.97, 1.0)
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.bdate_range(start, periods=n),
                    "ticker": ticker,
                    "open": o,
                    "high": h,
                    "low": low,
                    "close": c,
                    "adj_close": c * factor,
                    "volume": rng.integers(0, 5, n) * 1000.0,
                }
            )
        )
    return canonicalize(pd.concat(frames))


# ---------------------------------------------------------------- the catalogue


def test_catalogue_defaults_and_docs_agree():
    assert set(LEGACY) <= set(FEATURES)  # stored models reference these names
    assert set(DEFAULT_FEATURES) <= set(FEATURES)
    assert 10 <= len(DEFAULT_FEATURES) <= 16
    assert len(set(DEFAULT_FEATURES)) == len(DEFAULT_FEATURES)
    assert feature_warmup(DEFAULT_FEATURES) == 33  # macd_hist: 26-day EMA, then a 9-day signal
    assert feature_lookback(["ret_5", "vol_20"]) == 21
    assert feature_lookback(DEFAULT_FEATURES) == 358
    table = DOCS.read_text().split("\n## Features\n")[1].split("\n## ")[0]
    documented = re.findall(r"^\| `([a-z0-9_]+)`( ★)? \|", table, flags=re.MULTILINE)
    assert {name for name, _ in documented} == set(FEATURES)
    assert {name for name, star in documented if star} == set(DEFAULT_FEATURES)


def test_unknown_feature_is_named():
    prices = canonicalize(make_prices({"A": PATH}))
    with pytest.raises(ValueError, match="bogus"):
        compute_features(prices, names=["ret_1", "bogus"])
    with pytest.raises(ValueError, match="bogus"):
        feature_lookback(["bogus"])


def test_warmup_is_where_each_feature_starts():
    prices = ohlc_prices({"A": list(100 * np.exp(np.cumsum(np.full(300, 0.01) * np.sin(np.arange(300)))))})
    f = compute_features(prices, names=list(FEATURES))
    for name, spec in FEATURES.items():
        first = int(np.flatnonzero(f[name].notna().to_numpy())[0])
        assert first == spec.warmup, name


# ---------------------------------------------------------------- hand-computed values


def test_log_returns_match_hand_values_and_never_cross_tickers():
    prices = canonicalize(make_prices({"A": PATH, "B": [50.0, 51.0, 52.0]}))
    f = compute_features(prices, names=["ret_1", "ret_5"])
    a, b = f[f["ticker"] == "A"], f[f["ticker"] == "B"]
    assert np.isnan(a["ret_1"].iloc[0])
    assert np.isnan(b["ret_1"].iloc[0])
    assert a["ret_1"].iloc[1] == pytest.approx(np.log(102 / 100), abs=1e-12)
    assert a["ret_5"].iloc[5] == pytest.approx(np.log(108 / 100), abs=1e-12)
    assert a["ret_5"].iloc[:5].isna().all()
    assert b["ret_1"].iloc[2] == pytest.approx(np.log(52 / 51), abs=1e-12)


def test_realised_vol_and_ma_distance_hand_values():
    prices = canonicalize(make_prices({"A": PATH}))
    vol = realised_vol(prices, window=3)
    r = np.diff(np.log(PATH))
    assert vol.iloc[3] == pytest.approx(np.std(r[0:3], ddof=1), abs=1e-12)
    assert vol.iloc[7] == pytest.approx(np.std(r[4:7], ddof=1), abs=1e-12)
    assert ma_distance(prices, window=4).iloc[4] == pytest.approx(104 / np.mean(PATH[1:5]) - 1, abs=1e-12)


def test_volume_zscore_is_zero_for_constant_volume_and_handles_zero():
    prices = canonicalize(make_prices({"A": PATH}, volume=0.0))
    z = volume_zscore(prices, window=3)
    assert z.iloc[:2].isna().all()
    assert (z.iloc[2:] == 0.0).all()


def test_rsi_with_wilder_smoothing_by_hand():
    # changes +1, -0.5, +1, -0.5, +1, -0.5; window 3
    prices = canonicalize(make_prices({"A": [10.0, 11.0, 10.5, 11.5, 11.0, 12.0, 11.5]}))
    # seed at the 3rd change: gain = (1 + 0 + 1)/3 = 2/3, loss = (0 + 0.5 + 0)/3 = 1/6 -> 100 * (2/3)/(5/6) = 80
    # then avg = (2 * avg + x) / 3:
    #   -0.5: gain 4/9,   loss (1/3 + 1/2)/3 = 5/18    -> 100 * (8/18) / (13/18)  = 800/13
    #   +1:   gain 17/27, loss 5/27                    -> 100 * 17 / 22           = 1700/22
    #   -0.5: gain 34/81, loss (10/27 + 1/2)/3 = 47/162 -> 100 * 68 / (68 + 47)   = 6800/115
    expected = [np.nan, np.nan, np.nan, 80.0, 800 / 13, 1700 / 22, 6800 / 115]
    np.testing.assert_allclose(rsi(prices, window=3).to_numpy(), expected, rtol=0, atol=1e-9)
    up_only = canonicalize(make_prices({"A": [1.0, 2.0, 3.0, 4.0], "B": [5.0] * 4}))
    assert rsi(up_only, window=2).tolist()[2:4] == [100.0, 100.0]
    assert rsi(up_only, window=2).tolist()[6:] == [50.0, 50.0]  # no move at all: neutral


def test_macd_line_signal_histogram_by_hand():
    close = [1.0, 2.0, 4.0, 3.0, 5.0, 4.0]
    prices = canonicalize(make_prices({"A": close}))
    # EMA2 (alpha 2/3), seed mean(1, 2) = 3/2: 19/6, 55/18, 235/54, 667/162
    # EMA3 (alpha 1/2), seed mean(1, 2, 4) = 7/3: 8/3, 23/6, 47/12
    # line = EMA2 - EMA3 from row 2: 5/6, 7/18, 14/27, 65/324
    # signal EMA2 of the line, seed mean(5/6, 7/18) = 11/18: 89/162, 77/243
    m = macd(prices, fast=2, slow=3, signal=2)
    line = np.array([np.nan, np.nan, 5 / 6, 7 / 18, 14 / 27, 65 / 324])
    signal = np.array([np.nan, np.nan, np.nan, 11 / 18, 89 / 162, 77 / 243])
    np.testing.assert_allclose(m["macd"].to_numpy(), line / close, rtol=0, atol=1e-9)
    np.testing.assert_allclose(m["macd_signal"].to_numpy(), signal / close, rtol=0, atol=1e-9)
    np.testing.assert_allclose(m["macd_hist"].to_numpy(), (line - signal) / close, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="fast=3 slow=3"):
        macd(prices, fast=3, slow=3)


def test_bollinger_pctb_and_bandwidth_by_hand():
    prices = canonicalize(make_prices({"A": [1.0, 2.0, 3.0, 5.0], "B": [4.0] * 3}))
    b = bollinger(prices, window=3, k=2.0)
    # [1, 2, 3]: mid 2, population sd sqrt(2/3); [2, 3, 5]: mid 10/3, sd sqrt(14)/3
    sd1, sd2 = np.sqrt(2 / 3), np.sqrt(14) / 3
    np.testing.assert_allclose(b["pctb"].iloc[2:4], [0.5 + 1 / (4 * sd1), 0.5 + (5 - 10 / 3) / (4 * sd2)], atol=1e-9)
    np.testing.assert_allclose(b["width"].iloc[2:4], [4 * sd1 / 2, 4 * sd2 / (10 / 3)], atol=1e-9)
    assert b["pctb"].iloc[6] == 0.5  # a flat band: neither high nor low
    assert b["width"].iloc[6] == 0.0


def test_atr_uses_adjusted_prices_so_a_split_is_no_move():
    close = [10.0, 11.0, 10.5, 12.0]
    prices = canonicalize(make_prices({"A": close}))
    prices["high"] = [10.5, 11.5, 11.2, 12.5]
    prices["low"] = [9.5, 10.2, 10.0, 10.8]
    # TR: max(1.3, 1.5, 0.2) = 1.5; max(1.2, 0.2, 1.0) = 1.2; max(1.7, 2.0, 0.3) = 2.0
    # Wilder, window 2: seed (1.5 + 1.2)/2 = 1.35, then (1.35 + 2.0)/2 = 1.675
    np.testing.assert_allclose(atr(prices, window=2).to_numpy(), [np.nan, np.nan, 1.35 / 10.5, 1.675 / 12], atol=1e-9)
    split = prices.copy()  # a 2:1 split before the last day: raw prices halve, adj_close does not
    split.loc[3, ["open", "high", "low", "close"]] /= 2
    pd.testing.assert_series_equal(atr(split, window=2), atr(prices, window=2), rtol=1e-12)


def test_range_volatility_estimators_by_hand():
    prices = canonicalize(make_prices({"A": [100.0, 100.0]}))
    prices["open"] = [100.0, 98.0]
    prices["high"] = [104.0, 103.0]
    prices["low"] = [97.0, 96.0]
    hl = np.log([104 / 97, 103 / 96])
    co = np.log([100 / 100, 100 / 98])
    assert parkinson_vol(prices, window=2).iloc[1] == pytest.approx(
        np.sqrt(np.mean(hl**2) / (4 * np.log(2))), abs=1e-12
    )
    gk = np.mean(0.5 * hl**2 - (2 * np.log(2) - 1) * co**2)
    assert garman_klass_vol(prices, window=2).iloc[1] == pytest.approx(np.sqrt(gk), abs=1e-12)


def test_drawdown_and_dollar_volume_change_by_hand():
    prices = canonicalize(make_prices({"A": [10.0, 12.0, 9.0, 11.0]}))
    np.testing.assert_allclose(drawdown(prices, window=3).to_numpy(), [np.nan, np.nan, 9 / 12 - 1, 11 / 12 - 1])
    prices["volume"] = [100.0, 200.0, 0.0, 50.0]
    # dollar volume 1000, 2400, 0, 550; 2-day sums 3400, 2400, 550 -> change over 2 days at row 3
    dv = dollar_volume_change(prices, window=2)
    assert dv.iloc[3] == pytest.approx(np.log1p(550.0) - np.log1p(3400.0), abs=1e-12)
    assert dv.iloc[:3].isna().all()


def test_cross_sectional_rank_by_hand():
    dates = np.array(["d1", "d1", "d1", "d1", "d2", "d2"])
    values = np.array([0.3, -0.1, 0.3, np.nan, 5.0, np.nan])
    # d1: finite values -0.1 < 0.3 = 0.3 -> ranks 1, 2.5, 2.5 of n=3 -> (rank-1)/2
    np.testing.assert_array_equal(cross_sectional_rank(values, dates), [0.75, 0.0, 0.75, np.nan, 0.5, np.nan])


def test_matches_ta_lib_on_a_fixed_path():
    """Golden values from TA-Lib 0.8.2 (RSI, ATR, BBANDS(20, 2, 2), EMA) on the same path."""
    i = np.arange(40)
    close = 100 * np.exp(np.cumsum(0.02 * np.sin(1.3 * i) + 0.01 * np.cos(0.7 * i)))
    prices = canonicalize(make_prices({"A": list(close)}))
    prices["high"] = close * (1 + 0.01 * (1 + np.sin(0.9 * i) ** 2))
    prices["low"] = close * (1 - 0.01 * (1 + np.cos(1.1 * i) ** 2))
    rows = [14, 20, 27, 33, 39]
    ta_rsi = [45.927260683053255, 55.45200463778935, 54.200982962862774, 42.63759308354683, 50.471103285952324]
    ta_atr = [3.563821963936465, 3.475571381809283, 3.3846084841971376, 3.378724797238379, 3.350900792946207]
    np.testing.assert_allclose(rsi(prices).to_numpy()[rows], ta_rsi, rtol=0, atol=1e-9)
    np.testing.assert_allclose((atr(prices) * close).to_numpy()[rows], ta_atr, rtol=0, atol=1e-9)
    upper = np.array([105.02504266526454, 105.10027271791184, 105.17591913896915])
    lower = np.array([98.74402017532118, 98.61797918520624, 98.72080009073672])
    bb = bollinger(prices).iloc[[19, 27, 39]]
    np.testing.assert_allclose(bb["pctb"], (close[[19, 27, 39]] - lower) / (upper - lower), rtol=0, atol=1e-9)
    ema12 = np.array([101.38948361696644, 101.61585600026973, 101.97197126216052])
    ema26 = np.array([101.8258903185464, 101.86425909570174, 101.96748998998959])
    line = macd(prices)["macd"].to_numpy()[[25, 33, 39]] * close[[25, 33, 39]]
    np.testing.assert_allclose(line, ema12 - ema26, rtol=0, atol=1e-9)


# ---------------------------------------------------------------- legacy values, scale, gaps


def _legacy(prices: pd.DataFrame) -> pd.DataFrame:
    """The skeleton's implementation of the 8 original features (pandas groupby by ticker)."""
    by = prices["ticker"].to_numpy()
    log_adj = pd.Series(np.log(prices["adj_close"].to_numpy()), index=prices.index)

    def rolling(values: pd.Series, window: int, how: str) -> pd.Series:
        rolled = getattr(values.groupby(by, sort=False).rolling(window, min_periods=window), how)()
        return rolled.reset_index(level=0, drop=True).reindex(values.index)

    out = prices.loc[:, ["date", "ticker"]].copy()
    for k in (1, 5, 10, 20):
        out[f"ret_{k}"] = log_adj - log_adj.groupby(by, sort=False).shift(k)
    out["vol_20"] = rolling(out["ret_1"], 20, "std")
    out["range_1"] = np.log(prices["high"].to_numpy() / prices["low"].to_numpy())
    out["ma_dist_20"] = prices["adj_close"] / rolling(prices["adj_close"], 20, "mean") - 1.0
    logv = pd.Series(np.log1p(prices["volume"].to_numpy()), index=prices.index)
    mean, std = rolling(logv, 20, "mean"), rolling(logv, 20, "std")
    out["volume_z_20"] = ((logv - mean) / std.where(std > 1e-12)).where(std.isna() | (std > 1e-12), 0.0)
    return out.loc[:, ["date", "ticker", *LEGACY]]


def test_the_original_eight_features_keep_their_exact_values():
    rng = np.random.default_rng(3)
    prices = ohlc_prices({t: list(50 * np.exp(np.cumsum(rng.normal(0, 0.02, 90)))) for t in "ABC"}, seed=3)
    pd.testing.assert_frame_equal(compute_features(prices, names=LEGACY), _legacy(prices), check_exact=True)


def test_features_are_scale_free():
    """Rescaling a ticker's prices (another currency, a back-adjustment) changes no price feature."""
    rng = np.random.default_rng(5)
    prices = ohlc_prices({"A": list(20 * np.exp(np.cumsum(rng.normal(0, 0.02, 80))))}, seed=5)
    scaled = prices.copy()
    scaled[["open", "high", "low", "close", "adj_close"]] *= 37.5
    # dollar volume is money traded: it scales, by design; the rel_* levels become scale-free in a window
    names = [n for n in FEATURES if "dvol" not in n and not n.startswith("rel_")]
    pd.testing.assert_frame_equal(
        compute_features(scaled, names=names), compute_features(prices, names=names), rtol=1e-9
    )
    from features.alpha import FEATURE_SETS, relative_pairs
    from features.windows import WindowSet

    levels = FEATURE_SETS["alpha360"]
    windows = [
        WindowSet(compute_features(p, names=levels).loc[:, list(levels)].to_numpy(), np.arange(9, 80), timesteps=10,
                  relative=relative_pairs(levels)).take(slice(None))
        for p in (prices, scaled)
    ]  # fmt: skip
    np.testing.assert_allclose(windows[0], windows[1], atol=1e-12)


def test_features_restart_after_a_gap():
    prices = canonicalize(make_prices({"A": list(np.linspace(10, 20, 60))}))
    gapped = prices.drop(index=range(30, 37)).reset_index(drop=True)  # 7 business days missing
    f = compute_features(gapped, names=["ret_1", "vol_20", "rsi_14"])
    assert np.isnan(f["ret_1"].iloc[30])  # the first row after the gap has no previous row
    assert f["vol_20"].iloc[30:50].isna().all()
    assert f["vol_20"].iloc[50:].notna().all()
    assert f["rsi_14"].iloc[30:44].isna().all()
    joined = compute_features(gapped, names=["ret_1"], max_gap=10)  # a looser rule bridges it
    assert joined["ret_1"].iloc[30] == pytest.approx(
        np.log(gapped["adj_close"].iloc[30] / gapped["adj_close"].iloc[29])
    )


def test_the_lookback_rows_determine_each_feature():
    """Computed on only ``lookback`` rows, every feature equals its full-history value. Recursive
    smoothers forget their seed to 1e-8 of its error, hence the relative tolerance."""
    rng = np.random.default_rng(0)
    n = 420
    prices = ohlc_prices({"A": list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))))}, seed=1)
    names = [x for x in FEATURES if not x.startswith("xs_")]
    full = compute_features(prices, names=names)
    for name in names:
        spec = FEATURES[name]
        for end in (n - 1, n - 30):
            part = compute_features(prices.iloc[end + 1 - spec.lookback : end + 1].reset_index(drop=True), names=[name])
            assert part[name].iloc[-1] == pytest.approx(full[name].iloc[end], rel=1e-6, abs=1e-12), name


# ---------------------------------------------------------------- no look-ahead


@st.composite
def price_paths(draw):
    n_tickers = draw(st.integers(1, 3))
    n = draw(st.integers(25, 90))
    closes = {}
    for i in range(n_tickers):
        steps = draw(st.lists(st.floats(-0.08, 0.08), min_size=n, max_size=n))
        closes[f"T{i}"] = list(100 * np.exp(np.cumsum(steps)))
    cut = draw(st.integers(1, n - 1))
    gap_at = draw(st.none() | st.integers(1, n - 10))
    return closes, cut, gap_at, draw(st.integers(0, 2**16))


@settings(max_examples=40, deadline=None)
@given(price_paths())
def test_features_up_to_a_cut_ignore_everything_after_it(case):
    """No look-ahead: every feature (cross-sectional ranks too) at dates <= cut is identical with
    or without later rows, with adjusted OHLC, zero volumes and gaps in the history."""
    closes, cut, gap_at, seed = case
    full = ohlc_prices(closes, seed=seed)
    if gap_at is not None:  # drop a week and a half of one ticker's rows
        t0 = full.index[full["ticker"] == "T0"][gap_at]
        full = full.drop(index=range(t0, t0 + 8)).reset_index(drop=True)
    cut_date = pd.bdate_range("2020-01-01", periods=cut)[-1]
    past = full[full["date"] <= cut_date].reset_index(drop=True)
    names = list(FEATURES)
    f_full = compute_features(full, names=names)
    f_past = compute_features(past, names=names)
    expected = f_full[f_full["date"] <= cut_date].reset_index(drop=True)
    pd.testing.assert_frame_equal(f_past, expected, check_exact=True)


def test_feature_matrix_equals_compute_features_for_every_feature():
    from features.indicators import FEATURES, compute_features, feature_matrix
    from features.prices.sources.synthetic import SyntheticMarket

    prices = SyntheticMarket(tickers=4, days=120, seed=3, signal=0.3).fetch()
    names = list(FEATURES)
    expected = compute_features(prices, names=names).loc[:, names].to_numpy()
    np.testing.assert_array_equal(feature_matrix(prices, names=names), expected)


def _close_only(prices: pd.DataFrame, tickers: list[str], columns: tuple[str, ...]) -> pd.DataFrame:
    out = prices.copy()
    out.loc[out["ticker"].isin(tickers), list(columns)] = np.nan
    return out


def _two_tickers() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for ticker in ("AAA", "BBB"):
        closes = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
        for date, c in zip(pd.bdate_range("2021-01-04", periods=300), closes, strict=True):
            rows.append((date, ticker, c, c * 1.01, c * 0.99, c, c, 1000.0))
    columns = ["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"]
    return canonicalize(pd.DataFrame(rows, columns=columns))


def test_features_name_the_columns_they_need():
    needs = {name: spec.needs for name, spec in FEATURES.items() if spec.needs}
    assert needs == {
        "vol_pk_20": ("high", "low"),
        "vol_gk_20": ("open", "high", "low"),
        "range_1": ("high", "low"),
        "atr_14": ("high", "low"),
        "volume_z_20": ("volume",),
        "dvol_chg_5": ("volume",),
        "xs_volume_z_20": ("volume",),
        "rel_open": ("open",),
        "rel_high": ("high",),
        "rel_low": ("low",),
        "rel_vwap": ("high", "low"),
        "rel_volume": ("volume",),
    }


def test_every_feature_without_needs_is_finite_on_close_only_data():
    prices = _close_only(_two_tickers(), ["AAA", "BBB"], ("open", "high", "low", "volume"))
    free = [n for n, spec in FEATURES.items() if not spec.needs]
    out = compute_features(prices, names=free)
    assert np.isfinite(out[free].to_numpy()[-5:]).all()  # past every warm-up, none of them reads a NaN column
    needy = compute_features(prices, names=["atr_14", "volume_z_20"])
    assert needy[["atr_14", "volume_z_20"]].isna().all().all()  # why they must be dropped


def test_full_ohlcv_keeps_every_feature(caplog):
    with caplog.at_level("WARNING", logger="features.indicators"):
        assert resolve_features(DEFAULT_FEATURES, _two_tickers()) == DEFAULT_FEATURES
    assert caplog.records == []


def test_default_set_drops_what_one_close_only_ticker_lacks_with_one_warning(caplog):
    prices = _close_only(_two_tickers(), ["BBB"], ("open", "high", "low", "volume"))
    with caplog.at_level("WARNING", logger="features.indicators"):
        kept = resolve_features(DEFAULT_FEATURES, prices)

    dropped = ["atr_14", "dvol_chg_5", "vol_gk_20", "volume_z_20"]
    assert kept == tuple(n for n in DEFAULT_FEATURES if n not in dropped)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(dropped) in message
    assert "open, high, low, volume NaN throughout for ['BBB']" in message


def test_volume_only_missing_drops_only_volume_features(caplog):
    prices = _close_only(_two_tickers(), ["AAA", "BBB"], ("volume",))
    with caplog.at_level("WARNING", logger="features.indicators"):
        kept = resolve_features(DEFAULT_FEATURES, prices)
    assert set(DEFAULT_FEATURES) - set(kept) == {"volume_z_20", "dvol_chg_5"}
    assert len(caplog.records) == 1


def test_a_partly_missing_column_is_not_missing():
    prices = _two_tickers()
    prices.loc[prices.index[:10], "volume"] = np.nan  # a gap in reporting, not a close-only ticker
    assert resolve_features(DEFAULT_FEATURES, prices) == DEFAULT_FEATURES


def test_explicitly_requested_features_are_refused_by_name():
    prices = _close_only(_two_tickers(), ["AAA"], ("open", "high", "low", "volume"))
    with pytest.raises(ValueError, match=r"atr_14 needs high/low, volume_z_20 needs volume \(.*\['AAA'\]"):
        resolve_features(("ret_1", "atr_14", "volume_z_20"), prices)
    assert resolve_features(("ret_1", "rsi_14"), prices) == ("ret_1", "rsi_14")
    with pytest.raises(ValueError, match=r"vol_pk_20 needs high/low"):
        resolve_features((*DEFAULT_FEATURES, "vol_pk_20"), prices)  # not the default set: refused


def test_a_scored_default_model_is_never_adapted():
    prices = _close_only(_two_tickers(), ["AAA"], ("volume",))
    with pytest.raises(ValueError, match=r"volume_z_20 needs volume"):
        resolve_features(DEFAULT_FEATURES, prices, adapt=False)


@pytest.mark.parametrize("chunk_rows", [1, 150, 10**9])
def test_feature_matrix_in_chunks_of_tickers_is_bit_identical(chunk_rows):
    """Chunks of whole tickers (one ticker each, a few, all) give every feature, cross-sectional
    ranks included, the same bits as the whole frame, also with a gap inside a ticker."""
    from features.indicators import feature_matrix
    from features.prices.sources.synthetic import SyntheticMarket

    prices = SyntheticMarket(tickers=5, days=130, seed=4, signal=0.3).fetch()
    t1 = prices.index[prices["ticker"] == prices["ticker"].unique()[1]][60]
    prices = prices.drop(index=range(t1, t1 + 8)).reset_index(drop=True)  # a gap in the second ticker
    names = list(FEATURES)
    expected = compute_features(prices, names=names).loc[:, names].to_numpy()
    got = feature_matrix(prices, names=names, chunk_rows=chunk_rows)
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got[:, names.index("xs_ret_5")]).sum() > 400  # the ranks were computed, not left empty


def test_feature_matrix_refuses_an_empty_chunk():
    from features.indicators import feature_matrix

    with pytest.raises(ValueError, match="chunk_rows must be >= 1, got chunk_rows=0"):
        feature_matrix(make_prices({"A": [1.0, 2.0]}), names=["ret_1"], chunk_rows=0)
