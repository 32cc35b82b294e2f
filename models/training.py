"""Fit an LSTM classifier on the training rows of a panel.

What "training rows only" means here:

* the samples passed in are already purged against the test period (:mod:`features.split`);
* the last ``val_fraction`` of their dates form a chronological validation slice, and the
  samples before it are purged again so no fit label reaches into the validation slice;
* the scaler is fitted on feature rows dated up to the last fit sample;
* class weights come from the fit labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from features.dataset import Panel
from features.labels import class_balance
from features.scaling import FeatureScaler
from features.split import purged_train_mask
from features.windows import WindowSet
from models.backend import seed_everything
from models.calibration import apply_temperature, fit_temperature, undo_class_weights
from models.config import TrainConfig
from models.data import WindowBatches
from models.lstm import ModelConfig, build_from_config


@dataclass
class FittedModel:
    """A trained model and everything needed to use it on new rows."""

    model: keras.Model
    scaler: FeatureScaler
    fit_rows: np.ndarray
    val_rows: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    val_probs: np.ndarray | None = None
    raw_val_probs: np.ndarray | None = None
    temperature: float = 1.0
    class_weights: np.ndarray | None = None

    val_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    val_keys: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"date": [], "ticker": []}))

    @property
    def best_epoch(self) -> int:
        losses = self.history.get("val_loss", [])
        return int(np.argmin(losses)) + 1 if losses else 0


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


def fit_model(
    panel: Panel,
    rows: np.ndarray,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    embargo: int | None = None,
    initial_weights: str | Path | None = None,
) -> FittedModel:
    """Train a fresh classifier on the given (already purged) sample rows of ``panel``.

    Args:
        panel: The universe's features and labels.
        rows: Positions of labeled samples usable for training.
        model_config: Architecture and optimiser.
        train_config: Epochs, batch size, validation share, seed.
        callbacks: Extra Keras callbacks (e.g. a logger).
        verbose: Keras verbosity ("auto" shows a progress bar in a terminal).
        embargo: trading days between the fit slice's last label and the validation slice
            (None = the label horizon).
        initial_weights: a ``.keras`` file of the same architecture to start from (warm start);
            None starts from fresh random weights.
    """
    embargo = panel.config.label.horizon if embargo is None else embargo
    fit_rows, val_rows = chronological_validation(panel, rows, val_fraction=train_config.val_fraction, embargo=embargo)
    last_fit_date = panel.dates[fit_rows].max()
    scaler = FeatureScaler().fit(panel.X, panel.config.features, rows=panel.dates <= last_fit_date)
    data = normalised_data(panel, scaler)
    t = panel.config.timesteps
    fit_windows = WindowSet(data, fit_rows, timesteps=t)
    val_windows = WindowSet(data, val_rows, timesteps=t)
    seed_everything(train_config.seed)
    model = build_from_config(t, data.shape[1], model_config, seed=train_config.seed)
    if initial_weights is not None:
        previous = keras.saving.load_model(initial_weights, safe_mode=True, compile=False)
        if [w.shape for w in previous.weights] != [w.shape for w in model.weights]:
            raise ValueError(f"initial_weights={initial_weights} has a different architecture; cannot warm start")
        model.set_weights(previous.get_weights())
    bs = train_config.batch_size
    weights = balanced_class_weight(panel.label[fit_rows]) if train_config.class_weight else None
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=train_config.patience, restore_best_weights=True)
    hist = model.fit(
        WindowBatches(fit_windows, panel.label[fit_rows], batch_size=bs, shuffle=True, seed=train_config.seed),
        # validation loss under the same class weights as training, so early stopping compares like with like
        validation_data=WindowBatches(
            val_windows,
            panel.label[val_rows],
            batch_size=bs,
            sample_weight=None if weights is None else np.array([weights[k] for k in panel.label[val_rows]]),
        ),
        epochs=train_config.epochs,
        # WindowBatches reshuffles the samples with its own seeded generator; Keras's shuffle of
        # a PyDataset's batch order would draw from the process-wide `random` module instead
        shuffle=False,
        class_weight=weights,
        callbacks=[stop, *_schedule_callbacks(train_config, model_config.learning_rate), *callbacks],
        verbose=verbose,
    )
    fitted = FittedModel(
        model=model,
        scaler=scaler,
        fit_rows=fit_rows,
        val_rows=val_rows,
        history={k: [float(v) for v in vals] for k, vals in hist.history.items()},
        val_labels=panel.label[val_rows].astype("int64"),
        val_keys=panel.keys.iloc[val_rows].reset_index(drop=True),
    )
    if weights is not None:
        fitted.class_weights = np.array([weights[k] for k in range(len(weights))])
    fitted.raw_val_probs = predict_proba(model, val_windows, batch_size=bs, class_weights=fitted.class_weights)
    if train_config.calibrate:
        fitted.temperature = fit_temperature(fitted.raw_val_probs, panel.label[val_rows])
    fitted.val_probs = apply_temperature(fitted.raw_val_probs, fitted.temperature)
    return fitted


def _schedule_callbacks(config: TrainConfig, learning_rate: float) -> list[keras.callbacks.Callback]:
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


def predict_proba(
    model: keras.Model,
    windows: WindowSet,
    *,
    batch_size: int = 1024,
    temperature: float = 1.0,
    class_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities, float64 (n_samples, n_classes), each row summing to 1.

    Every batch is padded to ``batch_size`` so the backend compiles the forward pass once.
    ``class_weights`` used in training are divided back out (:func:`models.calibration.undo_class_weights`),
    then ``temperature`` (from calibration) rescales the probabilities; 1.0 leaves them as they are.
    """
    n = len(windows)
    out = np.zeros((n, int(model.output_shape[-1])))
    for lo in range(0, n, batch_size):
        idx = np.arange(lo, min(lo + batch_size, n))
        x = windows.take(idx)
        if len(idx) < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - len(idx), *x.shape[1:]), dtype=x.dtype)])
        out[idx] = np.asarray(model.predict_on_batch(x), dtype="float64")[: len(idx)]
    if not n:
        return out
    out = undo_class_weights(out / out.sum(axis=1, keepdims=True), class_weights)
    return out if temperature == 1.0 else apply_temperature(out, temperature)


def describe_fit(panel: Panel, fitted: FittedModel) -> dict[str, Any]:
    """JSON-ready summary: sample counts, date ranges, class balance, epochs."""
    d_fit, d_val = panel.dates[fitted.fit_rows], panel.dates[fitted.val_rows]
    return {
        "n_fit": len(fitted.fit_rows),
        "n_val": len(fitted.val_rows),
        "fit_start": str(pd.Timestamp(d_fit.min()).date()),
        "fit_end": str(pd.Timestamp(d_fit.max()).date()),
        "val_start": str(pd.Timestamp(d_val.min()).date()),
        "val_end": str(pd.Timestamp(d_val.max()).date()),
        "fit_class_balance": class_balance(panel.label[fitted.fit_rows]),
        "epochs_run": len(fitted.history.get("loss", [])),
        "best_epoch": fitted.best_epoch,
        "temperature": fitted.temperature,
        "class_weights": None if fitted.class_weights is None else fitted.class_weights.tolist(),
    }
