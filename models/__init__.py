"""Keras models for down/flat/up classification: builders, training, walk-forward backtests,
evaluation, the model registry and the Parquet prediction reports.

Imports ``features`` (never ``flows``) and Keras 3 (never ``tf.keras``): the same model code runs
on the TensorFlow, JAX or PyTorch backend.
"""
