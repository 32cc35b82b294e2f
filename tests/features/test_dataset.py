"""build_panel on a hand-built universe: features, labels, label ends, window ends and the quantile fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.dataset import DatasetConfig, build_panel
from features.frame import canonicalize
from features.labels import LabelConfig
from tests.support import make_prices

# A moves +10%, -10%, 0 over its labels; B never moves. Dates: 2020-01-01 (Wed) .. 2020-01-07 (Tue).
CLOSES = {"A": [10.0, 11.0, 12.1, 10.89, 10.89], "B": [20.0] * 5}
DAYS = pd.bdate_range("2020-01-01", periods=5)


def _panel(**label: object):
    config = DatasetConfig(features=("ret_1",), timesteps=2, label=LabelConfig(horizon=1, lag=1, **label))
    return build_panel(canonicalize(make_prices(CLOSES)), config)


def test_rows_keys_and_features_follow_the_prices() -> None:
    panel = _panel()

    assert list(panel.keys["ticker"]) == ["A"] * 5 + ["B"] * 5
    assert list(panel.keys["date"]) == list(DAYS) * 2
    assert panel.X.shape == (10, 1)
    a = np.array(CLOSES["A"])
    np.testing.assert_allclose(panel.X[1:5, 0], np.log(a[1:] / a[:-1]))
    np.testing.assert_allclose(panel.X[6:10, 0], 0.0)
    assert np.isnan(panel.X[[0, 5], 0]).all()  # the first row of each ticker has no past return
    assert list(panel.calendar) == list(DAYS)


def test_labels_use_the_return_from_the_entry_close_after_the_lag() -> None:
    panel = _panel(band=0.05)

    # row t: adj_close[t + 2] / adj_close[t + 1] - 1 (lag 1, horizon 1); the last two rows have none
    np.testing.assert_allclose(panel.forward_return[:3], [0.1, -0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(panel.forward_return[5:8], 0.0)
    assert np.isnan(panel.forward_return[[3, 4, 8, 9]]).all()
    assert list(panel.label) == [2, 0, 1, -1, -1, 1, 1, 1, -1, -1]
    assert list(panel.label_end[:3]) == list(DAYS[2:5].to_numpy())
    assert np.isnat(panel.label_end[[3, 4, 8, 9]]).all()
    assert panel.label_state == {"scheme": "fixed"}
    assert panel.labels_ready


def test_windows_need_timesteps_rows_with_features_and_samples_need_labels() -> None:
    panel = _panel()

    assert list(panel.window_ok) == [False, False, True, True, True] * 2
    assert list(panel.samples()) == [2, 7]
    assert list(panel.samples(labeled=False)) == [2, 3, 4, 7, 8, 9]
    assert panel.class_balance(np.array([0, 1, 2, 5])) == {"down": 0.25, "flat": 0.5, "up": 0.25}


def test_quantile_labels_wait_for_thresholds_fitted_on_the_given_rows() -> None:
    panel = _panel(scheme="quantile", quantiles=(0.25, 0.75))
    assert not panel.labels_ready
    assert set(panel.label) == {-1}

    fitted = panel.fit_labels(np.array([0, 1, 2]))  # returns 0.1, -0.1, 0.0 -> cut points -0.05, 0.05

    assert fitted.labels_ready
    np.testing.assert_allclose(fitted.label_state["thresholds"], [-0.05, 0.05], atol=1e-12)
    assert list(fitted.label) == [2, 0, 1, -1, -1, 1, 1, 1, -1, -1]
    assert list(panel.label) == [-1] * 10  # the unfitted panel is unchanged
    again = panel.with_label_state(fitted.label_state)
    np.testing.assert_array_equal(again.label, fitted.label)


def test_fitting_and_restoring_labels_refuse_what_cannot_work() -> None:
    quantile = _panel(scheme="quantile")
    with pytest.raises(ValueError, match="non-empty set of labeled rows, got 0 rows"):
        quantile.fit_labels(np.array([], dtype="int64"))
    with pytest.raises(ValueError, match=r"got 2 rows \(1 unlabeled\)"):
        quantile.fit_labels(np.array([0, 3]))
    with pytest.raises(ValueError, match="no thresholds"):
        quantile.with_label_state({"scheme": "quantile"})
    with pytest.raises(ValueError, match="scheme must be 'quantile', got scheme='fixed'"):
        quantile.with_label_state({"scheme": "fixed"})
    fixed = _panel()
    assert fixed.fit_labels(np.array([0])) is fixed
    assert fixed.with_label_state({"scheme": "fixed"}) is fixed


@pytest.mark.parametrize("features", [(), ("ret_1", "ret_1"), ("ret_1", "nope")])
def test_config_refuses_empty_repeated_or_unknown_features(features) -> None:
    with pytest.raises(ValidationError, match="features must be distinct names"):
        DatasetConfig(features=features)


def test_config_defaults() -> None:
    config = DatasetConfig()
    assert config.timesteps == 30
    assert config.label == LabelConfig()
    assert config.max_gap >= 1


def test_cs_norm_zscores_each_date_but_not_the_levels():
    from features.prices.sources.synthetic import SyntheticMarket

    prices = SyntheticMarket(tickers=6, days=80, seed=1, signal=0.0).fetch()
    names = ("ret_5", "vol_20", "rel_close")
    raw = build_panel(prices, DatasetConfig(features=names, timesteps=4))
    z = build_panel(prices, DatasetConfig(features=names, timesteps=4, cs_norm="zscore"))
    frame = pd.DataFrame(z.X[:, :2], columns=["ret_5", "vol_20"]).assign(date=z.dates).dropna()
    stats = frame.groupby("date").agg(["mean", "std"])
    np.testing.assert_allclose(stats.xs("mean", axis=1, level=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(stats.xs("std", axis=1, level=1), np.sqrt(6 / 5), rtol=1e-9)  # ddof 0 over 6 tickers
    np.testing.assert_array_equal(z.X[:, 2], raw.X[:, 2])
    np.testing.assert_array_equal(z.window_ok, raw.window_ok)
    assert DatasetConfig().cs_norm == "none"


def test_build_panel_never_adapts_features_to_close_only_prices():
    prices = canonicalize(make_prices({"A": list(np.linspace(10, 20, 60)), "B": list(np.linspace(5, 6, 60))}))
    prices.loc[prices["ticker"] == "B", "volume"] = np.nan
    with pytest.raises(ValueError, match=r"volume_z_20 needs volume, dvol_chg_5 needs volume"):
        build_panel(prices, DatasetConfig(timesteps=5))
    names = ("ret_1", "rsi_14")
    panel = build_panel(prices, DatasetConfig(features=names, timesteps=5))
    assert panel.config.features == names
    assert panel.window_ok.sum() > 0
    assert np.isfinite(panel.X[panel.window_ok]).all()
