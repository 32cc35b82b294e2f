"""Production training (metadata for the registry) and scoring new days with a fitted classifier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.dataset import DatasetConfig, build_panel
from features.prices.sources.synthetic import SyntheticMarket
from models.evaluation.metrics import classification_metrics
from models.serving.scoring import score, score_keys, train_production_model, universe_warning
from models.versions import library_versions
from tests.support import TINY_MODEL, TINY_TRAIN

PRICES = SyntheticMarket(tickers=3, days=260, seed=6, signal=0.5).fetch()
CFG = DatasetConfig(timesteps=8)
TRAIN_UNTIL = "2010-09-30"


@pytest.fixture(scope="module")
def trained():
    prices = PRICES[PRICES["date"] <= TRAIN_UNTIL].reset_index(drop=True)
    calibrated = TINY_TRAIN.model_copy(update={"calibrate": True})
    fitted, meta = train_production_model(prices, CFG, TINY_MODEL, calibrated, verbose=0)
    fitted.model_id_ = "m1"
    return fitted, meta


def test_metadata_describes_the_training_data_and_the_validation(trained):
    fitted, meta = trained
    assert meta["tickers"] == ["SYN00", "SYN01", "SYN02"]
    assert meta["data_end"] <= TRAIN_UNTIL
    assert meta["fit"] == fitted.fit_summary_
    assert meta["validation"] == classification_metrics(fitted.val_labels_, fitted.val_probs_)
    raw = classification_metrics(fitted.val_labels_, fitted.raw_val_probs_)["log_loss"]
    assert meta["calibration"] == {**fitted.card()["calibration"], "uncalibrated_val_log_loss": raw}
    assert meta["calibration"]["method"] == "temperature"
    assert {k: meta[k] for k in ("architecture", "dataset", "training", "scaler")} == {
        k: fitted.card()[k] for k in ("architecture", "dataset", "training", "scaler")
    }
    assert meta["validation"]["log_loss"] <= raw + 1e-9  # the temperature was fitted to lower exactly this
    assert fitted.temperature_ != 1.0
    assert meta["versions"]["numpy"] == np.__version__


def test_score_predicts_every_ticker_with_a_full_window_using_only_the_past(trained):
    fitted, _ = trained
    as_of = pd.Timestamp("2010-11-15")
    frame = score(fitted, PRICES[PRICES["date"] <= as_of], as_of)
    assert list(frame["ticker"]) == ["SYN00", "SYN01", "SYN02"]
    assert (frame["date"] == as_of).all()
    assert set(frame["model_id"]) == {"m1"}
    assert (frame["horizon"] == 5).all()
    # prices after as_of change nothing
    later = score(fitted, PRICES, as_of)
    pd.testing.assert_frame_equal(frame, later, check_exact=True)
    # the same numbers the estimator gives on the panel's rows
    panel = build_panel(PRICES[PRICES["date"] <= as_of].reset_index(drop=True), CFG)
    rows = np.flatnonzero((panel.keys["date"] == as_of).to_numpy())
    np.testing.assert_array_equal(frame[["p_down", "p_flat", "p_up"]].to_numpy(), fitted.predict_proba(panel, rows))


def test_score_keys_skips_keys_without_a_full_window(trained):
    fitted, _ = trained
    first = PRICES["date"].min()
    keys = pd.DataFrame({"date": [first, pd.Timestamp("2010-11-15")], "ticker": ["SYN00", "SYN01"]})
    frame = score_keys(fitted, PRICES, keys)
    assert list(zip(frame["date"], frame["ticker"], strict=True)) == [(pd.Timestamp("2010-11-15"), "SYN01")]


def test_library_versions_names_missing_libraries():
    versions = library_versions(("numpy", "no-such-library-here"))
    assert versions == {"numpy": np.__version__, "no-such-library-here": "not installed"}


def test_cross_sectional_model_windows_are_the_same_at_training_and_scoring(tmp_path, monkeypatch):
    """alpha360 levels + cs_norm + cross_section labels: the windows a saved model scores are those it trained on."""
    import models.learn.classifier as classifier_module
    from features.labels import LabelConfig
    from models.learn.batches import WindowBatches
    from models.learn.classifier import LSTMClassifier

    fed: list[WindowBatches] = []

    class Recording(WindowBatches):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            fed.append(self)

    monkeypatch.setattr(classifier_module, "WindowBatches", Recording)
    prices = SyntheticMarket(tickers=6, days=160, seed=4, signal=0.5).fetch()
    dataset = DatasetConfig(
        features=("alpha360", "ret_5"), timesteps=8, cs_norm="rank", label=LabelConfig(scheme="cross_section")
    )
    training = TINY_TRAIN.model_copy(update={"epochs": 1})
    fitted, meta = train_production_model(prices, dataset, TINY_MODEL, training, verbose=0)
    assert fitted.card()["window"]["relative_to_last"] == [
        ["rel_close", "rel_close"], ["rel_open", "rel_close"], ["rel_high", "rel_close"], ["rel_low", "rel_close"],
        ["rel_vwap", "rel_close"], ["rel_volume", "rel_volume"],
    ]  # fmt: skip
    fit_windows = fed[0].windows  # what training read its batches from
    trained = fit_windows.take(np.arange(len(fit_windows)))
    folder = fitted.save(tmp_path / "m", metadata=meta)
    loaded = LSTMClassifier.load(folder)
    assert loaded.relative_ == fitted.relative_ == dataset.relative_columns
    full = build_panel(prices, dataset)
    keys = full.keys.iloc[fit_windows.ends[-12:]]
    as_of = keys["date"].max()
    scoring = build_panel(prices[prices["date"] <= as_of].reset_index(drop=True), dataset)  # as score_keys does
    have = pd.MultiIndex.from_frame(scoring.keys)
    rows = have.get_indexer(pd.MultiIndex.from_frame(keys))
    scored = loaded.windows(scoring, rows).take(np.arange(len(rows)))
    np.testing.assert_array_equal(scored, trained[-12:])
    np.testing.assert_array_equal(scored[:, -1, [0, 5]], 0.0)  # close and volume end at log(1) = 0
    assert np.abs(scored[:, :, :5]).max() < 1.0  # log ratios, not log levels (~4.6)
    got = score_keys(loaded, prices, keys)
    np.testing.assert_allclose(
        got[["p_down", "p_flat", "p_up"]].to_numpy(), fitted.predict_proba(full, fit_windows.ends[-12:]), atol=1e-6
    )


def test_a_model_trained_on_close_only_prices_stores_and_scores_with_the_adapted_features(caplog):
    prices = PRICES[PRICES["date"] <= TRAIN_UNTIL].reset_index(drop=True)
    prices[["open", "high", "low", "volume"]] = np.nan
    with caplog.at_level("WARNING", logger="features.indicators"):
        fitted, meta = train_production_model(prices, CFG, TINY_MODEL, TINY_TRAIN, verbose=0)
    dropped = {"atr_14", "dvol_chg_5", "vol_gk_20", "volume_z_20"}
    kept = [n for n in CFG.features if n not in dropped]
    assert [r.getMessage().count("drops") for r in caplog.records] == [1]
    assert meta["dataset"]["features"] == kept
    assert meta["scaler"]["feature_names"] == kept
    fitted.model_id_ = "close-only"
    as_of = pd.Timestamp(TRAIN_UNTIL)
    frame = score(fitted, prices, as_of)
    assert list(frame["ticker"]) == ["SYN00", "SYN01", "SYN02"]
    assert np.isfinite(frame[["p_down", "p_flat", "p_up"]].to_numpy()).all()


def test_scoring_another_universe_with_cross_sectional_inputs_is_warned_of():
    trained_on = ["A", "B", "C"]
    per_ticker = DatasetConfig(features=("ret_5", "vol_20"))
    assert universe_warning(per_ticker, trained_on, ["A", "D"]) is None  # inputs of one ticker: no change
    ranked = DatasetConfig(features=("ret_5", "vol_20"), cs_norm="rank")
    assert universe_warning(ranked, trained_on, ["C", "B", "A"]) is None  # the same set, any order
    warning = universe_warning(ranked, trained_on, ["A", "B", "D"])
    assert warning is not None
    assert "cs_norm=rank" in warning
    assert "training universe of 3 tickers" in warning
    assert "1 new (D); 1 left out (C)" in warning
    xs = universe_warning(DatasetConfig(features=("ret_5", "xs_ret_5")), trained_on, ["A"])
    assert xs is not None
    assert "cross-sectional features xs_ret_5" in xs
    assert "2 left out (B, C)" in xs
