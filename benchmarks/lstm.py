"""10. LSTM speed: Keras's ``unroll=True`` against its loop, and the JAX backend for inference.

**Unroll** (:func:`models.learn.lstm.build_lstm_classifier`'s ``unroll``), for 30 (the default),
60 and 240 timesteps: the default stacked LSTM 128/64 on 14 features, batch 256, the same
pre-built float32 windows, one epoch per call, loop and unrolled models interleaved; samples/s,
GFLOP/s (:func:`benchmarks.common.lstm_train_flops`) as a share of the fp32 matmul peak measured
in the same run, and the first epoch (graph tracing included). Peak RSS of building and training
one epoch, each variant in a fresh process. Numerics, at the default timesteps: the two models
built from the same seed give the same forward pass; after one training step and after one epoch
the difference between them is set against the difference between two seeds of the loop model
(equal in distribution when it is far smaller).

**JAX** for inference: the default model's weights saved once, loaded into a fresh process on
``KERAS_BACKEND=tensorflow`` and one on ``KERAS_BACKEND=jax`` (Keras picks its backend at
import, so it cannot switch inside a process), alternating; each predicts the same windows in
batches of 1,024 as :meth:`models.learn.classifier.LSTMClassifier.predict_windows` does;
windows/s and the largest probability difference between the backends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import (
    Figure,
    Scale,
    check_scale,
    in_fresh_process,
    lstm_forward_flops,
    lstm_train_flops,
    matmul_peak,
    ratios,
    result,
    side_by_side,
    workspace,
)

NAME = "lstm"
GOAL = "LSTM training >= 40% of fp32 matmul GFLOP/s (unroll vs loop at 30/60/240 steps); JAX inference"

N_FEATURES = 14
BATCH = 256
SIZES: dict[str, dict[str, Any]] = {
    # samples per timing call, per timesteps: about the same FLOPs per call
    "full": {"units": (128, 64), "timesteps": {30: 4096, 60: 2048, 240: 512}, "repeats": 5, "infer": 20480},
    "quick": {"units": (128, 64), "timesteps": {30: 2048, 60: 1024}, "repeats": 3, "infer": 8192},
    "toy": {"units": (8, 4), "timesteps": {4: 256}, "repeats": 1, "infer": 512},
}


def _data(n: int, timesteps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows and one-hot labels with a learnable signal (the label is the sign of a feature's sum)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, timesteps, N_FEATURES), dtype=np.float32)
    s = x[:, :, 0].sum(axis=1) / np.sqrt(timesteps)
    y = np.digitize(s, [-0.43, 0.43])
    return x, np.eye(3, dtype="float32")[y]


def _model(timesteps: int, units: tuple[int, ...], *, unroll: bool, seed: int = 0) -> Any:
    from models.learn.backend import seed_everything
    from models.learn.lstm import build_lstm_classifier

    seed_everything(seed)
    return build_lstm_classifier(timesteps, N_FEATURES, units=units, unroll=unroll, seed=seed)


def numerics(timesteps: int, units: tuple[int, ...], n: int) -> dict[str, float]:
    """Differences loop vs unrolled (same seed) and loop seed 0 vs seed 1, forward, after 1 step and 1 epoch."""
    x, y = _data(n, timesteps, seed=1)
    probe = x[:512]
    loop, unrolled, other = (
        _model(timesteps, units, unroll=False),
        _model(timesteps, units, unroll=True),
        _model(timesteps, units, unroll=False, seed=1),
    )
    out = {
        "forward_max_abs_diff": float(np.abs(loop.predict(probe, verbose=0) - unrolled.predict(probe, verbose=0)).max())
    }
    losses = {}
    for name, m in (("loop", loop), ("unroll", unrolled), ("seed1", other)):
        losses[name] = m.train_on_batch(x[:BATCH], y[:BATCH])
        losses[name] = float(np.ravel(losses[name])[0])
    p = {k: m.predict(probe, verbose=0) for k, m in (("loop", loop), ("unroll", unrolled), ("seed1", other))}
    out["step1_loss_diff"] = abs(losses["loop"] - losses["unroll"])
    out["step1_max_abs_diff"] = float(np.abs(p["loop"] - p["unroll"]).max())
    hist = {}
    for name, m in (("loop", loop), ("unroll", unrolled), ("seed1", other)):
        hist[name] = m.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history["loss"][-1]
    p = {k: m.predict(probe, verbose=0) for k, m in (("loop", loop), ("unroll", unrolled), ("seed1", other))}
    out["epoch1_loss_loop"] = float(hist["loop"])
    out["epoch1_loss_unroll"] = float(hist["unroll"])
    out["epoch1_loss_seed1"] = float(hist["seed1"])
    out["epoch1_mean_abs_diff_unroll"] = float(np.abs(p["loop"] - p["unroll"]).mean())
    out["epoch1_mean_abs_diff_seeds"] = float(np.abs(p["loop"] - p["seed1"]).mean())
    return out


def memory(timesteps: int, units: tuple[int, ...], n: int, unroll: bool) -> dict[str, float]:
    """Peak RSS above the start of building and training one epoch (call in a fresh process)."""
    import resource

    import keras  # noqa: F401  (loads TensorFlow before the baseline is read)

    from benchmarks.common import rss_mib

    x, y = _data(n, timesteps)
    before = rss_mib()
    t0 = time.perf_counter()
    _model(timesteps, units, unroll=unroll).fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    return {
        "peak_delta_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
        "first_epoch_s": time.perf_counter() - t0,
    }


def predict_rate(
    weights: str, windows: str, out: str, timesteps: int, units: list[int], repeats: int
) -> dict[str, Any]:
    """Windows/s of the model's batched predictions on this process's Keras backend (fresh process)."""
    import keras

    from models.learn.lstm import build_lstm_classifier

    x = np.load(windows)
    model = build_lstm_classifier(timesteps, N_FEATURES, units=tuple(units))
    model.load_weights(weights)

    def predict() -> np.ndarray:
        return np.concatenate([np.asarray(model.predict_on_batch(x[lo : lo + 1024])) for lo in range(0, len(x), 1024)])

    probs = predict()  # tracing
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict()
        rates.append(len(x) / (time.perf_counter() - t0))
    np.save(out, probs)
    return {"backend": keras.backend.backend(), "rates": rates}


def _one_epoch(model: Any, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)


def jax_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("jax") is not None


def run(*, scale: Scale = "full", repeats: int | None = None, isolate: bool = True) -> dict[str, Any]:
    """Measure; see the module docstring. ``isolate=False`` skips the fresh-process parts (smoke test)."""
    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    units: tuple[int, ...] = size["units"]
    figures: dict[str, Figure] = {}
    notes: list[str] = []
    peak, peak_rate = matmul_peak(scale)
    figures.update(peak)
    notes.append(f"matmul peak used: {peak_rate:.1f} GFLOP/s (best median of NumPy and TensorFlow fp32 2048^2)")
    for timesteps, n in size["timesteps"].items():
        x, y = _data(n, timesteps)
        models = {u: _model(timesteps, units, unroll=u == "unroll") for u in ("loop", "unroll")}
        for name, m in models.items():
            t0 = time.perf_counter()
            m.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)
            figures[f"t{timesteps}_{name}_first_call_s"] = Figure("s", [time.perf_counter() - t0])
        times = side_by_side({name: _one_epoch(m, x, y) for name, m in models.items()}, repeats=reps, warmup=False)
        flops = lstm_train_flops(timesteps, N_FEATURES, units)
        for name in models:
            rates = [n / t for t in times[name]]
            figures[f"t{timesteps}_{name}_samples_per_s"] = Figure("samples/s", rates, "higher")
            figures[f"t{timesteps}_{name}_share_of_matmul_peak"] = Figure(
                "ratio", [r * flops / 1e9 / peak_rate for r in rates], "higher"
            )
        figures[f"t{timesteps}_unroll_over_loop"] = Figure("ratio", ratios(times["loop"], times["unroll"]), "higher")
        if isolate:
            for name in ("loop", "unroll"):
                mem = in_fresh_process("lstm", f"memory({timesteps}, {units!r}, {n}, {name == 'unroll'})")
                figures[f"t{timesteps}_{name}_train_peak_rss_mib"] = Figure("MiB", [mem["peak_delta_mib"]])
    first_t = next(iter(size["timesteps"]))
    for key, value in numerics(first_t, units, size["timesteps"][first_t]).items():
        figures[f"t{first_t}_{key}"] = Figure("ratio" if "loss" in key or "diff" in key else "s", [value])
    if isolate:
        _jax_inference(figures, notes, units=units, timesteps=first_t, n=size["infer"], repeats=reps)
    default = figures[f"t{first_t}_loop_share_of_matmul_peak"].median
    best = max(figures[f"t{first_t}_{name}_share_of_matmul_peak"].median for name in ("loop", "unroll"))
    notes.append(f"default timesteps: loop {default:.0%} of the matmul peak, best variant {best:.0%}")
    return result(
        NAME,
        goal=GOAL,
        headline=f"t{first_t}_unroll_over_loop",
        figures=figures,
        met=bool(best >= 0.4) if scale == "full" else None,
        params={
            "units": list(units),
            "n_features": N_FEATURES,
            "batch_size": BATCH,
            "samples_per_call": {str(k): v for k, v in size["timesteps"].items()},
            "repeats": reps,
        },
        notes=notes,
    )


def _jax_inference(
    figures: dict[str, Figure], notes: list[str], *, units: tuple[int, ...], timesteps: int, n: int, repeats: int
) -> None:
    if not jax_available():
        notes.append("JAX not measured: jax is not installed (pip install jax)")
        return
    with workspace() as scratch:
        weights, windows = scratch / "model.weights.h5", scratch / "x.npy"
        _model(timesteps, units, unroll=False).save_weights(weights)
        np.save(windows, _data(n, timesteps, seed=2)[0])
        rates: dict[str, list[float]] = {"tensorflow": [], "jax": []}
        for i in range(2):  # alternate processes: tf, jax, tf, jax
            for backend in rates:
                out = scratch / f"{backend}{i}.npy"
                res = in_fresh_process(
                    "lstm",
                    f"predict_rate({str(weights)!r}, {str(windows)!r}, {str(out)!r}, {timesteps}, {list(units)!r}, "
                    f"{repeats})",
                    env={"KERAS_BACKEND": backend},
                )
                if res["backend"] != backend:
                    raise RuntimeError(f"asked for Keras backend {backend}, got {res['backend']}")
                rates[backend] += res["rates"]
        diff = float(np.abs(np.load(scratch / "tensorflow0.npy") - np.load(scratch / "jax0.npy")).max())
    flops = lstm_forward_flops(timesteps, N_FEATURES, units)
    for backend, values in rates.items():
        figures[f"infer_{backend}_windows_per_s"] = Figure("windows/s", values, "higher")
    figures["infer_jax_over_tensorflow"] = Figure("ratio", ratios(rates["jax"], rates["tensorflow"]), "higher")
    figures["infer_jax_max_abs_prob_diff"] = Figure("ratio", [diff])
    notes.append(f"inference: forward {flops / 1e6:.2f} MFLOP per window, batches of 1,024, same weights")
