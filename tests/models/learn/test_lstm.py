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


def test_unrolled_model_has_the_loop_models_weights_and_forward_pass():
    x = np.random.default_rng(1).normal(size=(6, 5, 3)).astype("float32")
    loop = build_lstm_classifier(5, 3, units=(6, 4), seed=3)
    unrolled = build_lstm_classifier(5, 3, units=(6, 4), unroll=True, seed=3)
    bi = build_from_config(5, 3, ModelConfig(units=(4,), bidirectional=True, unroll=True), seed=3)

    assert [layer.unroll for layer in unrolled.layers if isinstance(layer, keras.layers.LSTM)] == [True, True]
    assert not any(layer.unroll for layer in loop.layers if isinstance(layer, keras.layers.LSTM))
    assert bi.layers[0].forward_layer.unroll
    assert bi.layers[0].backward_layer.unroll
    for a, b in zip(loop.get_weights(), unrolled.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loop.predict(x, verbose=0), unrolled.predict(x, verbose=0))


def test_unroll_is_left_out_of_dumps_at_its_default():
    assert "unroll" not in ModelConfig().model_dump()
    assert ModelConfig(unroll=True).model_dump()["unroll"] is True
    assert ModelConfig.model_validate(ModelConfig(unroll=True).model_dump()).unroll
