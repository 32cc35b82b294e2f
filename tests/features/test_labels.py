import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from features.barriers import first_touch
from features.dataset import DatasetConfig, build_panel
from features.frame import canonicalize
from features.labels import (
    CLASSES,
    UNLABELED,
    LabelConfig,
    QuantileBand,
    bucket,
    bucket_between,
    class_balance,
    class_balance_by_split,
    cut_label_windows,
    forward_returns,
    holding_days,
    horizon_sigma,
    make_labels,
)
from tests.support import make_prices


def test_forward_return_timing_is_entry_at_t_plus_lag_exit_at_t_plus_lag_plus_horizon():
    path = [100.0, 101.0, 103.0, 99.0, 104.0, 110.0, 108.0]
    prices = canonicalize(make_prices({"A": path}))
    fwd = forward_returns(prices, horizon=2, lag=1)
    # decision at t=0: enter at close 1 (101), exit at close 3 (99)
    assert fwd["forward_return"].iloc[0] == pytest.approx(99 / 101 - 1, abs=1e-15)
    assert fwd["forward_return"].iloc[3] == pytest.approx(108 / 104 - 1, abs=1e-15)
    assert fwd["label_end"].iloc[0] == prices["date"].iloc[3]
    # the last lag + horizon rows have no label, ever
    assert fwd["forward_return"].iloc[-3:].isna().all()
    assert fwd["label_end"].iloc[-3:].isna().all()


def test_lag_zero_enters_at_the_decision_close():
    prices = canonicalize(make_prices({"A": [100.0, 110.0, 121.0]}))
    fwd = forward_returns(prices, horizon=1, lag=0)
    np.testing.assert_allclose(fwd["forward_return"].iloc[:2], [0.1, 0.1])


def test_bucket_classes_with_ties_at_the_band_edge_flat():
    r = np.array([-0.05, -0.01, -0.0099, 0.0, 0.01, 0.0101, np.nan])
    assert list(bucket(r, band=0.01)) == [0, 1, 1, 1, 1, 2, UNLABELED]
    lower, upper = np.array([-0.1, -0.1, 0.0, np.nan]), np.array([0.2, 0.2, 0.0, 0.1])
    assert list(bucket_between(np.array([-0.1, 0.2000001, 0.0, 0.0]), lower, upper)) == [1, 2, 1, UNLABELED]


def test_labels_never_cross_tickers():
    prices = canonicalize(make_prices({"A": [100.0, 150.0, 200.0], "B": [10.0, 10.0, 10.0, 10.0]}))
    lab = make_labels(prices, LabelConfig(horizon=1, lag=1, band=0.01))
    a = lab[lab["ticker"] == "A"]
    assert list(a["label"]) == [2, UNLABELED, UNLABELED]  # A's tail must not borrow B's prices
    assert list(lab[lab["ticker"] == "B"]["label"]) == [1, 1, UNLABELED, UNLABELED]


def test_labels_never_cross_a_gap():
    prices = canonicalize(make_prices({"A": [100.0, 100.0, 100.0, 200.0, 200.0, 200.0]}))
    prices.loc[3:, "date"] += pd.Timedelta(days=14)  # rows 3.. come after two missing weeks
    lab = make_labels(prices, LabelConfig(horizon=1, lag=0, band=0.01))
    assert list(lab["label"]) == [1, 1, UNLABELED, 1, 1, UNLABELED]  # the jump across the gap is no label
    assert list(make_labels(prices, LabelConfig(horizon=1, lag=0), max_gap=20)["label"])[2] == 2


def test_fixed_scheme_on_a_hand_built_path():
    # horizon 1, lag 0, band 0.25 (exact in binary): 0 -> flat, +0.25 -> flat (edge), -0.4 -> down,
    # +1/3 -> up, +0.5 -> up; the last row has no forward window
    prices = canonicalize(make_prices({"A": [100.0, 100.0, 125.0, 75.0, 100.0, 150.0]}))
    lab = make_labels(prices, LabelConfig(horizon=1, lag=0, band=0.25))
    assert list(lab["label"]) == [1, 1, 0, 2, 2, UNLABELED]
    assert list(lab["lower"].iloc[:5]) == [-0.25] * 5
    assert np.isnan(lab["upper"].iloc[5])
    pd.testing.assert_series_equal(lab["label_decided"], lab["label_end"], check_names=False)


