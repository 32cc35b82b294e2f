"""The LSTM classifier as one estimator: settings in, ``fit`` learns, ``predict_proba`` predicts.

:class:`LSTMClassifier` follows scikit-learn's contract: ``__init__`` stores the dataset, model and
training configs and nothing else; :meth:`~LSTMClassifier.fit` returns ``self`` and leaves the learned
state in attributes ending in ``_`` (the network ``model_``, the feature scaler ``scaler_``, the class
weights ``class_weights_`` divided back out of every prediction, the calibration ``temperature_``, the
validation slice and its predictions); :meth:`~LSTMClassifier.predict_proba` applies the prior shift
and the temperature itself and refuses to run unfitted. :meth:`~LSTMClassifier.save` writes one
``model.keras`` and one JSON card (``metadata.json``) into a folder, the layout of the model registry
(:mod:`models.serving.registry`); :meth:`~LSTMClassifier.load` reads them back. No pickle anywhere.

What "training rows only" means is in :mod:`models.learn.training`.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from pydantic import ValidationError

from features.dataset import DatasetConfig, Panel
from features.labels import CLASSES, class_balance
from features.scaling import FeatureScaler
from features.storage.atomic import write_json
from features.storage.layout import CARD_FILE, MODEL_FILE
from features.windows import WindowSet
from models.learn.backend import seed_everything
from models.learn.batches import WindowBatches
from models.learn.calibration import apply_temperature, fit_temperature, undo_class_weights
from models.learn.config import ModelConfig, TrainConfig
from models.learn.lstm import build_from_config
from models.learn.training import (
    balanced_class_weight,
    chronological_validation,
    sample_weights_of,
    schedule_callbacks,
)


class NotFittedError(RuntimeError):
    """An estimator was asked to predict or save before it was fitted (or loaded)."""


class LSTMClassifier:
    """An LSTM that predicts down/flat/up probabilities from windows of a panel's features.

    Args:
        dataset: features, timesteps and label definition; the panel passed to :meth:`fit` and
            :meth:`predict_proba` must have been built with it.
        architecture: architecture and optimiser (None only for a loaded model whose stored
            architecture this code cannot read; it still predicts).
        training: epochs, batch size, validation share, seed, schedule, calibration (None as for
            ``architecture``).

    Attributes set by :meth:`fit` (or :meth:`load`):
        model_: the trained ``keras.Model``.
        scaler_: the :class:`features.scaling.FeatureScaler` fitted on the fit rows' dates.
        relative_: ``(column, reference column)`` pairs each window reads relative to its last
            row (:class:`features.windows.WindowSet`; empty unless the features hold levels).
        class_weights_: float64 (3,), training class weights divided back out of the outputs (a
            prior shift), or None when training was unweighted.
        temperature_: calibration temperature (1.0 = none).
        fit_rows_, val_rows_: int arrays of the panel rows fitted on and validated on (fit only).
        history_: Keras history, metric -> per-epoch values (fit only).
        raw_val_probs_, val_probs_: float64 (n_val, 3) validation probabilities before and after the
            temperature (fit only).
        val_labels_: int64 (n_val,) validation classes; val_keys_: their ``date, ticker`` (fit only).
        holdout_rows_, holdout_keys_, holdout_labels_, holdout_probs_: the held-out slice and its
            predictions (set by :meth:`hold_out`).
        fit_summary_: JSON-ready summary of the fit (:meth:`describe`).
        card_: the stored JSON card (load only); model_id_: the registry id ("" when not from the registry).
    """

    def __init__(
        self,
        dataset: DatasetConfig | None = None,
        architecture: ModelConfig | None = None,
        training: TrainConfig | None = None,
    ) -> None:
        self.dataset = DatasetConfig() if dataset is None else dataset
        self.architecture = architecture
        self.training = training

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        panel: Panel,
        rows: np.ndarray,
        *,
        embargo: int | None = None,
        initial_weights: str | Path | None = None,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        verbose: int | str = "auto",
    ) -> LSTMClassifier:
        """Train on the given (already purged) labeled sample rows of ``panel``; return ``self``.

        Args:
            panel: the universe's features and labels, built with ``self.dataset``.
            rows: positions of labeled samples usable for training.
            embargo: trading days between the fit slice's last label and the validation slice
                (None = the label horizon).
            initial_weights: a ``.keras`` file of the same architecture to start from (warm
                start); None starts from fresh random weights.
            callbacks: extra Keras callbacks (e.g. a logger).
            verbose: Keras verbosity ("auto" shows a progress bar in a terminal).

        Raises:
            ValueError: when the panel was built with another dataset config, the rows leave no fit or
                validation slice, or ``initial_weights`` has another architecture.
        """
        self._check_panel(panel)
        model_config = self.architecture or ModelConfig()
        config = self.training or TrainConfig()
        embargo = panel.config.label.horizon if embargo is None else embargo
        fit_rows, val_rows = chronological_validation(panel, rows, val_fraction=config.val_fraction, embargo=embargo)
        self.relative_ = panel.config.relative_columns
        scaler = FeatureScaler().fit(
            panel.X, panel.config.features, rows=panel.dates <= panel.dates[fit_rows].max(),
            passthrough=[panel.config.features[c] for c, _ in self.relative_],
        )  # fmt: skip
        t = panel.config.timesteps
        val_windows = self._window_set(panel, scaler, val_rows)
        seed_everything(config.seed)
        network = build_from_config(t, panel.X.shape[1], model_config, seed=config.seed)
        if initial_weights is not None:
            _warm_start(network, initial_weights)
        weights = balanced_class_weight(panel.label[fit_rows]) if config.class_weight else None
        history, kept_val = _train(
            network, self._window_set(panel, scaler, fit_rows), val_windows, panel, fit_rows, val_rows,
            config=config, learning_rate=model_config.learning_rate, weights=weights,
            sample_weights=(sample_weights_of(panel, fit_rows, config), sample_weights_of(panel, val_rows, config)),
            callbacks=callbacks, verbose=verbose,
        )  # fmt: skip
        self.model_ = network
        self.scaler_ = scaler
        self.fit_rows_, self.val_rows_ = fit_rows, val_rows
        self.history_ = history
        self.val_labels_ = panel.label[val_rows].astype("int64")
        self.val_keys_ = panel.keys.iloc[val_rows].reset_index(drop=True)
        self.class_weights_ = None if weights is None else np.array([weights[k] for k in range(len(weights))])
        self.temperature_ = 1.0
        # the kept epoch's validation pass: what predicting again with the restored weights gives, to the bit
        self.raw_val_probs_ = (
            undo_class_weights(kept_val, self.class_weights_)
            if kept_val is not None
            else self._predict_windows(val_windows, batch_size=VALIDATION_BATCH, temperature=1.0)
        )
        if config.calibrate:
            self.temperature_ = fit_temperature(self.raw_val_probs_, self.val_labels_)
        self.val_probs_ = apply_temperature(self.raw_val_probs_, self.temperature_)
        self.fit_summary_ = self.describe(panel)
        self.card_: dict[str, Any] = {}
        self.model_id_ = ""
        return self

    def hold_out(self, panel: Panel, rows: np.ndarray, *, batch_size: int = 1024) -> LSTMClassifier:
        """Predict the held-out rows (a later slice than validation that no fit step saw); return ``self``.

        Sets ``holdout_rows_``, ``holdout_keys_`` (``date, ticker``), ``holdout_labels_`` (int64) and
        ``holdout_probs_`` (float64 (n, 3), after the temperature): what promotion compares and the
        live scorecard expects (:mod:`models.serving.promotion`, :mod:`models.serving.settlement`).
        ``rows`` may be empty (no holdout).
        """
        r = np.asarray(rows, dtype="int64")
        self.holdout_rows_ = r
        self.holdout_keys_ = panel.keys.iloc[r].reset_index(drop=True)
        self.holdout_labels_ = panel.label[r].astype("int64")
        self.holdout_probs_ = self.predict_proba(panel, r, batch_size=batch_size) if len(r) else np.zeros((0, 3))
        return self

    @property
    def best_epoch_(self) -> int:
        """The epoch (1-based) whose weights were kept: lowest validation loss; 0 without validation history."""
        losses = self._fitted("history_").get("val_loss", [])
        return int(np.argmin(losses)) + 1 if losses else 0

    @property
    def features(self) -> tuple[str, ...]:
        """The feature names the model reads, in column order (a setting, from ``dataset``)."""
        return tuple(self.dataset.features)

    @property
    def timesteps(self) -> int:
        """Days in one input window (a setting, from ``dataset``)."""
        return int(self.dataset.timesteps)

    def describe(self, panel: Panel) -> dict[str, Any]:
        """JSON-ready summary of the fit on ``panel``: sample counts, date ranges, class balance, epochs."""
        fit_rows, val_rows = self._fitted("fit_rows_"), self._fitted("val_rows_")
        d_fit, d_val = panel.dates[fit_rows], panel.dates[val_rows]
        return {
            "n_fit": len(fit_rows),
            "n_val": len(val_rows),
            "fit_start": str(pd.Timestamp(d_fit.min()).date()),
            "fit_end": str(pd.Timestamp(d_fit.max()).date()),
            "val_start": str(pd.Timestamp(d_val.min()).date()),
            "val_end": str(pd.Timestamp(d_val.max()).date()),
            "fit_class_balance": class_balance(panel.label[fit_rows]),
            "epochs_run": len(self.history_.get("loss", [])),
            "best_epoch": self.best_epoch_,
            "temperature": self.temperature_,
            "class_weights": None if self.class_weights_ is None else self.class_weights_.tolist(),
        }

    # --------------------------------------------------------------- predicting

    def transform(self, panel: Panel) -> np.ndarray:
        """Every panel row normalised with ``scaler_``, float32 (n_rows, n_features); NaN becomes 0."""
        return self._fitted("scaler_").normalise(panel.X)

    def predict_proba(self, panel: Panel, rows: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities of the windows ending at ``rows``, float64 (len(rows), 3), rows summing to 1.

        The training class weights are divided back out and the calibration temperature applied.

        Raises:
            NotFittedError: before :meth:`fit` or :meth:`load`.
            ValueError: when the panel was built with another dataset config.
        """
        return self.predict_windows(self.windows(panel, rows), batch_size=batch_size)

    def windows(self, panel: Panel, rows: np.ndarray) -> WindowSet:
        """The model's input windows ending at ``rows``: normalised as gathered, relative columns applied.

        The one way windows are made, at fit, backtest prediction and scoring alike: the
        ``relative_`` pairs (:mod:`features.alpha`, stored in the card) read level columns
        relative to each window's last row.

        Raises:
            NotFittedError: before :meth:`fit` or :meth:`load`.
            ValueError: when the panel was built with another dataset config.
        """
        self._check_panel(panel)
        return self._window_set(panel, self._fitted("scaler_"), np.asarray(rows, dtype="int64"))

    def _window_set(self, panel: Panel, scaler: FeatureScaler, rows: np.ndarray) -> WindowSet:
        """Windows over the raw ``panel.X``, each normalised as it is gathered (no normalised copy)."""
        return WindowSet(panel.X, rows, timesteps=self.timesteps, relative=self._fitted("relative_"), scaler=scaler)

    def predict_windows(self, windows: WindowSet, *, batch_size: int = 1024) -> np.ndarray:
        """:meth:`predict_proba` on ready windows (see :meth:`windows`)."""
        return self._predict_windows(windows, batch_size=batch_size, temperature=self._fitted("temperature_"))

    def _predict_windows(self, windows: WindowSet, *, batch_size: int, temperature: float) -> np.ndarray:
        out = forward_proba(self._fitted("model_"), windows, batch_size=batch_size)
        if not len(out):
            return out
        out = undo_class_weights(out, self.class_weights_)
        return out if temperature == 1.0 else apply_temperature(out, temperature)

    # ------------------------------------------------------------ saving/loading

    def card(self) -> dict[str, Any]:
        """The JSON card: configs, class order, fitted scaler and calibration (what :meth:`load` needs).

        A model with window-relative columns also stores them, by name, as ``window``:
        ``{"relative_to_last": [[column, reference], ...]}``, so a loaded model windows its inputs
        exactly as it was trained.
        """
        card: dict[str, Any] = {
            "architecture": None if self.architecture is None else self.architecture.model_dump(mode="json"),
            "dataset": self.dataset.model_dump(mode="json"),
            "training": None if self.training is None else self.training.model_dump(mode="json"),
            "classes": list(CLASSES),
            "scaler": self._fitted("scaler_").to_dict(),
            "calibration": {
                "method": "temperature" if self.training is not None and self.training.calibrate else "none",
                "temperature": self.temperature_,
                "class_weights": None if self.class_weights_ is None else self.class_weights_.tolist(),
            },
        }
        if relative := self._fitted("relative_"):
            names = self.dataset.features
            card["window"] = {"relative_to_last": [[names[c], names[r]] for c, r in relative]}
        return card

    def save(self, folder: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write ``model.keras`` and the JSON card ``metadata.json`` (:meth:`card` plus ``metadata``) into ``folder``.

        ``metadata`` entries (data range, validation metrics, ids...) are stored beside the card, in
        their order; the card's own entries win, and a nested ``calibration`` dict is merged with the
        card's. Returns the folder.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        card = self.card()
        content = dict(metadata or {})
        card["calibration"] = {**content.get("calibration", {}), **card["calibration"]}
        content.update(card)
        self.model_.save(folder / MODEL_FILE)
        write_json(content, folder / CARD_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LSTMClassifier:
        """Read a folder written by :meth:`save` (or a registry model folder).

        Raises:
            ValueError: naming the file when the card or the model cannot be read, or their shapes differ.
        """
        folder = Path(folder)
        card_path, model_path = folder / CARD_FILE, folder / MODEL_FILE
        try:
            card = dict(json.loads(card_path.read_text(encoding="utf-8")))
            dataset = DatasetConfig.model_validate(card["dataset"])
            scaler = FeatureScaler.from_dict(card["scaler"])
            relative = _relative_of(card, dataset)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot read the model card {card_path}: {exc}") from exc
        if model_path.is_file() and not zipfile.is_zipfile(model_path):
            # Keras reports a truncated archive as "File not found"; say what is wrong with which file
            raise ValueError(f"model file {model_path} is corrupt: not a whole .keras (zip) archive, truncated?")
        try:
            network = keras.saving.load_model(model_path, safe_mode=True, compile=False)
        except Exception as exc:  # Keras raises many types for a bad file; name the file
            raise ValueError(f"cannot load model file {model_path}: {exc}") from exc
        shape = (dataset.timesteps, len(dataset.features))
        if tuple(network.input_shape[1:]) != shape or network.output_shape[-1] != len(CLASSES):
            raise ValueError(
                f"{model_path}: model shape {network.input_shape}->{network.output_shape} does not match "
                f"metadata (timesteps={shape[0]}, features={shape[1]}, classes={len(CLASSES)})"
            )
        out = cls(dataset, _lenient(ModelConfig, card.get("architecture")), _lenient(TrainConfig, card.get("training")))
        calibration = card.get("calibration") or {}
        weights = calibration.get("class_weights")
        out.model_, out.scaler_, out.card_, out.relative_ = network, scaler, card, relative
        out.temperature_ = float(calibration.get("temperature", 1.0))
        out.class_weights_ = None if weights is None else np.asarray(weights, dtype="float64")
        out.model_id_ = str(card.get("model_id", ""))
        return out

    # ------------------------------------------------------------------ helpers

    def _fitted(self, name: str) -> Any:
        if not hasattr(self, name):
            raise NotFittedError(f"this LSTMClassifier is not fitted yet (no {name}); call fit() or load() first")
        return getattr(self, name)

    def _check_panel(self, panel: Panel) -> None:
        if panel.config != self.dataset:
            raise ValueError(
                f"panel was built with {panel.config!r}, but this classifier's dataset is {self.dataset!r}"
            )

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "model_") else "unfitted"
        settings = f"dataset={self.dataset!r}, architecture={self.architecture!r}, training={self.training!r}"
        return f"LSTMClassifier({settings}) [{state}]"


def forward_proba(network: keras.Model, windows: WindowSet, *, batch_size: int = 1024) -> np.ndarray:
    """The network's softmax outputs, float64 (n_samples, n_classes), rows renormalised to sum to 1.

    Every batch is padded to ``batch_size`` so the backend compiles the forward pass once. A helper
    thread gathers (and normalises) the next batch while the network runs on this one: both
    release the GIL, and the batches are the same. No prior shift or temperature:
    :meth:`LSTMClassifier.predict_proba` applies those.
    """
    n = len(windows)
    out = np.zeros((n, int(network.output_shape[-1])))
    if not n:
        return out

    def batch(lo: int) -> np.ndarray:
        x = windows.take(np.arange(lo, min(lo + batch_size, n)))
        if len(x) < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - len(x), *x.shape[1:]), dtype=x.dtype)])
        return x

    starts = range(0, n, batch_size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="updown-gather") as gather:
        ahead = gather.submit(batch, 0)
        for lo in starts:
            x = ahead.result()
            if lo + batch_size < n:
                ahead = gather.submit(batch, lo + batch_size)
            m = min(batch_size, n - lo)
            out[lo : lo + m] = np.asarray(network.predict_on_batch(x), dtype="float64")[:m]
    return out / out.sum(axis=1, keepdims=True)


