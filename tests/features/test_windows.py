import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.dataset import DatasetConfig, build_panel
from features.frame import canonicalize
from features.indicators import DEFAULT_FEATURES, feature_warmup
from features.scaling import FeatureScaler
from features.windows import WindowSet, run_lengths, window_end_mask
from tests.support import make_prices


def test_run_lengths_restart_at_new_tickers_and_bad_rows():
    codes = np.array([0, 0, 0, 0, 1, 1, 1])
    ok = np.array([True, True, False, True, True, True, True])
    assert list(run_lengths(codes, ok)) == [1, 2, 0, 1, 1, 2, 3]
    assert list(window_end_mask(codes, ok, timesteps=2)) == [False, True, False, False, False, True, True]


def test_windowset_takes_the_right_rows_lazily():
    data = np.arange(20, dtype="float32").reshape(10, 2)
    ws = WindowSet(data, np.array([2, 9]), timesteps=3)
    assert ws.shape == (2, 3, 2)
    np.testing.assert_array_equal(ws.take(np.array([0, 1]))[:, :, 0], [[0, 2, 4], [14, 16, 18]])
    assert ws.data is data  # shared, not copied
    assert ws.subset(np.array([1])).data is data
    np.testing.assert_array_equal(ws.subset(np.array([1])).take(slice(None))[0, :, 1], [15, 17, 19])
    with pytest.raises(ValueError, match="ends must lie"):
        WindowSet(data, np.array([1]), timesteps=3)


def _ohlc(closes: dict[str, list[float]], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prices = canonicalize(make_prices(closes))
    c = prices["close"].to_numpy()
    prices["open"] = c * np.exp(rng.normal(0, 0.01, len(c)))
    prices["high"] = np.maximum(prices["open"], c) * 1.01
    prices["low"] = np.minimum(prices["open"], c) * 0.99
    prices["volume"] = rng.integers(1, 9, len(c)) * 100.0
    return prices


def test_panel_windows_never_cross_tickers_or_gaps():
    prices = _ohlc({"A": list(np.linspace(10, 20, 120)), "B": list(np.linspace(5, 6, 80))}, seed=0)
    prices = prices.drop(index=range(70, 76)).reset_index(drop=True)  # A misses 6 business days
    timesteps = 5
    panel = build_panel(prices, DatasetConfig(timesteps=timesteps))
    tickers, dates = panel.keys["ticker"].to_numpy(), panel.dates.astype("datetime64[D]")
    ends = np.flatnonzero(panel.window_ok)
    for end in ends:
        rows = slice(end - timesteps + 1, end + 1)
        assert len(set(tickers[rows])) == 1
        assert (np.busday_count(dates[rows][:-1], dates[rows][1:]) <= panel.config.max_gap).all()
        assert np.isfinite(panel.X[rows]).all()
    # first usable end of each segment: warm-up rows, then a full window
    w = feature_warmup(DEFAULT_FEATURES)
    starts = [0, 70, 114]  # A, A after its gap, B
    expected = [s + w + timesteps - 1 for s in starts]
    firsts = [ends[ends >= s][0] for s in starts]
    assert firsts == expected
    # each sample keeps its (ticker, date): the last step of its window is its own row
    assert panel.keys.iloc[expected[1]]["date"] == prices["date"].iloc[expected[1]]


@settings(max_examples=20, deadline=None)
@given(st.integers(40, 70), st.integers(1, 25), st.integers(1, 8), st.booleans())
def test_appending_future_rows_never_changes_a_past_window(n, extra, timesteps, gap):
    """Scaler fitted on the same training rows + windows: past tensors are unchanged by new rows."""
    rng = np.random.default_rng(n * 100 + extra)
    path = list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n + extra))))
    full = _ohlc({"A": path, "B": path[::-1]}, seed=n)
    if gap:  # a hole in A's history, inside the past
        full = full.drop(index=range(5, 12)).reset_index(drop=True)
    cut = pd.bdate_range("2020-01-01", periods=n)[-1]
    past = full[full["date"] <= cut].reset_index(drop=True)
    cfg = DatasetConfig(timesteps=timesteps)
    p_full, p_past = build_panel(full, cfg), build_panel(past, cfg)
    train_cut = np.datetime64(pd.bdate_range("2020-01-01", periods=38)[-1])
    scalers = [FeatureScaler().fit(p.X[p.dates <= train_cut], cfg.features) for p in (p_full, p_past)]
    np.testing.assert_array_equal(scalers[0].mean_, scalers[1].mean_)
    np.testing.assert_array_equal(scalers[0].scale_, scalers[1].scale_)
    in_past_full = np.flatnonzero(p_full.window_ok & (p_full.dates <= np.datetime64(cut)))
    # the same (ticker, date) samples exist in both
    keys_full = p_full.keys.iloc[in_past_full].reset_index(drop=True)
    keys_past = p_past.keys.iloc[np.flatnonzero(p_past.window_ok)].reset_index(drop=True)
    pd.testing.assert_frame_equal(keys_full, keys_past)
    w_full = WindowSet(np.nan_to_num(scalers[0].transform(p_full.X)), in_past_full, timesteps=timesteps)
    w_past = WindowSet(
        np.nan_to_num(scalers[1].transform(p_past.X)), np.flatnonzero(p_past.window_ok), timesteps=timesteps
    )
    np.testing.assert_array_equal(w_full.take(np.arange(len(w_full))), w_past.take(np.arange(len(w_past))))