def test_volatility_scheme_uses_sigma_up_to_the_decision_day():
    # vol_window 2, horizon 1, lag 0, k 1: sigma_t = |l_{t-1} - l_t| / sqrt(2) (std of two log returns)
    prices = canonicalize(make_prices({"A": [100.0, 110.0, 99.0, 99.0, 120.0]}))
    lab = make_labels(prices, LabelConfig(scheme="volatility", horizon=1, lag=0, vol_window=2, k=1.0))
    s2 = abs(np.log(1.1) - np.log(0.9)) / np.sqrt(2)  # returns 110/100, 99/110
    s3 = abs(np.log(0.9) - 0.0) / np.sqrt(2)  # returns 99/110, 99/99
    np.testing.assert_allclose(lab["upper"].iloc[2:4], [s2, s3], rtol=0, atol=1e-12)
    # t=2: 99 -> 99 is 0, inside +-s2: flat; t=3: 99 -> 120 = +21.2% > s3 = 7.45%: up
    assert list(lab["label"]) == [UNLABELED, UNLABELED, 1, 2, UNLABELED]
    assert lab["forward_return"].iloc[:2].isna().all()  # no sigma yet: no label, no return
    assert lab["label_end"].iloc[:2].isna().all()


def test_volatility_scheme_tie_at_a_zero_width_band_is_flat():
    # constant prices: sigma = 0, so the band is [0, 0]; a zero return sits on both edges
    prices = canonicalize(make_prices({"A": [50.0, 50.0, 50.0, 50.0, 51.0, 49.0]}))
    lab = make_labels(prices, LabelConfig(scheme="volatility", horizon=1, lag=0, vol_window=2))
    # t=2: 50 -> 50 on the edge: flat; t=3: 50 -> 51 above a zero band: up;
    # t=4: sigma = log(1.02)/sqrt(2) = 1.4%, 51 -> 49 = -3.9%: down; t=5: no forward window
    assert list(lab["label"]) == [UNLABELED, UNLABELED, 1, 2, 0, UNLABELED]


def test_quantile_band_fits_training_returns_and_freezes_them():
    band = QuantileBand(quantiles=(0.25, 0.75)).fit(np.array([0.5, -0.5, 0.0, 0.25, -0.25]))
    assert band.thresholds_ == (-0.25, 0.25)  # positions 1 and 3 of the sorted five: exact
    r = np.array([-0.26, -0.25, 0.0, 0.25, 0.3, np.nan])
    assert list(band.transform(r)) == [0, 1, 1, 1, 2, UNLABELED]  # edges are flat
    again = QuantileBand.from_dict(json.loads(json.dumps(band.to_dict())))
    assert list(again.transform(r)) == list(band.transform(r))
    with pytest.raises(RuntimeError, match="not fitted"):
        QuantileBand().transform(r)
    with pytest.raises(ValueError, match="finite"):
        QuantileBand().fit(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="quantiles"):
        QuantileBand(quantiles=(0.7, 0.3))
    prices = canonicalize(make_prices({"A": [1.0, 2.0, 3.0]}))
    with pytest.raises(ValueError, match="scheme='fixed'"):
        make_labels(prices, LabelConfig(), band=band)


def _random_prices(n: int, seed: int, tickers: str = "AB") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return canonicalize(make_prices({t: list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))) for t in tickers}))


