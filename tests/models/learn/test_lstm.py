import keras
import numpy as np
import pytest

from models.learn.config import ARCHITECTURES, ModelConfig
from models.learn.lstm import build_from_config, build_lstm_classifier


def _layer_kinds(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_stacked_default_is_the_seed_architecture():
    model = build_lstm_classifier(60, 8)
    assert _layer_kinds(model) == ["LSTM", "Dropout", "LSTM", "Dropout", "Dense"]
    assert [model.layers[0].units, model.layers[2].units] == [128, 64]
    assert model.layers[0].return_sequences
    assert not model.layers[2].return_sequences
    assert model.layers[1].rate == 0.2
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.input_shape == (None, 60, 8)
    assert model.output_shape == (None, 3)
    assert model.loss == "categorical_crossentropy"
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_presets_match_the_seed_article():
    single = build_from_config(10, 3, ARCHITECTURES["single"])
    assert _layer_kinds(single) == ["LSTM", "Dense"]
    assert single.layers[0].units == 64
    bi = build_from_config(10, 3, ARCHITECTURES["bidirectional"])
    assert _layer_kinds(bi) == ["Bidirectional", "Bidirectional", "Dense"]
    assert [layer.forward_layer.units for layer in bi.layers[:2]] == [64, 32]
    assert isinstance(bi.optimizer, keras.optimizers.RMSprop)


def test_outputs_are_probabilities():
    keras.utils.set_random_seed(0)
    model = build_lstm_classifier(5, 2, units=(4,), dropout=0.0)
    probs = model.predict(np.random.default_rng(0).normal(size=(7, 5, 2)).astype("float32"), verbose=0)
    assert probs.shape == (7, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (probs > 0).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"units": ()}, "units"), ({"dropout": 1.0}, "dropout"), ({"optimizer": "sgd"}, "optimizer")],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_lstm_classifier(5, 2, **kwargs)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="learning_rate"):
        ModelConfig(learning_rate=0)
