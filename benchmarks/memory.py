"""2. Peak memory of building the training windows, against the size of the feature matrix.

The steps are those of :meth:`models.learn.classifier.LSTMClassifier.fit` up to the first batch:
:func:`features.dataset.build_panel` (features, labels, window validity), the
:class:`features.scaling.FeatureScaler` fitted on the rows up to the last training date, a
:class:`features.windows.WindowSet` over all labeled samples that reads the raw feature matrix and
normalises each window as it is gathered (no normalised copy of the matrix, as in
:meth:`models.learn.classifier.LSTMClassifier.fit` since 2026-12-02; before, a float32 copy of the
whole matrix took 0.5x of it), :class:`models.learn.batches.WindowBatches` and one gathered batch.

Each measurement runs in a fresh subprocess after the prices are in memory, twice:

* with ``tracemalloc`` (NumPy reports its buffers to it): the peak of traced allocations above
  the baseline, overall and per step (the step's own peak above what was live when it began);
* without it: ``ru_maxrss`` (the high-water RSS) minus the RSS before the first step.

The feature matrix is ``n_rows x n_features`` float64 (``Panel.X``). Goal: peak <= 1.5x of it, i.e.
no ``timesteps`` x blow-up (materialising every window would take ``timesteps/2`` x as float32).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import Figure, Scale, check_scale, in_fresh_process, result

NAME = "memory"
GOAL = "peak memory of building training windows (500 x 5,000 x default features) <= 1.5x the feature matrix"

SIZES: dict[str, dict[str, int]] = {
    "full": {"tickers": 500, "days": 5000, "repeats": 1},
    "quick": {"tickers": 100, "days": 5000, "repeats": 1},
    "toy": {"tickers": 3, "days": 300, "repeats": 1},
}
MIB = 2**20


def measure(tickers: int, days: int, *, trace: bool) -> dict[str, Any]:
    """Build the windows in this process and report memory (call in a fresh process)."""
    import tracemalloc

    import numpy as np

    from benchmarks.common import max_rss_mib, rss_mib, synthetic_prices
    from features.dataset import DatasetConfig, build_panel
    from features.scaling import FeatureScaler
    from features.windows import WindowSet
    from models.learn.batches import WindowBatches

    config = DatasetConfig()
    prices = synthetic_prices(tickers, days)
    rss0 = rss_mib()
    steps: dict[str, float] = {}
    if trace:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if trace else 0

    def step(name: str, fn: Any) -> Any:
        if not trace:
            return fn()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = fn()
        steps[name] = (tracemalloc.get_traced_memory()[1] - before) / MIB
        steps[f"{name}:live_after"] = (tracemalloc.get_traced_memory()[0] - base) / MIB
        return out

    peaks: list[float] = []
    t0 = time.perf_counter()
    panel = step("build_panel", lambda: build_panel(prices, config))
    if trace:
        peaks.append(tracemalloc.get_traced_memory()[1])
    rows = panel.samples(labeled=True)
    last = panel.dates[rows].max()
    # as LSTMClassifier.fit does: a row mask, not a copied slice of X
    scaler = step("scaler_fit", lambda: FeatureScaler().fit(panel.X, config.features, rows=panel.dates <= last))
    if trace:
        peaks.append(tracemalloc.get_traced_memory()[1])

    def windows_and_batch() -> Any:
        windows = WindowSet(panel.X, rows, timesteps=config.timesteps, scaler=scaler)
        batches = WindowBatches(windows, panel.label[rows], shuffle=True)
        return batches, batches[0]

    batches, first = step("windows_and_first_batch", windows_and_batch)
    if trace:
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    seconds = time.perf_counter() - t0
    x_mib = panel.X.nbytes / MIB
    return {
        "rows": len(panel.X),
        "samples": len(rows),
        "feature_matrix_mib": x_mib,
        "all_windows_float32_mib": len(rows) * config.timesteps * panel.X.shape[1] * 4 / MIB,
        "peak_traced_mib": (max(peaks) - base) / MIB if trace else None,
        "rss_before_mib": rss0,
        "rss_peak_delta_mib": max_rss_mib() - rss0,
        "steps_peak_mib": steps,
        "seconds": seconds,
        "batch_shape": list(np.shape(first[0])),
        "n_batches": len(batches),
    }


def _subprocess(tickers: int, days: int, *, trace: bool) -> dict[str, Any]:
    out: dict[str, Any] = in_fresh_process("memory", f"measure({tickers}, {days}, trace={trace})", env={})
    return out


def run(*, scale: Scale = "full", repeats: int | None = None, isolate: bool = True) -> dict[str, Any]:
    """Measure; see the module docstring.

    Args:
        scale: problem size.
        repeats: runs of each kind (default: the size's).
        isolate: run each measurement in a fresh subprocess; False runs them here (the RSS
            figure is then meaningless: for the smoke test only).
    """
    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    once = _subprocess if isolate else measure
    traced = [once(size["tickers"], size["days"], trace=True) for _ in range(reps)]
    rss = [once(size["tickers"], size["days"], trace=False) for _ in range(reps)]
    x_mib = traced[0]["feature_matrix_mib"]
    figures = {
        "feature_matrix_mib": Figure("MiB", [x_mib]),
        "peak_traced_mib": Figure("MiB", [r["peak_traced_mib"] for r in traced]),
        "peak_traced_over_matrix": Figure("ratio", [r["peak_traced_mib"] / x_mib for r in traced]),
        "rss_peak_delta_mib": Figure("MiB", [r["rss_peak_delta_mib"] for r in rss]),
        "rss_peak_delta_over_matrix": Figure("ratio", [r["rss_peak_delta_mib"] / x_mib for r in rss]),
        "all_windows_float32_mib": Figure("MiB", [traced[0]["all_windows_float32_mib"]]),
        "build_s": Figure("s", [r["seconds"] for r in rss]),
    }
    for name in traced[0]["steps_peak_mib"]:
        if not name.endswith(":live_after"):
            figures[f"step_{name}_peak_mib"] = Figure("MiB", [r["steps_peak_mib"][name] for r in traced])
    ratio = max(figures["peak_traced_over_matrix"].median, figures["rss_peak_delta_over_matrix"].median)
    return result(
        NAME,
        goal=GOAL,
        headline="peak_traced_over_matrix",
        figures=figures,
        met=bool(ratio <= 1.5),
        params={
            "tickers": size["tickers"],
            "days": size["days"],
            "rows": traced[0]["rows"],
            "samples": traced[0]["samples"],
            "repeats": reps,
        },
        notes=[
            "live after each step (MiB above baseline): "
            + ", ".join(
                f"{k.split(':')[0]} {v:.0f}"
                for k, v in traced[0]["steps_peak_mib"].items()
                if k.endswith(":live_after")
            ),
            "a step's peak is its own high-water mark above what was live when it began",
        ],
    )
