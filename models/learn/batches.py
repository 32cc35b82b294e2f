"""Feeding windows to Keras: a ``keras.utils.PyDataset`` over a :class:`features.windows.WindowSet`.

Batches are gathered from the one feature array on demand (and normalised as they are, when the
:class:`features.windows.WindowSet` has a scaler), so memory stays at rows x features however many
windows there are. Works on every Keras backend.
"""

from __future__ import annotations

import keras
import numpy as np

from features.windows import WindowSet


class WindowBatches(keras.utils.PyDataset):
    """Batches of ``(windows, one_hot_labels)``, or windows alone when ``labels`` is None.

    Args:
        windows: the samples.
        labels: int array (n_samples,) of classes 0..n_classes-1, or None for inference.
        batch_size: samples per batch.
        shuffle: reshuffle the sample order every epoch (training only).
        seed: seed of the shuffling.
        n_classes: width of the one-hot labels.
        sample_weight: float array (n_samples,) yielded as a third element (e.g. class weights of a
            validation set, so its loss measures the same objective as training).
        workers: threads Keras gathers batches with, ahead of the training step (``PyDataset``'s
            ``workers``; the gather is NumPy fancy indexing, which releases the GIL). Batches
            arrive in the same order whatever the number (Keras's ordered enqueuer; the reshuffle
            runs after each epoch's workers stop), so results do not depend on it. Default 2: with
            one, the gather runs in the training thread between steps (``python -m benchmarks
            --only training``: 0.65x of plain ``fit`` on arrays with 1 worker, 0.94x with 2).
    """

    def __init__(
        self,
        windows: WindowSet,
        labels: np.ndarray | None = None,
        *,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int = 0,
        n_classes: int = 3,
        sample_weight: np.ndarray | None = None,
        workers: int = 2,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got workers={workers}")
        super().__init__(workers=workers, use_multiprocessing=False)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got batch_size={batch_size}")
        if labels is not None and len(labels) != len(windows):
            raise ValueError(f"labels has {len(labels)} entries for {len(windows)} windows")
        self.windows = windows
        # classes as small ints, one-hot per batch: a full one-hot copy would be 12 bytes a sample
        self.labels = None if labels is None else np.asarray(labels).astype("int16")
        self._eye = np.eye(n_classes, dtype="float32")
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight, dtype="float32")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(windows))
        if shuffle:
            self._rng.shuffle(self._order)

    def __len__(self) -> int:
        return -(-len(self.windows) // self.batch_size)

    def __getitem__(self, index: int) -> np.ndarray | tuple[np.ndarray, ...]:
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.shuffle:
            idx = np.sort(idx)  # gather in memory order; the batch's content is what is random
        x = self.windows.take(idx)
        if self.labels is None:
            return x
        y = self._eye[self.labels[idx]]
        if self.sample_weight is None:
            return x, y
        return x, y, self.sample_weight[idx]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._rng.shuffle(self._order)
