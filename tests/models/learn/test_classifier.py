"""LSTMClassifier: the scikit-learn contract, determinism, warm start, prior shift and temperature, save/load."""

import json

import numpy as np
import pytest

from features.dataset import DatasetConfig
from models.learn.calibration import apply_temperature, undo_class_weights
from models.learn.classifier import LSTMClassifier, NotFittedError, forward_proba
from tests.support import TINY_MODEL, TINY_TRAIN


@pytest.fixture(scope="module")
def fitted(small_panel) -> LSTMClassifier:
    clf = LSTMClassifier(small_panel.config, TINY_MODEL, TINY_TRAIN)
    return clf.fit(small_panel, small_panel.samples()[:600], verbose=0)


def test_init_stores_settings_only_and_fit_returns_self(small_panel):
    assert not hasattr(LSTMClassifier(), "model")  # the network is model_, the settings are named for what they hold
    clf = LSTMClassifier(small_panel.config, TINY_MODEL, TINY_TRAIN)
    assert (clf.dataset, clf.architecture, clf.training) == (small_panel.config, TINY_MODEL, TINY_TRAIN)
    assert not [name for name in vars(clf) if name.endswith("_")]
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.predict_proba(small_panel, small_panel.samples()[:3])
    with pytest.raises(NotFittedError):
        clf.save("/nonexistent")
    assert clf.fit(small_panel, small_panel.samples()[:300], verbose=0) is clf
    assert {"model_", "scaler_", "temperature_", "class_weights_", "fit_rows_", "val_rows_"} <= set(vars(clf))


def test_same_seed_same_predictions_on_cpu(small_panel, fitted):
    rows = small_panel.samples()[:600]
    again = LSTMClassifier(small_panel.config, TINY_MODEL, TINY_TRAIN).fit(small_panel, rows, verbose=0)
    np.testing.assert_array_equal(fitted.val_probs_, again.val_probs_)
    assert fitted.history_["loss"] == again.history_["loss"]
    np.testing.assert_allclose(fitted.val_probs_.sum(axis=1), 1.0)
    # the scaler saw only rows up to the last fit sample
    last_fit = small_panel.dates[fitted.fit_rows_].max()
    expected = np.nanmean(small_panel.X[small_panel.dates <= last_fit], axis=0)
    np.testing.assert_allclose(fitted.scaler_.mean_, expected)


def test_predict_proba_divides_out_class_weights_then_applies_the_temperature(small_panel, fitted):
    rows = small_panel.samples()[700:760]
    raw = forward_proba(fitted.model_, _windows(small_panel, fitted, rows))
    assert fitted.class_weights_ is not None  # TINY_TRAIN weights classes
    unshifted = undo_class_weights(raw, fitted.class_weights_)
    np.testing.assert_array_equal(fitted.predict_proba(small_panel, rows), unshifted)
    hot = LSTMClassifier.__new__(LSTMClassifier)
    hot.__dict__.update(vars(fitted), temperature_=2.5)
    expected = apply_temperature(undo_class_weights(raw, fitted.class_weights_), 2.5)
    np.testing.assert_allclose(hot.predict_proba(small_panel, rows), expected, rtol=0, atol=0)
    assert not np.allclose(expected, unshifted)


def test_describe_counts_the_fit(small_panel, fitted):
    summary = fitted.fit_summary_
    assert (summary["n_fit"], summary["n_val"]) == (len(fitted.fit_rows_), len(fitted.val_rows_))
    assert summary["fit_end"] < summary["val_start"]
    assert summary["epochs_run"] == len(fitted.history_["loss"]) <= TINY_TRAIN.epochs
    assert summary["class_weights"] == fitted.class_weights_.tolist()


def test_save_load_round_trip_predicts_identically(small_panel, fitted, tmp_path):
    fitted.save(tmp_path / "m", metadata={"note": "kept", "calibration": {"extra": 1}})
    card = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert card["note"] == "kept"
    weights = fitted.class_weights_.tolist()
    assert card["calibration"] == {"method": "none", "temperature": 1.0, "class_weights": weights, "extra": 1}
    assert card["scaler"]["feature_names"] == list(small_panel.config.features)
    loaded = LSTMClassifier.load(tmp_path / "m")
    settings = ("dataset", "architecture", "training")
    assert [getattr(loaded, k) for k in settings] == [getattr(fitted, k) for k in settings]
    rows = small_panel.samples()[650:700]
    np.testing.assert_array_equal(loaded.predict_proba(small_panel, rows), fitted.predict_proba(small_panel, rows))


def test_a_card_from_other_code_still_loads_and_predicts(small_panel, fitted, tmp_path):
    fitted.save(tmp_path / "m")
    path = tmp_path / "m" / "metadata.json"
    card = json.loads(path.read_text())
    card["architecture"] = {**card["architecture"], "a_future_setting": 1}
    del card["training"]
    path.write_text(json.dumps(card))
    loaded = LSTMClassifier.load(tmp_path / "m")
    assert (loaded.architecture, loaded.training) == (None, None)
    rows = small_panel.samples()[650:660]
    np.testing.assert_array_equal(loaded.predict_proba(small_panel, rows), fitted.predict_proba(small_panel, rows))


def test_a_panel_of_another_dataset_is_refused(small_panel, fitted):
    other = LSTMClassifier(DatasetConfig(timesteps=9), TINY_MODEL, TINY_TRAIN)
    with pytest.raises(ValueError, match="panel was built with"):
        other.fit(small_panel, small_panel.samples()[:300], verbose=0)


