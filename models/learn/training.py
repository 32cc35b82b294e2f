"""How an LSTM classifier is fitted on the training rows of a panel (:class:`models.learn.classifier.LSTMClassifier`).

What "training rows only" means here:

* the samples passed in are already purged against the test period (:mod:`features.split`);
* the last ``val_fraction`` of their dates form a chronological validation slice, and the
  samples before it are purged again so no fit label reaches into the validation slice;
* the scaler is fitted on feature rows dated up to the last fit sample;
* class weights come from the fit labels;
* with ``sample_weights="uniqueness"``, each fit sample is weighted by its average uniqueness among
  the fit samples (:func:`uniqueness_weights`), so overlapping labels count once between them.

Promotion and the live scorecard need a slice that neither early stopping nor the temperature saw:
:func:`chronological_holdout` cuts it off the end of the training rows before any of this
(:func:`models.serving.scoring.train_production_model`).
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from features.dataset import Panel
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


def chronological_holdout(
    panel: Panel, rows: np.ndarray, *, holdout_fraction: float, embargo: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample rows into (training, holdout): the last ``holdout_fraction`` of their dates held out.

    The training part is purged and embargoed against the holdout exactly as the fit slice is
    against the validation slice (:func:`chronological_validation`), so the holdout is a third,
    later slice that no fit, early stopping or calibration touches. ``holdout_fraction=0`` holds
    nothing out: (``rows``, empty).

    Raises:
        ValueError: when ``holdout_fraction`` is outside [0, 0.5) or a part would be empty.
    """
    if not 0 <= holdout_fraction < 0.5:
        raise ValueError(f"holdout_fraction must be in [0, 0.5), got holdout_fraction={holdout_fraction}")
    if holdout_fraction == 0:
        return np.asarray(rows), np.zeros(0, dtype="int64")
    return chronological_validation(panel, rows, val_fraction=holdout_fraction, embargo=embargo)


def average_uniqueness(rows: np.ndarray, *, lag: int, horizon: int) -> np.ndarray:
    """López de Prado's average uniqueness of each sample's label among the given samples (AFML 4.4).

    The label of the sample at panel row ``i`` spans the price rows ``i+lag .. i+lag+horizon`` of its
    ticker (entry close to exit close, inclusive, as AFML's ``t_in .. t_out``). The concurrency
    ``c_j`` of price row ``j`` is the number of the given samples whose span contains ``j``;
    the sample's average uniqueness is the mean of ``1 / c_j`` over its span::

        u_i = (1 / (horizon + 1)) * sum_{j = i+lag}^{i+lag+horizon} 1 / c_j

    Rows are panel rows (sorted by ticker, then date), and a labeled window never leaves its ticker's
    segment, so row arithmetic counts per ticker. Only the given rows count: fit on training rows,
    the weights never see a test label.

    Args:
        rows: int (n,), panel rows of labeled samples.
        lag: execution lag in trading days (>= 0).
        horizon: label horizon in trading days (>= 1).

    Returns:
        float64 (n,), each in (0, 1]: 1 for a sample that overlaps no other.
    """
    if horizon < 1 or lag < 0:
        raise ValueError(f"horizon must be >= 1 and lag >= 0, got horizon={horizon}, lag={lag}")
    r = np.asarray(rows, dtype="int64")
    if len(r) == 0:
        return np.zeros(0)
    start = r - r.min() + lag  # shifted so the counts array starts at the first span
    size = int(start.max()) + horizon + 2
    steps = np.zeros(size)
    np.add.at(steps, start, 1.0)
    np.add.at(steps, start + horizon + 1, -1.0)
    concurrency = np.cumsum(steps)[:-1]
    inverse = np.where(concurrency > 0, 1.0 / np.maximum(concurrency, 1.0), 0.0)
    cumulative = np.r_[0.0, np.cumsum(inverse)]
    return np.asarray((cumulative[start + horizon + 1] - cumulative[start]) / (horizon + 1))


def uniqueness_weights(rows: np.ndarray, *, lag: int, horizon: int) -> np.ndarray:
    """:func:`average_uniqueness` normalised to mean 1 (so the loss keeps its scale), float64 (n,)."""
    u = average_uniqueness(rows, lag=lag, horizon=horizon)
    return u / u.mean() if len(u) else u


def sample_weights_of(panel: Panel, rows: np.ndarray, config: TrainConfig) -> np.ndarray | None:
    """The per-sample weights ``config.sample_weights`` asks for, on ``rows`` of ``panel`` (None = unweighted)."""
    if config.sample_weights == "none":
        return None
    label = panel.config.label
    return uniqueness_weights(rows, lag=label.lag, horizon=label.horizon)


def balanced_class_weight(labels: np.ndarray, n_classes: int = 3) -> dict[int, float]:
    """``n / (n_classes * count_k)`` per class; classes absent from ``labels`` get 1.0."""
    counts = np.bincount(np.asarray(labels, dtype="int64"), minlength=n_classes)
    n = counts.sum()
    return {k: float(n / (n_classes * c)) if c else 1.0 for k, c in enumerate(counts)}


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