def test_quantile_panel_is_pending_until_fitted_on_training_rows():
    prices = _random_prices(120, 1)
    cfg = DatasetConfig(timesteps=5, label=LabelConfig(scheme="quantile"))
    panel = build_panel(prices, cfg)
    assert not panel.labels_ready
    assert (panel.label == UNLABELED).all()
    rows = panel.samples(labeled=True)  # rows with a complete label window, for planning folds
    assert len(rows) > 100
    assert np.isfinite(panel.forward_return[rows]).all()
    train = rows[panel.dates[rows] < np.datetime64("2020-04-01")]
    fitted = panel.fit_labels(train)
    assert fitted.labels_ready
    assert fitted is not panel
    assert (panel.label == UNLABELED).all()  # the original is unchanged
    lo, hi = np.quantile(panel.forward_return[train], [1 / 3, 2 / 3])
    assert fitted.label_state["thresholds"] == [lo, hi]
    assert fitted.label_state["n_fit"] == len(train)
    counts = np.bincount(fitted.label[train], minlength=3)
    assert counts.max() - counts.min() <= 2  # balanced on the training rows
    assert (fitted.label[rows] >= 0).all()
    assert (fitted.label[np.isnat(panel.label_end)] == UNLABELED).all()
    # test rows are labelled with the frozen training thresholds
    expected = bucket_between(panel.forward_return[rows], lo, hi)
    np.testing.assert_array_equal(fitted.label[rows], expected)


def test_quantile_thresholds_ignore_everything_outside_the_training_rows():
    prices = _random_prices(120, 2)
    cfg = DatasetConfig(timesteps=5, label=LabelConfig(scheme="quantile"))
    panel = build_panel(prices, cfg)
    test_start = panel.calendar[90]
    rows = panel.samples()
    train = rows[panel.label_end[rows] < test_start]
    wild = prices.copy()
    late = (wild["date"] >= test_start).to_numpy()
    wild.loc[late, "adj_close"] *= np.linspace(0.2, 5.0, late.sum())  # the test period goes wild
    other = build_panel(wild, cfg).fit_labels(train)
    assert len(train) > 50
    assert other.label_state == panel.fit_labels(train).label_state


def test_label_state_round_trips_through_json():
    prices = _random_prices(100, 3)
    cfg = DatasetConfig(timesteps=5, label=LabelConfig(scheme="quantile", quantiles=(0.2, 0.8)))
    panel = build_panel(prices, cfg)
    fitted = panel.fit_labels(panel.samples()[:50])
    state = json.loads(json.dumps(fitted.label_state))
    np.testing.assert_array_equal(panel.with_label_state(state).label, fitted.label)
    with pytest.raises(ValueError, match="scheme"):
        panel.with_label_state({"scheme": "fixed"})
    with pytest.raises(ValueError, match="no thresholds"):
        panel.with_label_state(panel.label_state)
    with pytest.raises(ValueError, match="unlabeled"):
        panel.fit_labels(np.array([len(panel.label) - 1]))
    fixed = build_panel(prices, DatasetConfig(timesteps=5))
    assert fixed.fit_labels(fixed.samples()) is fixed
    assert fixed.label_state == {"scheme": "fixed"}
    assert fixed.with_label_state({"scheme": "fixed"}) is fixed


def test_label_config_validation_and_json_round_trip():
    cfg = LabelConfig(scheme="triple_barrier", profit_take=2.0, stop_loss=1.5, vol_window=30)
    assert LabelConfig.model_validate(json.loads(json.dumps(cfg.model_dump(mode="json")))) == cfg
    q = LabelConfig(scheme="quantile", quantiles=(0.25, 0.75))
    assert LabelConfig.model_validate(json.loads(json.dumps(q.model_dump(mode="json")))) == q
    assert LabelConfig() == LabelConfig(horizon=5, lag=1, band=0.01, scheme="fixed")
    for bad, field in (
        ({"horizon": 0}, "horizon"),
        ({"band": -0.1}, "band"),
        ({"scheme": "median"}, "scheme"),
        ({"quantiles": (0.6, 0.4)}, "quantiles"),
        ({"k": 0}, "k"),
        ({"vol_window": 1}, "vol_window"),
        ({"profit_take": -1}, "profit_take"),
        ({"bogus": 1}, "bogus"),
    ):
        with pytest.raises(ValidationError, match=field):
            LabelConfig(**bad)