def test_too_little_data_is_a_clear_error(small_panel):
    with pytest.raises(ValueError, match="at least 4 dates"):
        LSTMClassifier(small_panel.config, TINY_MODEL, TINY_TRAIN).fit(small_panel, small_panel.samples()[:2])


def test_warm_start_begins_from_the_given_weights(small_panel, tmp_path):
    rows = small_panel.samples()[:400]
    first = LSTMClassifier(small_panel.config, TINY_MODEL, TINY_TRAIN).fit(small_panel, rows, verbose=0)
    first.model_.save(tmp_path / "prev.keras")
    frozen = TINY_MODEL.model_copy(update={"learning_rate": 1e-12})  # training cannot move the weights
    warm = LSTMClassifier(small_panel.config, frozen, TINY_TRAIN)
    warm.fit(small_panel, rows, verbose=0, initial_weights=tmp_path / "prev.keras")
    for a, b in zip(first.model_.get_weights(), warm.model_.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    other = LSTMClassifier(small_panel.config, TINY_MODEL.model_copy(update={"units": (5, 4)}), TINY_TRAIN)
    with pytest.raises(ValueError, match="different architecture"):
        other.fit(small_panel, rows, verbose=0, initial_weights=tmp_path / "prev.keras")


def _windows(panel, model, rows):
    from features.windows import WindowSet

    return WindowSet(model.transform(panel), rows, timesteps=panel.config.timesteps)


def test_uniqueness_weights_reach_the_batches_times_the_class_weights(small_panel, monkeypatch):
    import models.learn.classifier as classifier_module
    from models.learn.batches import WindowBatches
    from models.learn.training import balanced_class_weight, uniqueness_weights

    seen: dict[str, np.ndarray | None] = {}

    class Recording(WindowBatches):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            seen["fit"] = None if self.sample_weight is None else self.sample_weight.copy()

    class RecordingValidation(classifier_module._Validation):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            seen["val"] = self.weights.copy()

    monkeypatch.setattr(classifier_module, "WindowBatches", Recording)
    monkeypatch.setattr(classifier_module, "_Validation", RecordingValidation)
    training = TINY_TRAIN.model_copy(update={"sample_weights": "uniqueness", "epochs": 1})
    model = LSTMClassifier(small_panel.config, TINY_MODEL, training).fit(small_panel, small_panel.samples(), verbose=0)
    label = small_panel.config.label
    for got, rows in ((seen["fit"], model.fit_rows_), (seen["val"], model.val_rows_)):
        class_w = balanced_class_weight(small_panel.label[model.fit_rows_])
        want = np.array([class_w[int(k)] for k in small_panel.label[rows]]) * uniqueness_weights(
            rows, lag=label.lag, horizon=label.horizon
        )
        np.testing.assert_allclose(got, want.astype("float32"), rtol=1e-6)
    assert seen["fit"] is not None
    assert 0.1 < seen["fit"].min() < seen["fit"].max()  # overlapping labels weigh less than lone ones


def test_the_kept_validation_pass_is_what_the_restored_weights_predict(small_panel, fitted):
    """Calibration reads the best epoch's validation pass instead of predicting the slice again: same bits."""
    again = forward_proba(fitted.model_, fitted.windows(small_panel, fitted.val_rows_), batch_size=1024)
    np.testing.assert_array_equal(fitted.raw_val_probs_, undo_class_weights(again, fitted.class_weights_))
    # the logged loss and accuracy are Keras's own (class-weighted loss, unweighted accuracy), to rounding
    import keras

    from models.learn.training import balanced_class_weight

    labels = small_panel.label[fitted.val_rows_]
    weights = balanced_class_weight(small_panel.label[fitted.fit_rows_])
    x = fitted.windows(small_panel, fitted.val_rows_).take(np.arange(len(labels)))
    loss, accuracy = fitted.model_.evaluate(
        x, keras.utils.to_categorical(labels, 3), sample_weight=np.array([weights[int(k)] for k in labels]), verbose=0
    )
    best = fitted.best_epoch_ - 1
    assert fitted.history_["val_loss"][best] == pytest.approx(loss, rel=1e-5)
    assert fitted.history_["val_accuracy"][best] == pytest.approx(accuracy, abs=1e-6)  # Keras counts in float32


def test_validation_keeps_the_epoch_early_stopping_restores(monkeypatch):
    """Scripted losses 0.9, 0.7, 0.7, 0.8: both pick epoch 2 (the first of equal losses)."""
    import keras

    import models.learn.classifier as classifier_module

    labels = np.array([0, 1, 2, 0])
    targets = [0.9, 0.7, 0.7, 0.8]  # mean -log p of the true class, per epoch
    scripted = [np.full((4, 3), (1 - np.exp(-t)) / 2) for t in targets]
    for probs, t in zip(scripted, targets, strict=True):
        probs[np.arange(4), labels] = np.exp(-t)
    epoch_now = {"i": 0}
    monkeypatch.setattr(classifier_module, "forward_proba", lambda *a, **k: scripted[epoch_now["i"]])
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    validation = classifier_module._Validation(None, labels, np.ones(4))  # type: ignore[arg-type]
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    for cb in (validation, stop):
        cb.set_model(net)
    logged = []
    for i in range(4):
        epoch_now["i"] = i
        net.set_weights([np.full((2, 1), float(i)), np.zeros(1)])  # the weights "after" epoch i
        logs: dict[str, float] = {}
        validation.on_epoch_end(i, logs)
        stop.on_epoch_end(i, logs)
        logged.append(logs["val_loss"])
    stop.on_train_end()
    np.testing.assert_allclose(logged, targets)
    assert validation.kept is scripted[1]
    assert net.get_weights()[0][0, 0] == 1.0  # Keras restored epoch 2's weights too
