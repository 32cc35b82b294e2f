"""15. LSTM kernels on the CPU: Keras's loop on TensorFlow, the same model under XLA, and a fused LSTM kernel.

Goal 1 of issue 18 asks the default stacked LSTM to train at 40% of the fp32 matmul peak. Its
loop runs small products one timestep at a time (section "1. Training" of BENCHMARKS.md); the
usual answers are a compiler that fuses the loop's element-wise work (XLA) or a fused LSTM kernel
(oneDNN's RNN primitive). Keras 3 on TensorFlow uses neither on a CPU, so this measures what they
would give, each in a fresh process, alternating ``tf_loop, tf_xla, torch_fused`` for ``repeats``
rounds, on the same shapes (30 timesteps x 14 features, LSTM 128 then 64 units with dropout 0.2
after each, softmax over 3 classes, categorical cross-entropy, Adam 1e-3, batch 256):

* **tf_loop**: updown's model as :meth:`models.learn.classifier.LSTMClassifier.fit` trains it
  (:func:`models.learn.lstm.build_lstm_classifier`, seeded, deterministic ops, plain ``fit``);
* **tf_xla**: the same model compiled with ``jit_compile=True``. Keras refuses XLA while
  TensorFlow's deterministic ops are on, so this one is built without them;
* **torch_fused**: the same architecture in PyTorch (``torch.nn.LSTM``), whose CPU LSTM runs
  oneDNN's fused RNN primitive forward and backward (``aten::mkldnn_rnn_layer``; the process
  checks that it did, and reports the share of the time each kernel took). Skipped, with a
  note, where PyTorch is not installed (it is not a dependency of updown: ``pip install torch``).

Samples/s per timed epoch, and GFLOP/s (:func:`benchmarks.common.lstm_train_flops`, the same
count for all three) as a share of the machine's fp32 matmul peak measured in this run.
"""

from __future__ import annotations

import importlib.util
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
)

NAME = "kernels"
GOAL = "LSTM training >= 40% of fp32 matmul GFLOP/s: Keras's TF loop vs XLA vs a fused oneDNN LSTM kernel"

N_FEATURES = 14
BATCH = 256
DROPOUT = 0.2
SIZES: dict[str, dict[str, Any]] = {
    "full": {"units": (128, 64), "timesteps": 30, "samples": 4096, "epochs": 3, "repeats": 3},
    "quick": {"units": (128, 64), "timesteps": 30, "samples": 2048, "epochs": 2, "repeats": 1},
    "toy": {"units": (8, 4), "timesteps": 4, "samples": 256, "epochs": 1, "repeats": 1},
}
CONTENDERS = ("tf_loop", "tf_xla", "torch_fused")


