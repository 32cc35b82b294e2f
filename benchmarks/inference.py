"""6. Inference throughput of the champion: ``LSTMClassifier.predict_windows`` in windows per second.

The champion is the default stacked LSTM (128/64, 30 timesteps, default features) trained for one
epoch on a small slice (:func:`benchmarks.common.train_champion`) and loaded back from the
registry (:func:`models.serving.registry.load_model`, ``safe_mode=True``), as the daily flow does; its
weights do not change its speed. Side by side with the same windows pre-materialised as one
NumPy array and fed to ``model.predict_on_batch`` in the same 1,024-window batches, which is the
bare cost of the forward pass.

Goal: >= 5,000 windows/s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    Figure,
    Scale,
    check_scale,
    lstm_forward_flops,
    ratios,
    result,
    side_by_side,
    synthetic_prices,
    train_champion,
    workspace,
)

NAME = "inference"
GOAL = "champion inference >= 5,000 windows/s"

SIZES: dict[str, dict[str, Any]] = {
    "full": {"tickers": 40, "days": 1300, "repeats": 5, "units": (128, 64)},
    "quick": {"tickers": 10, "days": 1300, "repeats": 3, "units": (128, 64)},
    "toy": {"tickers": 2, "days": 300, "repeats": 1, "units": (8, 4)},
}


def run(*, scale: Scale = "full", repeats: int | None = None, root: Path | None = None) -> dict[str, Any]:
    """Measure; ``root`` reuses a data root that already has a champion."""
    from features.dataset import build_panel
    from models.serving.registry import load_model

    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    batch = 1024
    with workspace() as scratch:
        if root is None:
            root = scratch / "data"
            train_champion(root, units=size["units"], days=400 if scale == "toy" else 700)
        loaded = load_model(root)
    config = loaded.dataset
    panel = build_panel(synthetic_prices(size["tickers"], size["days"], seed=11), config)
    rows = panel.samples(labeled=False)
    windows = loaded.windows(panel, rows)  # as predict_proba: normalised as each batch is gathered
    n = len(windows)
    x_np = windows.take(np.arange(n))
    model = loaded.model_

    def pipeline() -> None:
        loaded.predict_windows(windows)

    def bare() -> None:
        for lo in range(0, n, batch):
            x = x_np[lo : lo + batch]
            if len(x) < batch:
                x = np.concatenate([x, np.zeros((batch - len(x), *x.shape[1:]), dtype=x.dtype)])
            model.predict_on_batch(x)

    times = side_by_side({"predict_proba": pipeline, "numpy": bare}, repeats=reps)
    units = tuple(int(layer.units) for layer in model.layers if hasattr(layer, "units"))[:-1]
    flops = lstm_forward_flops(config.timesteps, len(config.features), units)
    figures = {
        "predict_proba_windows_per_s": Figure("windows/s", [n / t for t in times["predict_proba"]], "higher"),
        "numpy_windows_per_s": Figure("windows/s", [n / t for t in times["numpy"]], "higher"),
        "predict_proba_over_numpy_ratio": Figure("ratio", ratios(times["numpy"], times["predict_proba"]), "higher"),
        "predict_proba_gflops": Figure("GFLOP/s", [n * flops / t / 1e9 for t in times["predict_proba"]], "higher"),
    }
    head = figures["predict_proba_windows_per_s"].median
    return result(
        NAME,
        goal=GOAL,
        headline="predict_proba_windows_per_s",
        figures=figures,
        met=bool(head >= 5000) if scale != "toy" else None,
        params={
            "windows": n,
            "batch_size": batch,
            "units": list(units),
            "timesteps": config.timesteps,
            "repeats": reps,
        },
        notes=[f"forward FLOPs per window: {flops / 1e6:.2f} MFLOP"],
    )
