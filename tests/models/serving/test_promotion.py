import numpy as np
import pandas as pd
import pytest

from features.dataset import DatasetConfig
from features.labels import LabelConfig
from features.prices.sources.synthetic import SyntheticMarket
from models.learn.config import ModelConfig
from models.serving.promotion import VALIDATION_FALLBACK, decide_promotion, promotion_samples
from models.serving.registry import load_model, save_model, set_champion
from models.serving.scoring import score_keys, train_production_model
from tests.support import TINY_TRAIN

PRICES = SyntheticMarket(tickers=3, days=320, seed=9, signal=1.0).fetch()
CFG = DatasetConfig(timesteps=8)


def _train(units: tuple[int, ...], epochs: int, cfg: DatasetConfig = CFG):
    train = TINY_TRAIN.model_copy(update={"epochs": epochs})
    return train_production_model(PRICES, cfg, ModelConfig(units=units, dropout=0.0), train, verbose=0)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("promo")
    fitted, meta = _train((8,), 4)
    model_id = save_model(root, fitted, meta)
    set_champion(root, model_id, reason="first")
    return root, model_id


def test_first_model_is_promoted(tmp_path):
    fitted, meta = _train((4,), 1)
    d = decide_promotion(tmp_path, PRICES, meta, fitted.val_keys_, fitted.val_labels_, fitted.val_probs_)
    assert d.promote
    assert d.reason == "no champion yet"


def test_worse_candidate_is_not_promoted_and_numbers_are_reported(registry):
    root, champion = registry
    fitted, meta = _train((8,), 4)
    uniform = np.full_like(fitted.val_probs_, 1 / 3)  # a candidate that knows nothing
    d = decide_promotion(root, PRICES, meta, fitted.val_keys_, fitted.val_labels_, uniform)
    assert d.champion_id == champion
    assert d.n_compared == len(fitted.val_labels_)
    assert d.candidate_log_loss == pytest.approx(np.log(3))
    assert d.promote is (d.candidate_log_loss < d.champion_log_loss)
    assert f"{d.candidate_log_loss:.5f}" in d.reason
    assert f"{d.champion_log_loss:.5f}" in d.reason
    forced = decide_promotion(root, PRICES, meta, fitted.val_keys_, fitted.val_labels_, uniform, force=True)
    assert forced.promote


def test_a_tie_keeps_the_champion(registry):
    root, champion = registry
    fitted, meta = _train((4,), 1)
    same = score_keys(load_model(root, champion), PRICES, fitted.val_keys_)  # the champion's own forecasts
    assert len(same) == len(fitted.val_keys_)
    probs = same.loc[:, ["p_down", "p_flat", "p_up"]].to_numpy()
    d = decide_promotion(root, PRICES, meta, fitted.val_keys_, fitted.val_labels_, probs)
    assert d.candidate_log_loss == pytest.approx(d.champion_log_loss, abs=1e-12)
    assert not d.promote


def test_models_with_different_labels_are_not_compared(registry):
    root, _ = registry
    other = DatasetConfig(timesteps=8, label=LabelConfig(horizon=10))
    fitted, meta = _train((4,), 1, other)
    d = decide_promotion(root, PRICES, meta, fitted.val_keys_, fitted.val_labels_, fitted.val_probs_)
    assert not d.promote
    assert "not comparable" in d.reason


def test_promotion_judges_on_the_holdout_that_no_fit_step_saw(registry):
    root, _ = registry
    fitted, meta = _train((4,), 1)
    keys, labels, probs, on = promotion_samples(fitted)
    assert on == "holdout"
    assert keys["date"].min() > fitted.val_keys_["date"].max()  # after the validation slice
    purged = pd.DatetimeIndex(fitted.val_keys_["date"]).max()
    assert meta["holdout"]["start"] > str(purged.date())
    assert meta["holdout"]["n"] == len(labels) == len(fitted.holdout_rows_)
    d = decide_promotion(root, PRICES, meta, keys, labels, probs, on=on)
    assert d.reason.startswith("holdout log-loss")
    none = TINY_TRAIN.model_copy(update={"epochs": 1, "holdout_fraction": 0.0})
    old_style, old_meta = train_production_model(PRICES, CFG, ModelConfig(units=(4,), dropout=0.0), none, verbose=0)
    assert old_meta["holdout"] is None
    assert promotion_samples(old_style)[3] == VALIDATION_FALLBACK
