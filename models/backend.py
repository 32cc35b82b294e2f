"""The few places where the Keras backend matters: seeding and deterministic ops."""

from __future__ import annotations

import logging

import keras


class _DropRetracingNotice(logging.Filter):
    """TensorFlow warns about tf.function retracing once a process has built several models.

    A walk-forward run builds one fresh model per block on purpose, so the warning is expected
    and says nothing actionable; every other TensorFlow message passes through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_DropRetracingNotice())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend, and ask the backend for deterministic ops.

    With the same seed and data, training on CPU then gives the same weights and predictions.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