def test_class_balance_per_split():
    labels = np.array([0, 0, 1, 2, -1, 2, 2])
    assert class_balance(labels) == {"down": 1 / 3, "flat": 1 / 6, "up": 0.5}
    assert class_balance(np.array([0, 0, 1, 2, -1])) == {"down": 0.5, "flat": 0.25, "up": 0.25}
    by = class_balance_by_split(labels, {"train": np.array([0, 1, 2, 4]), "test": np.array([5, 6])})
    assert by == {
        "train": {"down": 2 / 3, "flat": 1 / 3, "up": 0.0, "n": 3},
        "test": {"down": 0.0, "flat": 0.0, "up": 1.0, "n": 2},
    }
    assert CLASSES == ("down", "flat", "up")


SCHEMES = [
    LabelConfig(horizon=5, lag=1),
    LabelConfig(scheme="volatility", horizon=3, lag=0, vol_window=5, k=0.5),
    LabelConfig(scheme="triple_barrier", horizon=4, lag=2, vol_window=5),
    LabelConfig(scheme="quantile", horizon=2, lag=1),
]


@settings(max_examples=30, deadline=None)
@given(st.integers(20, 50), st.integers(1, 20), st.integers(0, 3), st.integers(0, 2**16))
def test_appending_future_rows_only_fills_in_missing_labels(n, extra, which, seed):
    cfg = SCHEMES[which]
    full = _random_prices(n + extra, seed, tickers="A")
    short = full.iloc[:n].reset_index(drop=True)
    band = QuantileBand().fit(np.array([-0.01, 0.0, 0.01])) if cfg.scheme == "quantile" else None
    a, b = make_labels(short, cfg, band=band), make_labels(full, cfg, band=band).iloc[:n]
    assert (a["label"].iloc[n - cfg.lag - cfg.horizon :] == UNLABELED).all()  # the last lag + h rows
    known = (a["label"] != UNLABELED).to_numpy()
    assert known.sum() > 0
    pd.testing.assert_frame_equal(a[known], b[known])


def test_cut_label_windows_count_halts_and_delistings_but_not_the_end_of_data():
    # AAA trades 12 days; BBB stops after day 4 (delisted); CCC has a two-week gap after day 3.
    days = pd.bdate_range("2021-01-04", periods=12)
    rows = [(d, "AAA") for d in days] + [(d, "BBB") for d in days[:5]]
    rows += [(d, "CCC") for d in days[:4]] + [(d, "CCC") for d in pd.bdate_range("2021-01-15", periods=3)]
    prices = canonicalize(
        pd.DataFrame(rows, columns=["date", "ticker"]).assign(
            open=10.0, high=10.0, low=10.0, close=10.0, adj_close=10.0, volume=1.0
        )
    )
    cut = cut_label_windows(prices, horizon=2, lag=1)
    by = {t: cut[(prices["ticker"] == t).to_numpy()].tolist() for t in ("AAA", "BBB", "CCC")}
    # the calendar runs to 2021-01-19 (AAA's and CCC's last day); a window needs 3 later days of the ticker's segment
    assert by["AAA"] == [False] * 12  # its last rows only wait for data that has not come yet
    assert by["BBB"] == [False, False, True, True, True]
    assert by["CCC"] == [False, True, True, True, False, False, False]  # the post-gap tail is the data's end


