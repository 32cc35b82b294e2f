import json
from pathlib import Path

import keras
import numpy as np
import pytest

from features.dataset import DatasetConfig
from features.labels import LabelConfig
from features.prices.sources.synthetic import SyntheticMarket
from models.serving.registry import RegistryError, champion_id, list_models, load_model, save_model, set_champion
from models.serving.scoring import score, train_production_model
from tests.support import TINY_MODEL, TINY_TRAIN


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    prices = SyntheticMarket(tickers=3, days=260, seed=4, signal=0.5).fetch()
    fitted, meta = train_production_model(prices, DatasetConfig(timesteps=8), TINY_MODEL, TINY_TRAIN, verbose=0)
    model_id = save_model(root, fitted, meta)
    return root, model_id, fitted, meta, prices


def test_metadata_describes_the_model(trained):
    root, model_id, _, _meta, _ = trained
    stored = json.loads((root / "models" / model_id / "metadata.json").read_text())
    assert stored["model_id"] == model_id
    assert stored["classes"] == ["down", "flat", "up"]
    assert stored["dataset"]["timesteps"] == 8
    assert stored["dataset"]["label"] == LabelConfig().model_dump(mode="json")
    assert stored["label_state"] == {"scheme": "fixed"}
    assert stored["tickers"] == ["SYN00", "SYN01", "SYN02"]
    assert stored["scaler"]["feature_names"] == list(stored["dataset"]["features"])
    assert 0 < stored["validation"]["log_loss"] < 5
    assert [m["model_id"] for m in list_models(root)] == [model_id]


def test_save_load_round_trip_predicts_identically(trained):
    root, model_id, fitted, _, prices = trained
    set_champion(root, model_id, reason="test")
    assert champion_id(root) == model_id
    loaded = load_model(root)
    as_of = prices["date"].max()
    a = score(loaded, prices, as_of)
    fitted.model_id_ = model_id  # the estimator as fitted, never saved or loaded
    b = score(fitted, prices, as_of)
    assert list(a["ticker"]) == ["SYN00", "SYN01", "SYN02"]
    np.testing.assert_array_equal(a[["p_down", "p_flat", "p_up"]], b[["p_down", "p_flat", "p_up"]])
    assert (a["date"] == as_of).all()


def _copy(trained, tmp_path: Path) -> tuple[Path, str]:
    import shutil

    root, model_id, *_ = trained
    shutil.copytree(root / "models", tmp_path / "models")
    return tmp_path, model_id


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.update(classes=["up", "flat", "down"]), "class order"),
        (lambda m: m["dataset"].update(features=["ret_1", "alien_feature"]), "alien_feature"),
        (lambda m: m.update(format_version=99), "format_version"),
        (lambda m: m["dataset"].update(timesteps=9), "does not match"),
    ],
)
def test_loader_rejects_tampered_metadata(trained, tmp_path, edit, match):
    root, model_id = _copy(trained, tmp_path)
    path = root / "models" / model_id / "metadata.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match=match):
        load_model(root, model_id)


def test_loader_names_a_corrupt_model_file(trained, tmp_path):
    root, model_id = _copy(trained, tmp_path)
    (root / "models" / model_id / "model.keras").write_bytes(b"garbage")
    with pytest.raises(RegistryError, match=r"model\.keras"):
        load_model(root, model_id)


def test_loader_refuses_a_lambda_layer(trained, tmp_path):
    root, model_id = _copy(trained, tmp_path)
    inputs = keras.Input(shape=(8, 8))
    x = keras.layers.Lambda(lambda t: t * 2)(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.LSTM(2)(x))
    keras.Model(inputs, outputs).save(root / "models" / model_id / "model.keras")
    with pytest.raises(RegistryError, match="cannot load model file"):
        load_model(root, model_id)


def test_no_champion_and_bad_ids_are_clear(tmp_path):
    with pytest.raises(RegistryError, match="run `updown train` first"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="model_id"):
        load_model(tmp_path, "../escape")