def _warm_start(network: keras.Model, initial_weights: str | Path) -> None:
    previous = keras.saving.load_model(initial_weights, safe_mode=True, compile=False)
    if [w.shape for w in previous.weights] != [w.shape for w in network.weights]:
        raise ValueError(f"initial_weights={initial_weights} has a different architecture; cannot warm start")
    network.set_weights(previous.get_weights())


def _train(
    network: keras.Model,
    fit_windows: WindowSet,
    val_windows: WindowSet,
    panel: Panel,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    *,
    config: TrainConfig,
    learning_rate: float,
    weights: dict[int, float] | None,
    sample_weights: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int | str,
) -> tuple[dict[str, list[float]], np.ndarray | None]:
    """Fit ``network`` with early stopping on the validation slice.

    Returns the history as plain floats, and the network's validation probabilities
    (:func:`forward_proba`) of the epoch whose weights early stopping restored (None when no
    epoch had a finite validation loss). ``sample_weights`` (fit, validation), when given,
    multiply the class weights of each sample: the batches then carry the product as Keras
    ``sample_weight`` and no ``class_weight`` is passed.
    """
    bs = config.batch_size
    fit_sw, val_sw = sample_weights
    fit_weight = None if fit_sw is None else _per_sample(weights, panel.label[fit_rows]) * fit_sw
    # the validation loss weighs its samples as training does, so early stopping compares like with like
    val_weight = _per_sample(weights, panel.label[val_rows]) * (1.0 if val_sw is None else val_sw)
    validation = _Validation(val_windows, panel.label[val_rows], val_weight)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    hist = network.fit(
        WindowBatches(
            fit_windows, panel.label[fit_rows], batch_size=bs, shuffle=True, seed=config.seed, sample_weight=fit_weight
        ),
        epochs=config.epochs,
        # WindowBatches reshuffles the samples with its own seeded generator; Keras's shuffle of
        # a PyDataset's batch order would draw from the process-wide `random` module instead
        shuffle=False,
        class_weight=weights if fit_weight is None else None,
        # the validation pass first: early stopping and the schedules read the val_loss it logs
        callbacks=[validation, stop, *schedule_callbacks(config, learning_rate), *callbacks],
        verbose=verbose,
    )
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}, validation.kept


