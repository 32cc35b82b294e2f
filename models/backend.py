"""The few places where the Keras backend matters: seeding and deterministic ops."""

from __future__ import annotations

import keras


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend, and ask the backend for deterministic ops.

    With the same seed and data, training on CPU then gives the same weights and predictions.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