def test_relative_columns_subtract_the_reference_on_the_last_row():
    data = np.arange(30, dtype="float64").reshape(10, 3)  # column j of row i holds 3i + j
    ws = WindowSet(data, np.array([2, 9]), timesteps=3, relative=[(0, 0), (2, 0)])
    x = ws.take(np.array([0, 1]))
    np.testing.assert_array_equal(x[0, :, 0], [-6, -3, 0])  # minus its own last row (6)
    np.testing.assert_array_equal(x[0, :, 1], [1, 4, 7])  # untouched
    np.testing.assert_array_equal(x[1, :, 2], [23 - 27, 26 - 27, 29 - 27])  # minus column 0's last row (27)
    np.testing.assert_array_equal(data[9], [27, 28, 29])  # the shared data is never changed
    assert ws.subset(np.array([1])).relative == ((0, 0), (2, 0))
    np.testing.assert_array_equal(ws.subset(np.array([1])).take(slice(None)), x[1:])
    with pytest.raises(ValueError, match="relative pairs must name columns"):
        WindowSet(data, np.array([2]), timesteps=3, relative=[(0, 3)])


def test_alpha360_windows_hold_log_ratios_to_the_last_close_and_volume():
    from features.alpha import FEATURE_SETS

    rng = np.random.default_rng(4)
    prices = _ohlc({"A": list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 40))))}, seed=4)
    prices["adj_close"] = prices["close"] * 0.5  # a later 2:1 split: every level is on the adjusted scale
    config = DatasetConfig(features=("alpha360",), timesteps=6)
    assert config.features == FEATURE_SETS["alpha360"]
    panel = build_panel(prices, config)
    pairs = config.relative_columns
    assert pairs == ((0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 5))
    x = WindowSet(panel.X, np.array([20]), timesteps=6, relative=pairs).take(np.array([0]))[0]
    adj, f = prices["adj_close"].to_numpy(), 0.5
    o, h, lo, v = (prices[c].to_numpy() for c in ("open", "high", "low", "volume"))
    rows = np.arange(15, 21)
    np.testing.assert_allclose(x[:, 0], np.log(adj[rows] / adj[20]), atol=1e-12)
    np.testing.assert_allclose(x[:, 1], np.log(o[rows] * f / adj[20]), atol=1e-12)
    np.testing.assert_allclose(x[:, 2], np.log(h[rows] * f / adj[20]), atol=1e-12)
    np.testing.assert_allclose(x[:, 3], np.log(lo[rows] * f / adj[20]), atol=1e-12)
    typical = (h + lo + prices["close"].to_numpy()) / 3 * f
    np.testing.assert_allclose(x[:, 4], np.log(typical[rows] / adj[20]), atol=1e-12)
    np.testing.assert_allclose(x[:, 5], np.log((1 + v[rows] / f) / (1 + v[20] / f)), atol=1e-12)
    assert x[-1, 0] == 0.0
    assert x[-1, 5] == 0.0
    assert x[-1, 1] == pytest.approx(np.log(o[20] / prices["close"].to_numpy()[20]), abs=1e-12)


def test_level_features_need_their_reference():
    with pytest.raises(ValueError, match=r"relative to \['rel_close'\]"):
        DatasetConfig(features=("rel_open", "rel_volume"))
    assert DatasetConfig(features=("alpha360_close", "ret_5")).features == ("rel_close", "ret_5")
    assert DatasetConfig(features=("alpha360_cv",)).relative_columns == ((0, 0), (1, 1))
    assert DatasetConfig().relative_columns == ()


def test_windows_normalised_as_gathered_equal_the_normalised_matrix_to_the_bit():
    # training and scoring read raw X through a scaler; the values must be those of the full
    # normalised copy they replaced (NaN -> 0, clipping, passthrough and relative columns included)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 4)) * [1.0, 30.0, 1e-3, 2.0] + [0.0, 5.0, 0.0, 1.0]
    X[rng.random(X.shape) < 0.02] = np.nan
    X[7, 1] = 1e6  # clipped
    names = ["a", "b", "c", "lvl"]
    scaler = FeatureScaler(clip=3.0).fit(X, names, rows=np.arange(400) < 250, passthrough=["lvl"])
    ends = np.arange(9, 400, 3)
    full = np.nan_to_num(scaler.transform(X), nan=0.0)
    for relative in ((), ((3, 3),)):
        lazy = WindowSet(X, ends, timesteps=10, relative=relative, scaler=scaler)
        eager = WindowSet(full, ends, timesteps=10, relative=relative)
        got, want = lazy.take(np.arange(len(ends))), eager.take(np.arange(len(ends)))
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got.view("int32"), want.view("int32"))
        sub = np.array([5, 1, 30])
        np.testing.assert_array_equal(lazy.subset(sub).take(np.arange(3)), eager.take(sub))
    with pytest.raises(ValueError, match="scaler has 4 features, data has 3"):
        WindowSet(X[:, :3], ends, timesteps=10, scaler=scaler)
