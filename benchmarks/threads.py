"""13. TensorFlow's threads per op on a small machine: 1 (updown's default up to 2 cores) vs every core.

TensorFlow reads ``TF_NUM_INTRAOP_THREADS`` once, when it starts its thread pools, so each
contender runs in a fresh process, alternating ``1, 0, 1, 0 ...`` (``0`` = TensorFlow's default,
every core) for ``repeats`` rounds. In each process, on the same windows:

* **training**: the default stacked LSTM 128/64 (30 timesteps x 14 features, batch 256) built
  from seed 0 with deterministic ops on, as :meth:`models.learn.classifier.LSTMClassifier.fit`
  builds it; one untimed epoch (graph tracing), then timed epochs of plain ``model.fit`` on a
  float32 array and of the pipeline's own input, :class:`models.learn.batches.WindowBatches`
  (2 gathering threads) over a :class:`features.windows.WindowSet`: samples/s, and GFLOP/s
  (:func:`benchmarks.common.lstm_train_flops`) as a share of the machine's fp32 matmul peak,
  measured on every core;
* **inference**: the forward pass in batches of 1,024 as
  :func:`models.learn.classifier.forward_proba` runs it: windows/s;
* **numerics**: the probabilities after the untimed epoch (same seed, same data, no shuffle),
  compared between the two settings: 0 means equal to the bit.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from benchmarks.common import (
    Figure,
    Scale,
    check_scale,
    in_fresh_process,
    lstm_train_flops,
    matmul_peak,
    ratios,
    result,
    size_params,
    workspace,
)

NAME = "threads"
GOAL = "LSTM training >= 40% of fp32 matmul GFLOP/s: TensorFlow 1 thread per op vs every core (2-core machine)"

N_FEATURES = 14
BATCH = 256
SIZES: dict[str, dict[str, Any]] = {
    "full": {"units": (128, 64), "timesteps": 30, "samples": 4096, "epochs": 2, "infer": 10240, "repeats": 4},
    "quick": {"units": (128, 64), "timesteps": 30, "samples": 2048, "epochs": 1, "infer": 4096, "repeats": 2},
    "toy": {"units": (8, 4), "timesteps": 4, "samples": 256, "epochs": 1, "infer": 256, "repeats": 1},
}
SETTINGS = {"one": "1", "all": "0"}  # contender -> TF_NUM_INTRAOP_THREADS


def _data(n: int, timesteps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (n + timesteps - 1, F), window ends (n,) and labels (n,) with a learnable signal."""
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((n + timesteps - 1, N_FEATURES), dtype=np.float32)
    ends = np.arange(timesteps - 1, n + timesteps - 1)
    s = np.convolve(rows[:, 0], np.ones(timesteps), mode="valid") / np.sqrt(timesteps)
    return rows, ends, np.digitize(s, [-0.43, 0.43])


def measure(size: dict[str, Any], probs_out: str) -> dict[str, Any]:
    """One contender, in this (fresh) process: rates per timed epoch, and the probabilities saved."""
    from features.windows import WindowSet
    from models.learn.backend import seed_everything
    from models.learn.batches import WindowBatches
    from models.learn.lstm import build_lstm_classifier

    t, n, units = size["timesteps"], size["samples"], tuple(size["units"])
    rows, ends, labels = _data(n, t)
    windows = WindowSet(rows, ends, timesteps=t)
    x, y = windows.take(np.arange(n)), np.eye(3, dtype="float32")[labels]
    batches = WindowBatches(windows, labels, batch_size=BATCH, shuffle=True, seed=0, workers=2)
    seed_everything(0)
    model = build_lstm_classifier(t, N_FEATURES, units=units, seed=0)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)  # tracing; the numerics probe
    probe = x[: min(n, 1024)]
    np.save(probs_out, np.asarray(model.predict_on_batch(probe)))
    out: dict[str, Any] = {
        # what TensorFlow was started with (its config API reports only values set through it)
        "env": os.environ.get("TF_NUM_INTRAOP_THREADS"),
        "plain": [],
        "pipeline": [],
        "infer": [],
    }
    model.fit(batches, epochs=1, verbose=0)  # the PyDataset path's own tracing
    for _ in range(size["epochs"]):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
        out["plain"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        model.fit(batches, epochs=1, verbose=0)
        out["pipeline"].append(n / (time.perf_counter() - t0))
    xi = np.resize(x, (size["infer"], t, N_FEATURES))
    model.predict_on_batch(xi[:1024])
    for _ in range(size["epochs"]):
        t0 = time.perf_counter()
        for lo in range(0, len(xi), 1024):
            model.predict_on_batch(xi[lo : lo + 1024])
        out["infer"].append(len(xi) / (time.perf_counter() - t0))
    return out


def _subprocess(size: dict[str, Any], threads: str, probs_out: str) -> dict[str, Any]:
    out: dict[str, Any] = in_fresh_process(
        "threads", f"measure({size!r}, {probs_out!r})", env={"TF_NUM_INTRAOP_THREADS": threads}
    )
    return out


def run(*, scale: Scale = "full", repeats: int | None = None) -> dict[str, Any]:
    """Measure; see the module docstring."""
    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    peak, peak_rate = matmul_peak(scale)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SETTINGS}
    with workspace() as scratch:
        for i in range(reps):
            for name, threads in SETTINGS.items():
                runs[name].append(_subprocess(size, threads, str(scratch / f"{name}{i}.npy")))
        probs = {name: np.load(scratch / f"{name}0.npy") for name in SETTINGS}
    flops = lstm_train_flops(size["timesteps"], N_FEATURES, tuple(size["units"]))
    figures: dict[str, Figure] = dict(peak)
    per_round: dict[str, dict[str, list[float]]] = {}
    for name, rs in runs.items():
        per_round[name] = {k: [float(np.median(r[k])) for r in rs] for k in ("plain", "pipeline", "infer")}
        for kind in ("plain", "pipeline"):
            rates = [v for r in rs for v in r[kind]]
            figures[f"{name}_{kind}_samples_per_s"] = Figure("samples/s", rates, "higher")
            figures[f"{name}_{kind}_share_of_matmul_peak"] = Figure(
                "ratio", [v * flops / 1e9 / peak_rate for v in rates], "higher"
            )
        figures[f"{name}_infer_windows_per_s"] = Figure("windows/s", [v for r in rs for v in r["infer"]], "higher")
    for kind in ("plain", "pipeline", "infer"):
        figures[f"one_over_all_{kind}"] = Figure(
            "ratio", ratios(per_round["one"][kind], per_round["all"][kind]), "higher"
        )
    figures["max_abs_prob_diff"] = Figure("ratio", [float(np.abs(probs["one"] - probs["all"]).max())])
    share = figures["one_plain_share_of_matmul_peak"].median
    return result(
        NAME,
        goal=GOAL,
        headline="one_plain_share_of_matmul_peak",
        figures=figures,
        met=bool(share >= 0.4) if scale == "full" else None,
        params={
            **size_params(size),
            "repeats": reps,
            "threads_seen": {name: [r["env"] for r in rs] for name, rs in runs.items()},
        },
        notes=[
            f"matmul peak used: {peak_rate:.1f} GFLOP/s (best median of NumPy and TensorFlow on every core)",
            "one = TF_NUM_INTRAOP_THREADS=1 (updown's default on <= 2 cores), all = 0 (TensorFlow's default); "
            "ratios are per round, each round's two processes run back to back",
        ],
    )
