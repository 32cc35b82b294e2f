import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import make_prices

from features.dataset import DatasetConfig, build_panel
from features.frame import canonicalize
from features.scaling import FeatureScaler
from features.windows import WindowSet, run_lengths, window_end_mask


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
    with pytest.raises(ValueError, match="ends must lie"):
        WindowSet(data, np.array([1]), timesteps=3)


def test_panel_windows_never_cross_tickers():
    prices = canonicalize(make_prices({"A": list(np.linspace(10, 20, 40)), "B": list(np.linspace(5, 6, 40))}))
    panel = build_panel(prices, DatasetConfig(timesteps=5))
    tickers = panel.keys["ticker"].to_numpy()
    for end in np.flatnonzero(panel.window_ok):
        assert len(set(tickers[end - 4 : end + 1])) == 1
        assert np.isfinite(panel.X[end - 4 : end + 1]).all()
    # first usable window end per ticker: 20 warm-up rows (vol_20 needs 21 prices) + 5 timesteps
    first = [np.flatnonzero(panel.window_ok & (tickers == t))[0] for t in ("A", "B")]
    assert first == [24, 40 + 24]


@settings(max_examples=25, deadline=None)
@given(st.integers(30, 60), st.integers(1, 25), st.integers(1, 8))
def test_appending_future_rows_never_changes_a_past_window(n, extra, timesteps):
    """Scaler fitted on the same training rows + windows: past tensors are unchanged by new rows."""
    rng = np.random.default_rng(n * 100 + extra)
    path = list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n + extra))))
    full = canonicalize(make_prices({"A": path, "B": path[::-1]}))
    cut = pd.bdate_range("2020-01-01", periods=n)[-1]
    past = full[full["date"] <= cut].reset_index(drop=True)
    cfg = DatasetConfig(timesteps=timesteps)
    p_full, p_past = build_panel(full, cfg), build_panel(past, cfg)
    train_cut = pd.bdate_range("2020-01-01", periods=28)[-1]
    scalers = [FeatureScaler().fit(p.X[p.dates <= np.datetime64(train_cut)], cfg.features) for p in (p_full, p_past)]
    np.testing.assert_array_equal(scalers[0].mean_, scalers[1].mean_)
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