def test_holding_days_are_the_horizon_or_the_barrier_touch_day():
    prices = make_prices({"AAA": [100.0, 100.0, 101.0, 99.0, 100.0, 100.0, 130.0, 131.0, 131.0, 131.0, 131.0]})
    fixed = holding_days(prices, LabelConfig(horizon=3, lag=1))
    np.testing.assert_array_equal(fixed, [3] * 7 + [-1] * 4)
    config = LabelConfig(horizon=3, lag=1, scheme="triple_barrier", vol_window=2)
    got = holding_days(prices, config)
    unit = horizon_sigma(prices, config)
    touch = first_touch(prices, horizon=3, lag=1, lower=-unit, upper=unit)["touch_day"].to_numpy()
    np.testing.assert_array_equal(got, touch)
    assert got[4] == 1  # row 4 enters at row 5's close; row 6's +30% jump touches the upper barrier next day
    assert got[6] == 3  # row 6 enters at 130 and the price barely moves: the vertical barrier
    assert (got[:2] == -1).all()  # no sigma yet: no label, no hold


# ---------------------------------------------------------------- cross_section


def _one_date(returns: dict[str, float], **options: object) -> pd.DataFrame:
    """Labels of a single decision date (lag 0, horizon 1) whose forward returns are ``returns``."""
    prices = canonicalize(make_prices({t: [100.0, 100.0 * (1 + r)] for t, r in returns.items()}))
    config = LabelConfig(scheme="cross_section", horizon=1, lag=0, **options)  # type: ignore[arg-type]
    lab = make_labels(prices, config)
    return lab[lab["date"] == lab["date"].min()].set_index("ticker")


def test_cross_section_terciles_of_six_and_five_tickers():
    six = _one_date({"A": 0.03, "B": -0.02, "C": 0.01, "D": 0.0, "E": -0.05, "F": 0.02})
    assert six["label"].to_dict() == {"A": 2, "B": 0, "C": 1, "D": 1, "E": 0, "F": 2}
    five = _one_date({"A": 0.03, "B": -0.02, "C": 0.01, "D": 0.0, "E": -0.05})
    assert five["label"].to_dict() == {"A": 2, "B": 0, "C": 2, "D": 1, "E": 0}
    assert (six["label_end"] == six["label_end"].iloc[0]).all()
    assert six["lower"].isna().all()  # the quantile split cuts ranks, not returns


def test_cross_section_ties_share_a_class_whatever_the_order():
    returns = {"A": 0.01, "B": 0.01, "C": 0.02, "D": -0.01, "E": 0.0, "F": 0.01, "G": -0.03}
    got = _one_date(returns)["label"]
    # ranks: G1 D2 E3 {A,B,F}5 C7 -> q = .07 .21 .36 .64 .64 .64 .93
    assert got.to_dict() == {"A": 1, "B": 1, "C": 2, "D": 0, "E": 1, "F": 1, "G": 0}
    renamed = _one_date({f"Z{9 - i}": r for i, r in enumerate(returns.values())})["label"]
    assert sorted(renamed.to_numpy()) == sorted(got.to_numpy())
    assert renamed["Z9"] == got["A"]
    assert renamed["Z3"] == got["G"]


def test_cross_section_median_band():
    returns = {"A": 0.03, "B": -0.02, "C": 0.012, "D": 0.0, "E": -0.05, "F": 0.008}  # median 0.004
    got = _one_date(returns, cs_split="median_band", cs_band=0.005)
    assert got["label"].to_dict() == {"A": 2, "B": 0, "C": 2, "D": 1, "E": 0, "F": 1}
    np.testing.assert_allclose(got["lower"], 0.004 - 0.005, atol=1e-12)
    np.testing.assert_allclose(got["upper"], 0.004 + 0.005, atol=1e-12)
    plain = _one_date({"A": 0.01, "B": 0.02, "C": 0.03, "D": 0.04, "E": 0.05}, cs_split="median_band")
    assert plain["label"].to_dict() == {"A": 0, "B": 0, "C": 1, "D": 2, "E": 2}  # cs_band 0: only the median is flat


def test_cross_section_terciles_are_a_third_each_on_a_big_cross_section():
    rng = np.random.default_rng(5)
    paths = {f"T{i:03d}": list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 12)))) for i in range(300)}
    lab = make_labels(canonicalize(make_prices(paths)), LabelConfig(scheme="cross_section", horizon=2))
    labelled = lab[lab["label"] >= 0]
    assert labelled["date"].nunique() == 12 - 3
    for _, day in labelled.groupby("date"):
        assert np.bincount(day["label"], minlength=3).tolist() == [100, 100, 100]