def _data(n: int, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 windows and int labels with a learnable signal (the sign of a feature's sum)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, timesteps, N_FEATURES), dtype=np.float32)
    y = np.digitize(x[:, :, 0].sum(axis=1) / np.sqrt(timesteps), [-0.43, 0.43])
    return x, y


def tf_rates(size: dict[str, Any], xla: bool) -> list[float]:
    """Samples/s of timed epochs of the Keras model on TensorFlow, in this (fresh) process."""
    import keras

    from models.learn.backend import seed_everything
    from models.learn.lstm import build_lstm_classifier

    t, n, units = size["timesteps"], size["samples"], tuple(size["units"])
    x, labels = _data(n, t)
    y = np.eye(3, dtype="float32")[labels]
    if xla:  # deterministic ops would make Keras fall back to no XLA (model_supports_jit)
        keras.utils.set_random_seed(0)
        model = build_lstm_classifier(t, N_FEATURES, units=units, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", jit_compile=True)
        if not model.jit_compile:
            raise RuntimeError("Keras refused jit_compile=True")
    else:
        seed_everything(0)
        model = build_lstm_classifier(t, N_FEATURES, units=units, seed=0)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # tracing (and XLA's compilation)
    rates = []
    for _ in range(size["epochs"]):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
        rates.append(n / (time.perf_counter() - t0))
    return rates


def torch_rates(size: dict[str, Any]) -> dict[str, Any]:
    """Samples/s of timed epochs of the same architecture in PyTorch, in this (fresh) process.

    Threads: PyTorch's default (every core), as a user of it would run it; the result says how
    many, and whether the fused oneDNN LSTM kernels ran (from PyTorch's profiler).
    """
    import torch

    t, n, (u1, u2) = size["timesteps"], size["samples"], tuple(size["units"])
    x_np, y_np = _data(n, t)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm1 = torch.nn.LSTM(N_FEATURES, u1, batch_first=True)
            self.lstm2 = torch.nn.LSTM(u1, u2, batch_first=True)
            self.drop1, self.drop2 = torch.nn.Dropout(DROPOUT), torch.nn.Dropout(DROPOUT)
            self.head = torch.nn.Linear(u2, 3)  # softmax is inside the cross-entropy loss

        def forward(self, batch: Any) -> Any:
            h, _ = self.lstm1(batch)
            _, (last, _) = self.lstm2(self.drop1(h))
            return self.head(self.drop2(last[-1]))

    torch.manual_seed(0)
    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch() -> None:
        order = torch.randperm(n)
        for lo in range(0, n, BATCH):
            i = order[lo : lo + BATCH]
            optimizer.zero_grad()
            loss_fn(net(x[i]), y[i]).backward()
            optimizer.step()

    with torch.profiler.profile() as prof:
        epoch()  # warm-up, profiled once to see which kernels ran
    averages = prof.key_averages()
    ops = {e.key for e in averages}
    total = sum(e.self_cpu_time_total for e in averages) or 1.0
    shares = {e.key: e.self_cpu_time_total / total for e in averages}
    rates = []
    for _ in range(size["epochs"]):
        t0 = time.perf_counter()
        epoch()
        rates.append(n / (time.perf_counter() - t0))
    return {
        "rates": rates,
        "threads": torch.get_num_threads(),
        "fused": "aten::mkldnn_rnn_layer" in ops and "aten::mkldnn_rnn_layer_backward" in ops,
        "version": torch.__version__,
        # where the warm-up epoch's time went (self CPU time): the fused kernels, and dropout's random draws
        "time_shares": {
            name: round(shares.get(op, 0.0), 3)
            for name, op in (
                ("lstm_forward", "aten::mkldnn_rnn_layer"),
                ("lstm_backward", "aten::mkldnn_rnn_layer_backward"),
                ("dropout_draws", "aten::bernoulli_"),
            )
        },
    }


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def run(*, scale: Scale = "full", repeats: int | None = None) -> dict[str, Any]:
    """Measure; see the module docstring."""
    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    peak, peak_rate = matmul_peak(scale)
    notes = [f"matmul peak used: {peak_rate:.1f} GFLOP/s (best median of NumPy and TensorFlow on every core)"]
    contenders = [c for c in CONTENDERS if c != "torch_fused" or torch_available()]
    if "torch_fused" not in contenders:
        notes.append("torch_fused not measured: PyTorch is not installed (pip install torch)")
    per_round: dict[str, list[list[float]]] = {c: [] for c in contenders}
    torch_info: dict[str, Any] = {}
    for _ in range(reps):
        for name in contenders:
            if name == "torch_fused":
                res = in_fresh_process("kernels", f"torch_rates({size!r})")
                per_round[name].append(res.pop("rates"))
                torch_info = res
            else:
                per_round[name].append(in_fresh_process("kernels", f"tf_rates({size!r}, {name == 'tf_xla'})"))
    if torch_info and not torch_info["fused"]:
        notes.append("torch_fused: PyTorch did NOT run its fused oneDNN LSTM kernels here")
    flops = lstm_train_flops(size["timesteps"], N_FEATURES, tuple(size["units"]))
    figures: dict[str, Figure] = dict(peak)
    for name, rounds in per_round.items():
        rates = [v for r in rounds for v in r]
        figures[f"{name}_samples_per_s"] = Figure("samples/s", rates, "higher")
        figures[f"{name}_share_of_matmul_peak"] = Figure(
            "ratio", [v * flops / 1e9 / peak_rate for v in rates], "higher"
        )
    medians = {name: [float(np.median(r)) for r in rounds] for name, rounds in per_round.items()}
    for name in contenders[1:]:
        figures[f"{name}_over_tf_loop"] = Figure("ratio", ratios(medians[name], medians["tf_loop"]), "higher")
    best = max(figures[f"{name}_share_of_matmul_peak"].median for name in contenders)
    notes.append("ratios are per round: the medians of processes run back to back")
    return result(
        NAME,
        goal=GOAL,
        headline="tf_loop_share_of_matmul_peak",
        figures=figures,
        met=bool(best >= 0.4) if scale == "full" else None,
        params={
            **size_params(size),
            "repeats": reps,
            "batch_size": BATCH,
            "torch": torch_info,
            "tf_intraop_threads": os.environ.get("TF_NUM_INTRAOP_THREADS", "updown's default"),
        },
        notes=notes,
    )
