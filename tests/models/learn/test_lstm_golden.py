"""Golden outputs: each architecture with constant weights equals a NumPy re-implementation.

Keras's LSTM gate order is (input, forget, cell, output); kernels have shape (n_in, 4*units),
recurrent kernels (units, 4*units), bias (4*units,). Activation tanh, recurrent activation sigmoid.
"""

import numpy as np
import pytest

from models.learn.config import ARCHITECTURES
from models.learn.lstm import build_from_config

X = (np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3) / 30.0) - 0.4  # (batch, timesteps, features)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _lstm(x, kernel, recurrent, bias, *, return_sequences):
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros((x.shape[0], units))
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1) if return_sequences else h


def _set_constants(model):
    """Every weight tensor k gets the constant 0.05 * (k + 1) * (-1)**k."""
    values = []
    for k, w in enumerate(model.weights):
        arr = np.full(tuple(w.shape), 0.05 * (k + 1) * (-1) ** k, dtype="float32")
        w.assign(arr)
        values.append(arr.astype("float64"))
    return values


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("arch", ["single", "stacked"])
def test_unidirectional_matches_numpy(arch):
    model = build_from_config(5, 3, ARCHITECTURES[arch])
    w = _set_constants(model)
    h = X.astype("float64")
    n_lstm = len(ARCHITECTURES[arch].units)
    for layer in range(n_lstm):
        k, r, b = w[3 * layer : 3 * layer + 3]
        h = _lstm(h, k, r, b, return_sequences=layer < n_lstm - 1)
    expected = _softmax(h @ w[-2] + w[-1])
    got = model.predict(X, verbose=0)  # dropout is off at inference
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_bidirectional_matches_numpy():
    model = build_from_config(5, 3, ARCHITECTURES["bidirectional"])
    w = _set_constants(model)
    h = X.astype("float64")
    for layer in range(2):
        fk, fr, fb, bk, br, bb = w[6 * layer : 6 * layer + 6]
        seq = layer == 0
        fwd = _lstm(h, fk, fr, fb, return_sequences=seq)
        bwd = _lstm(h[:, ::-1], bk, br, bb, return_sequences=seq)
        h = np.concatenate([fwd, bwd[:, ::-1] if seq else bwd], axis=-1)
    expected = _softmax(h @ w[-2] + w[-1])
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_golden_values_survive_save_and_load(tmp_path):
    import keras

    model = build_from_config(5, 3, ARCHITECTURES["stacked"])
    _set_constants(model)
    before = model.predict(X, verbose=0)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True, compile=False)  # as the registry loads
    np.testing.assert_array_equal(again.predict(X, verbose=0), before)
