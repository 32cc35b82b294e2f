"""LSTM classifiers from the seed article: softmax over 3 classes, categorical cross-entropy.

Three presets (:data:`ARCHITECTURES`), all built by :func:`build_lstm_classifier`:

* ``single``: LSTM(64) -> Dense(3, softmax)
* ``stacked`` (default): LSTM(128, return_sequences) -> Dropout(0.2) -> LSTM(64) -> Dropout(0.2)
  -> Dense(3, softmax)
* ``bidirectional``: Bi(LSTM(64, return_sequences)) -> Bi(LSTM(32)) -> Dense(3, softmax)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import keras

from models.learn.config import ARCHITECTURES, ModelConfig, OptimizerName

__all__ = ["ARCHITECTURES", "ModelConfig", "OptimizerName", "build_from_config", "build_lstm_classifier"]


def build_lstm_classifier(
    timesteps: int,
    n_features: int,
    *,
    units: Sequence[int] = (128, 64),
    dropout: float = 0.2,
    bidirectional: bool = False,
    n_classes: int = 3,
    optimizer: OptimizerName = "adam",
    learning_rate: float = 1e-3,
    unroll: bool = False,
    seed: int | None = None,
) -> keras.Model:
    """Build and compile a (stacked) LSTM classifier.

    Args:
        timesteps: rows per input window.
        n_features: features per row.
        units: units per LSTM layer; every layer but the last returns sequences.
        dropout: rate of the Dropout layer after each LSTM layer; 0 adds none.
        bidirectional: wrap each LSTM in ``keras.layers.Bidirectional``.
        n_classes: softmax outputs (3: down, flat, up).
        optimizer: ``"adam"`` or ``"rmsprop"``.
        learning_rate: optimiser learning rate.
        unroll: unroll each LSTM's loop over the timesteps into one flat graph instead of a
            symbolic loop (Keras's ``unroll``). Same function and the same initial weights, so the
            same forward pass to the bit; training rounds differently (gradients are summed in
            another order), so weights drift apart at float precision and results agree in
            distribution, not to the bit. Its speed and memory are in BENCHMARKS.md (``lstm``).
        seed: seeds every initializer and dropout layer explicitly (see :class:`_LayerSeeds`), so
            the initial weights and dropout masks depend on this number only, never on the
            process-wide Python random state that other threads (a Dask worker's, Prefect's) also
            draw from. None leaves Keras's defaults (seeded by ``keras.utils.set_random_seed``).

    Returns:
        A compiled ``keras.Model`` taking (batch, timesteps, n_features) float32 and returning
        (batch, n_classes) probabilities; loss categorical cross-entropy, metric accuracy.
    """
    for name, value in (("timesteps", timesteps), ("n_features", n_features), ("n_classes", n_classes)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {name}={value}")
    if not units or any(u < 1 for u in units):
        raise ValueError(f"units must be a non-empty list of positive ints, got units={units!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")
    seeds = _LayerSeeds(seed)
    layers: list[keras.layers.Layer] = [keras.Input(shape=(timesteps, n_features), name="window")]
    for i, size in enumerate(units):
        sequences = i < len(units) - 1
        lstm = keras.layers.LSTM(size, return_sequences=sequences, unroll=unroll, name=f"lstm_{i}", **seeds.lstm())
        if bidirectional:
            backward = keras.layers.LSTM(
                size,
                return_sequences=sequences,
                go_backwards=True,
                unroll=unroll,
                name=f"lstm_{i}_backward",
                **seeds.lstm(),
            )
            layers.append(keras.layers.Bidirectional(lstm, backward_layer=backward, name=f"bi_lstm_{i}"))
        else:
            layers.append(lstm)
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout_{i}", seed=seeds.draw()))
    layers.append(keras.layers.Dense(n_classes, activation="softmax", name="probs", **seeds.dense()))
    model = keras.Sequential(layers, name="lstm_classifier")
    model.compile(
        optimizer=_optimizer(optimizer, learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_from_config(timesteps: int, n_features: int, config: ModelConfig, seed: int | None = None) -> keras.Model:
    """:func:`build_lstm_classifier` with the settings of a :class:`ModelConfig`."""
    return build_lstm_classifier(timesteps, n_features, **config.model_dump(), seed=seed)


class _LayerSeeds:
    """Explicit per-layer seeds drawn from one number, or Keras's defaults when it is None.

    Keras draws the seed of an unseeded initializer or dropout layer from Python's global
    ``random`` module. That state is shared by every thread of the process, so a Dask worker's
    or Prefect's own threads drawing from it between ``set_random_seed`` and the model build
    changed the initial weights (measured: probabilities 0.007-0.25 apart for the same seed on a
    Dask worker). A private generator makes the weights a function of the seed alone.
    """

    def __init__(self, seed: int | None) -> None:
        self._rng = None if seed is None else random.Random(seed)

    def draw(self) -> int | None:
        return None if self._rng is None else self._rng.randrange(1, 2**31 - 1)

    def lstm(self) -> dict[str, Any]:
        if self._rng is None:
            return {}
        return {
            "kernel_initializer": keras.initializers.GlorotUniform(seed=self.draw()),
            "recurrent_initializer": keras.initializers.Orthogonal(seed=self.draw()),
            "seed": self.draw(),  # the layer's own (recurrent) dropout, unused at rate 0
        }

    def dense(self) -> dict[str, Any]:
        return {} if self._rng is None else {"kernel_initializer": keras.initializers.GlorotUniform(seed=self.draw())}


def _optimizer(name: str, learning_rate: float) -> Any:
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got optimizer={name!r}")
