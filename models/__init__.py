"""Keras models for down/flat/up classification: builders, training, walk-forward backtests,
evaluation, the model registry and the Parquet prediction reports.

Imports ``features`` (never ``flows``) and Keras 3 (never ``tf.keras``): the same model code runs
on the TensorFlow, JAX or PyTorch backend.

Importing this package is cheap (no Keras); it only arranges what must happen before TensorFlow
is first imported by any model code: quiet C++ logging unless ``TF_CPP_MIN_LOG_LEVEL`` says
otherwise, and curl_cffi loaded first (see :func:`models.learn.backend.prepare_tensorflow_import`).
"""

from models.learn.backend import prepare_tensorflow_import

prepare_tensorflow_import()
