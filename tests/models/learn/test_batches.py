"""WindowBatches: batches of windows, one-hot labels and weights; a seeded reshuffle per epoch."""

import numpy as np
import pytest

from features.windows import WindowSet
from models.learn.batches import WindowBatches

DATA = np.arange(20, dtype="float32").reshape(10, 2)  # row r holds (2r, 2r + 1)
WINDOWS = WindowSet(DATA, np.array([1, 3, 5, 7, 9]), timesteps=2)  # windows end at rows 1, 3, ..., 9


def test_batches_in_order_with_one_hot_labels_and_weights() -> None:
    labels = np.array([0, 2, 1, 1, 0])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    batches = WindowBatches(WINDOWS, labels, batch_size=2, sample_weight=weights)

    assert len(batches) == 3
    x, y, w = batches[0]
    np.testing.assert_array_equal(x[:, :, 0], [[0, 2], [4, 6]])  # rows 0-1 and 2-3, first column
    np.testing.assert_array_equal(y, [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(w, [1.0, 2.0])
    x, y, w = batches[2]
    assert x.shape == (1, 2, 2)
    np.testing.assert_array_equal(y, [[1, 0, 0]])


def test_inference_batches_are_windows_alone() -> None:
    batches = WindowBatches(WINDOWS, batch_size=4)
    first = batches[0]
    assert isinstance(first, np.ndarray)
    assert first.shape == (4, 2, 2)


def test_shuffling_is_seeded_covers_every_sample_once_and_changes_each_epoch() -> None:
    labels = np.arange(5) % 3
    a = WindowBatches(WINDOWS, labels, batch_size=2, shuffle=True, seed=7)
    b = WindowBatches(WINDOWS, labels, batch_size=2, shuffle=True, seed=7)

    def ends(batches: WindowBatches) -> list[int]:
        return [int(row) for i in range(len(batches)) for row in batches[i][0][:, -1, 0] / 2]

    first = ends(a)
    assert first == ends(b)
    assert sorted(first) == [1, 3, 5, 7, 9]
    orders = {tuple(first)}
    for _ in range(5):
        a.on_epoch_end()
        orders.add(tuple(ends(a)))
    assert len(orders) > 1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1, got batch_size=0"):
        WindowBatches(WINDOWS, batch_size=0)
    with pytest.raises(ValueError, match="labels has 2 entries for 5 windows"):
        WindowBatches(WINDOWS, np.array([0, 1]))


def test_workers_gather_the_same_batches_and_are_checked() -> None:
    labels = np.arange(5) % 3
    one = WindowBatches(WINDOWS, labels, batch_size=2, shuffle=True, seed=3, workers=1)
    two = WindowBatches(WINDOWS, labels, batch_size=2, shuffle=True, seed=3)

    assert (one.workers, two.workers) == (1, 2)  # two by default
    assert not two.use_multiprocessing  # threads: the windows are shared, never pickled
    for i in range(len(one)):
        for a, b in zip(one[i], two[i], strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="workers=0"):
        WindowBatches(WINDOWS, labels, workers=0)