VALIDATION_BATCH = 1024
"""Windows per forward pass over the validation slice (as :meth:`LSTMClassifier.predict_proba`)."""


class _Validation(keras.callbacks.Callback):
    """Each epoch's validation pass: logs ``val_loss`` and ``val_accuracy``, keeps the best epoch's probabilities.

    In place of Keras's ``validation_data``, which predicted the slice every epoch and threw the
    predictions away, so that calibration had to predict it once more with the restored weights.
    Here one forward pass per epoch (:func:`forward_proba`, in batches of :data:`VALIDATION_BATCH`)
    gives both: the loss Keras would log, the class-weighted cross-entropy
    ``mean(w_i * -log p_i[y_i])`` with Keras's clipping to ``[1e-7, 1 - 1e-7]`` (in float64, so it
    differs from Keras's float32 sum in the 7th digit), the unweighted accuracy as Keras's
    ``"accuracy"`` metric counts it, and the probabilities of the epoch with the lowest loss, the
    one :class:`keras.callbacks.EarlyStopping` restores (a strict improvement: the first of equal
    losses wins, as there). Same weights, same batches: those probabilities are the bits a new
    pass with the restored weights would give (``tests/models/learn/test_classifier.py``).
    """

    def __init__(self, windows: WindowSet, labels: np.ndarray, weights: np.ndarray) -> None:
        super().__init__()
        self.windows, self.labels, self.weights = windows, np.asarray(labels, dtype="int64"), weights
        self.best_loss = np.inf
        self.kept: np.ndarray | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        probs = forward_proba(self.model, self.windows, batch_size=VALIDATION_BATCH)
        eps = keras.config.epsilon()
        p_true = np.clip(probs[np.arange(len(self.labels)), self.labels], eps, 1.0 - eps)
        loss = float(np.mean(self.weights * -np.log(p_true)))
        if logs is not None:
            logs["val_loss"] = loss
            logs["val_accuracy"] = float(np.mean(probs.argmax(axis=1) == self.labels))
        if loss < self.best_loss:
            self.best_loss, self.kept = loss, probs


def _per_sample(weights: dict[int, float] | None, labels: np.ndarray) -> np.ndarray:
    """Each sample's class weight (1 without class weights), float64 (n,)."""
    if weights is None:
        return np.ones(len(labels))
    return np.array([weights[int(k)] for k in labels], dtype="float64")


def _relative_of(card: Mapping[str, Any], dataset: DatasetConfig) -> tuple[tuple[int, int], ...]:
    """The stored window-relative pairs as column positions (none for a card without ``window``).

    Raises:
        ValueError: when a stored name is not among the dataset's features.
    """
    pairs = (card.get("window") or {}).get("relative_to_last", [])
    pos = {n: j for j, n in enumerate(dataset.features)}
    unknown = [p for p in pairs if p[0] not in pos or p[1] not in pos]
    if unknown:
        raise ValueError(f"window.relative_to_last names {unknown} that are not features {list(dataset.features)}")
    return tuple((pos[c], pos[r]) for c, r in pairs)


def _lenient(kind: type[ModelConfig] | type[TrainConfig], stored: Any) -> Any:
    """A stored config, or None when it is absent or was written by code with other fields."""
    if stored is None:
        return None
    try:
        return kind.model_validate(stored)
    except ValidationError:
        return None