def test_cross_section_thin_dates_are_skipped_with_one_warning():
    from features.labels import ThinCrossSectionWarning

    rng = np.random.default_rng(1)
    full = {f"T{i}": list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 20)))) for i in range(4)}
    late = list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 14))))
    prices = canonicalize(pd.concat([make_prices(full), make_prices({"T4": late}, start="2020-01-09")]))
    config = LabelConfig(scheme="cross_section", horizon=2, lag=1, cs_min_tickers=5)
    with pytest.warns(ThinCrossSectionWarning, match="6 of 17 dates have fewer than cs_min_tickers=5") as seen:
        lab = make_labels(prices, config)
    assert len(seen) == 1
    dates = pd.bdate_range("2020-01-01", periods=20)
    thin = lab["date"] < dates[6]  # T4 starts on the 7th business day
    assert (lab.loc[thin, "label"] == UNLABELED).all()
    assert lab.loc[thin, "label_end"].isna().all()
    assert lab.loc[thin, "forward_return"].isna().all()
    full_days = lab[~thin & (lab["date"] <= dates[-4])]
    assert len(full_days) == 5 * 11
    assert (full_days["label"] >= 0).all()
    # no thin date, no warning (pytest turns warnings into errors)
    assert (make_labels(prices, config.model_copy(update={"cs_min_tickers": 4}))["label"] >= 0).sum() == 4 * 17 + 11


def test_cross_section_label_end_is_the_latest_window_of_its_date():
    prices = canonicalize(make_prices({t: [100.0, 101.0, 102.0, 99.0, 98.0, 100.0] for t in "ABCDE"}))
    prices = prices.drop(index=prices.index[(prices["ticker"] == "E") & (prices["date"] == prices["date"].iloc[2])])
    prices = prices.reset_index(drop=True)  # E misses day 2 (a one-day hole, not a gap)
    fwd = forward_returns(prices, horizon=2, lag=1)
    lab = make_labels(prices, LabelConfig(scheme="cross_section", horizon=2, lag=1, cs_min_tickers=4))
    day0 = lab["date"] == lab["date"].min()
    assert lab.loc[day0, "label_end"].nunique() == 1
    assert lab.loc[day0, "label_end"].iloc[0] == fwd.loc[day0, "label_end"].max() > fwd.loc[day0, "label_end"].min()


def _cs_prices(n: int, seed: int, tickers: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    paths = {f"T{i}": list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))) for i in range(tickers)}
    return canonicalize(make_prices(paths))


@settings(max_examples=25, deadline=None)
@given(st.integers(12, 30), st.integers(2, 28), st.sampled_from(["quantiles", "median_band"]), st.integers(0, 2**16))
def test_cross_section_labels_ignore_prices_after_their_label_end(n, cut, split, seed):
    """No look-ahead: changing every price after day ``cut`` changes no label whose label_end is <= that day."""
    prices = _cs_prices(n, seed)
    cut_date = pd.bdate_range("2020-01-01", periods=n)[min(cut, n - 1)]
    later = prices["date"] > cut_date
    factor = np.random.default_rng(seed + 1).uniform(0.8, 1.25, len(prices))
    changed = prices.copy()
    for col in ("open", "high", "low", "close", "adj_close"):
        changed.loc[later, col] = prices.loc[later, col] * factor[later]
    config = LabelConfig(scheme="cross_section", horizon=2, lag=1, cs_split=split, cs_band=0.002)
    before, after = make_labels(prices, config), make_labels(changed, config)
    settled = before["label_end"] <= cut_date
    pd.testing.assert_frame_equal(before[settled], after[settled], check_exact=True)
    assert (after.loc[~settled, "label_end"].isna() | (after.loc[~settled, "label_end"] > cut_date)).all()
