"""1. Training throughput: the pipeline's input path against plain ``model.fit`` on NumPy arrays.

Both contenders train the *same* compiled model (default stacked LSTM 128/64, batch 256, class
weights as :meth:`models.learn.classifier.LSTMClassifier.fit` sets them), one epoch per call, interleaved:

* ``pipeline``: :class:`features.scaling.FeatureScaler` fitted on the fit rows, the normalised
  float32 array, a :class:`features.windows.WindowSet` and
  :class:`models.learn.batches.WindowBatches` (shuffled, gathered per batch) into ``model.fit``;
* ``numpy``: the same windows materialised once as a ``(n, timesteps, n_features)`` float32 array
  with one-hot labels, ``model.fit(x, y, batch_size=256, shuffle=True)``.

Goal: pipeline / numpy throughput >= 0.9. Also: achieved GFLOP/s of the training step (FLOPs
counted by :func:`benchmarks.common.lstm_train_flops`) against fp32 matmul measured in the same
run (goal >= 40%), the whole :meth:`models.learn.classifier.LSTMClassifier.fit` call (validation pass and
validation predictions included) for reference, and, as an extra, the same epoch with XLA
(``jit_compile=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import (
    Figure,
    Scale,
    check_scale,
    lstm_train_flops,
    matmul_gflops,
    ratios,
    result,
    side_by_side,
    synthetic_prices,
    timed,
)

NAME = "training"
GOAL = "pipeline/NumPy fit throughput >= 0.9; LSTM training >= 40% of fp32 matmul GFLOP/s"

SIZES: dict[str, dict[str, Any]] = {
    "full": {"tickers": 12, "days": 1500, "samples": 16384, "units": (128, 64), "repeats": 5, "xla": True},
    "quick": {"tickers": 4, "days": 1200, "samples": 4096, "units": (128, 64), "repeats": 2, "xla": False},
    "toy": {"tickers": 2, "days": 300, "samples": 256, "units": (8, 4), "repeats": 1, "xla": False},
}


def tf_data_pipeline(
    data: np.ndarray, ends: np.ndarray, labels: np.ndarray, *, timesteps: int, batch: int, weights: dict[int, float]
) -> Any:
    """The same shuffled batches as a ``tf.data`` pipeline: indices shuffled per epoch, gathered in the graph.

    The normalised array lives in the graph once; each batch's windows are one ``tf.gather`` of
    ``ends[:, None] + offsets``, run ahead of the step by ``prefetch``.
    """
    import tensorflow as tf

    table = tf.constant(data)
    offsets = tf.range(-timesteps + 1, 1, dtype=tf.int64)
    one_hot = tf.constant(np.eye(3, dtype="float32")[labels])
    w = tf.constant(np.asarray([weights[int(k)] for k in labels], dtype="float32"))
    ends_t = tf.constant(np.asarray(ends, dtype="int64"))

    def gather(idx: Any) -> Any:
        rows = tf.gather(ends_t, idx)[:, None] + offsets
        return tf.gather(table, rows), tf.gather(one_hot, idx), tf.gather(w, idx)

    return (
        tf.data.Dataset.range(len(ends))
        .shuffle(len(ends), seed=0, reshuffle_each_iteration=True)
        .batch(batch)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def same_result(windows: Any, labels: np.ndarray, batch: int, units: tuple[int, ...], config: Any) -> bool:
    """Whether two epochs with ``workers=2`` give, to the bit, the predictions of ``workers=1`` (same seed)."""
    from models.learn.backend import seed_everything
    from models.learn.batches import WindowBatches
    from models.learn.lstm import build_lstm_classifier

    small = windows.subset(np.arange(min(len(windows), 4 * batch)))
    probs = []
    for workers in (1, 2):
        seed_everything(0)
        model = build_lstm_classifier(config.timesteps, len(config.features), units=units, seed=0)
        model.fit(
            WindowBatches(small, labels[: len(small)], batch_size=batch, shuffle=True, seed=0, workers=workers),
            epochs=2,
            verbose=0,
        )
        probs.append(model.predict(small.take(np.arange(len(small))), verbose=0))
    return bool(np.array_equal(probs[0], probs[1]))


def run(*, scale: Scale = "full", repeats: int | None = None) -> dict[str, Any]:
    """Measure; see the module docstring. Returns a :func:`benchmarks.common.result` dict."""

    from features.dataset import DatasetConfig, build_panel
    from features.scaling import FeatureScaler
    from features.windows import WindowSet
    from models.learn.backend import seed_everything
    from models.learn.batches import WindowBatches
    from models.learn.classifier import LSTMClassifier
    from models.learn.lstm import ModelConfig, build_lstm_classifier
    from models.learn.training import TrainConfig, balanced_class_weight

    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    units: tuple[int, ...] = size["units"]
    batch = 256
    config = DatasetConfig()
    panel = build_panel(synthetic_prices(size["tickers"], size["days"]), config)
    rows = panel.samples(labeled=True)[: size["samples"]]
    n = len(rows)
    labels = panel.label[rows]
    scaler = FeatureScaler().fit(panel.X[panel.dates <= panel.dates[rows].max()], config.features)
    data = scaler.normalise(panel.X)  # the tf.data contender reads the normalised matrix
    windows = WindowSet(panel.X, rows, timesteps=config.timesteps, scaler=scaler)  # as LSTMClassifier.fit
    weights = balanced_class_weight(labels)
    x_np = windows.take(np.arange(n))
    y_np = np.eye(3, dtype="float32")[labels]

    seed_everything(0)  # as LSTMClassifier.fit does: seeds, and deterministic ops for both contenders
    model = build_lstm_classifier(config.timesteps, len(config.features), units=units)
    batches = WindowBatches(windows, labels, batch_size=batch, shuffle=True, seed=0, workers=1)
    threaded = WindowBatches(windows, labels, batch_size=batch, shuffle=True, seed=0, workers=2)
    dataset = tf_data_pipeline(data, windows.ends, labels, timesteps=config.timesteps, batch=batch, weights=weights)

    def pipeline() -> None:
        model.fit(batches, epochs=1, class_weight=weights, verbose=0)

    def workers() -> None:
        model.fit(threaded, epochs=1, class_weight=weights, verbose=0)

    def tf_data() -> None:
        model.fit(dataset, epochs=1, shuffle=False, verbose=0)  # shuffled by the dataset; weights its 3rd element

    def plain() -> None:
        model.fit(x_np, y_np, batch_size=batch, epochs=1, shuffle=True, class_weight=weights, verbose=0)

    # No warm-up at toy size: each traced step costs seconds, and toy numbers only check the plumbing.
    times = side_by_side(
        {"pipeline": pipeline, "workers2": workers, "tf_data": tf_data, "numpy": plain},
        repeats=reps,
        warmup=scale != "toy",
    )
    figures = {
        "pipeline_samples_per_s": Figure("samples/s", [n / t for t in times["pipeline"]], "higher"),
        "numpy_samples_per_s": Figure("samples/s", [n / t for t in times["numpy"]], "higher"),
        "throughput_ratio": Figure("ratio", ratios(times["numpy"], times["pipeline"]), "higher"),
        "workers2_samples_per_s": Figure("samples/s", [n / t for t in times["workers2"]], "higher"),
        "workers2_over_numpy": Figure("ratio", ratios(times["numpy"], times["workers2"]), "higher"),
        "tf_data_samples_per_s": Figure("samples/s", [n / t for t in times["tf_data"]], "higher"),
        "tf_data_over_numpy": Figure("ratio", ratios(times["numpy"], times["tf_data"]), "higher"),
    }
    figures["workers_same_result"] = Figure("ratio", [float(same_result(windows, labels, batch, units, config))])

    # Whole LSTMClassifier.fit call (scaler, windows, fit, validation, validation predictions), 1 epoch.
    def whole() -> None:
        model = LSTMClassifier(config, ModelConfig(units=units), TrainConfig(epochs=1, batch_size=batch))
        model.fit(panel, rows, verbose=0)

    if scale != "toy":  # each call traces a fresh model: seconds, too slow for the smoke test
        whole()
        fit_times = [timed(whole)[0] for _ in range(reps)]
        figures["fit_model_samples_per_s"] = Figure("samples/s", [n / t for t in fit_times], "higher")

    # Achieved GFLOP/s against the machine's matmul rate, measured now.
    flops = lstm_train_flops(config.timesteps, len(config.features), units)
    peak = matmul_gflops(n=256, repeats=1, min_s=0.02) if scale == "toy" else matmul_gflops(repeats=max(3, reps))
    figures.update(peak)
    peak_rate = max(peak["numpy_matmul_gflops"].median, peak["tf_matmul_gflops"].median)
    for name in ("numpy", "pipeline"):
        rates = [s * flops / 1e9 for s in figures[f"{name}_samples_per_s"].values]
        figures[f"{name}_train_gflops"] = Figure("GFLOP/s", rates, "higher")
        figures[f"{name}_share_of_matmul_peak"] = Figure("ratio", [r / peak_rate for r in rates], "higher")

    notes = [
        f"LSTM training FLOPs per window: {flops / 1e6:.2f} MFLOP (3 x forward; forward per layer and timestep "
        "2*4*u*(d+u) + 10*u)",
        f"matmul peak used: {peak_rate:.1f} GFLOP/s (best median of NumPy and TensorFlow fp32 matmul)",
    ]
    if size["xla"]:
        import warnings

        xla = build_lstm_classifier(config.timesteps, len(config.features), units=units)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Model doesn't support jit_compile=True"
            xla.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"], jit_compile=True)
        if not xla.jit_compile:
            notes.append(
                "XLA not measured: Keras turns jit_compile=True off while TensorFlow op determinism is on, "
                "which models.learn.backend.seed_everything enables for every fit"
            )
        else:

            def with_xla() -> None:
                xla.fit(x_np, y_np, batch_size=batch, epochs=1, shuffle=True, class_weight=weights, verbose=0)

            compile_s, _ = timed(with_xla)
            xt = side_by_side({"xla": with_xla, "numpy": plain}, repeats=max(1, reps - 1), warmup=False)
            figures["xla_samples_per_s"] = Figure("samples/s", [n / t for t in xt["xla"]], "higher")
            figures["xla_over_default_ratio"] = Figure("ratio", ratios(xt["numpy"], xt["xla"]), "higher")
            notes.append(f"XLA first epoch (compilation included): {compile_s:.1f} s")

    ratio = figures["throughput_ratio"].median
    share = figures["pipeline_share_of_matmul_peak"].median
    return result(
        NAME,
        goal=GOAL,
        headline="throughput_ratio",
        figures=figures,
        met=bool(ratio >= 0.9 and share >= 0.4),
        params={
            "samples": n,
            "batch_size": batch,
            "units": list(units),
            "timesteps": config.timesteps,
            "n_features": len(config.features),
            "repeats": reps,
        },
        notes=notes,
    )
