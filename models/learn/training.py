"""How an LSTM classifier is fitted on the training rows of a panel (:class:`models.learn.classifier.LSTMClassifier`).

What "training rows only" means here:

* the samples passed in are already purged against the test period (:mod:`features.split`);
* the last ``val_fraction`` of their dates form a chronological validation slice, and the
  samples before it are purged again so no fit label reaches into the validation slice;
* the scaler is fitted on feature rows dated up to the last fit sample;
* class weights come from the fit labels.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from features.dataset import Panel
from features.scaling import FeatureScaler
from features.split import purged_train_mask
from models.learn.config import TrainConfig


def chronological_validation(
    panel: Panel, rows: np.ndarray, *, val_fraction: float, embargo: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample rows into (fit, validation) by date, purging fit labels that reach validation.

    Raises:
        ValueError: when either part would be empty.
    """
    dates = pd.DatetimeIndex(panel.dates[rows])
    days = pd.DatetimeIndex(np.unique(dates))
    if len(days) < 4:
        raise ValueError(f"need training samples on at least 4 dates, got {len(days)}")
    val_start = days[min(len(days) - 1, int(np.floor(len(days) * (1 - val_fraction))))]
    val = rows[dates >= val_start]
    before = rows[dates < val_start]
    fit = before[purged_train_mask(panel.label_end[before], panel.calendar, val_start, embargo=embargo)]
    if len(fit) == 0 or len(val) == 0:
        raise ValueError(
            f"not enough training data: {len(fit)} fit and {len(val)} validation samples "
            f"(val_fraction={val_fraction}, embargo={embargo}); widen the date range"
        )
    return fit, val


def balanced_class_weight(labels: np.ndarray, n_classes: int = 3) -> dict[int, float]:
    """``n / (n_classes * count_k)`` per class; classes absent from ``labels`` get 1.0."""
    counts = np.bincount(np.asarray(labels, dtype="int64"), minlength=n_classes)
    n = counts.sum()
    return {k: float(n / (n_classes * c)) if c else 1.0 for k, c in enumerate(counts)}


def normalised_data(panel: Panel, scaler: FeatureScaler) -> np.ndarray:
    """All panel rows normalised to float32; unusable (NaN) entries become 0 and are never windowed."""
    return np.nan_to_num(scaler.transform(panel.X), nan=0.0, copy=False)


def schedule_callbacks(config: TrainConfig, learning_rate: float) -> list[keras.callbacks.Callback]:
    """The learning-rate callbacks of ``config.lr_schedule`` (none for ``constant``)."""
    if config.lr_schedule == "plateau":
        return [
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=learning_rate / 64)
        ]
    if config.lr_schedule == "cosine":
        epochs = config.epochs

        def cosine(epoch: int, lr: float) -> float:
            return float(learning_rate * 0.5 * (1 + np.cos(np.pi * epoch / epochs)))

        return [keras.callbacks.LearningRateScheduler(cosine)]
    return []
