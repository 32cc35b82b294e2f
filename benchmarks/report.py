"""The results table of ``BENCHMARKS.md`` from a results JSON (``python -m benchmarks --report``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# measurement, result key, figure shown, how to print it
ROWS: list[tuple[str, str, str, str]] = [
    ("1. Training: pipeline (2 workers) / plain NumPy `fit` throughput", "training", "workers2_over_numpy", "{:.2f}x"),
    ("1. Training: stacked LSTM GFLOP/s / fp32 matmul (plain)", "training", "numpy_share_of_matmul_peak", "{:.0%}"),
    ("2. Peak memory building windows / feature matrix", "memory", "peak_traced_over_matrix", "{:.2f}x"),
    ("3. Features, 500 x 5,000", "features", "compute_features_s", "{:.2f} s"),
    ("4. Store read, 500 tickers x 20 years", "store", "read_20y_s", "{:.2f} s"),
    ("5. Daily flow, 500 tickers (cold, incl. server start)", "daily", "flow_cold_s", "{:.1f} s"),
    ("5. Daily flow: orchestration share (warm)", "daily", "overhead_share_warm", "{:.0%}"),
    ("6. Champion inference", "inference", "predict_proba_windows_per_s", "{:,.0f} windows/s"),
    ("7. `updown backtest` on the sample", "backtest", "wall_s", "{:.0f} s"),
    ("8. `updown --help` / `python -c 'import pandas'`", "cli", "help_over_import_pandas", "{:.2f}x"),
    ("8. `updown report` / `python -c 'import pandas'`", "cli", "report_over_import_pandas", "{:.2f}x"),
    ("9. Universe 500 x 5 y backtest: peak RSS", "universe", "max_rss_gib", "{:.2f} GiB"),
    ("9. Universe: features + panel (one build)", "universe", "features_plus_panel_s", "{:.1f} s"),
    ("9. Universe: baselines' share of the wall time", "universe", "stage_baselines_exclusive_share", "{:.1%}"),
    ("9. Universe: wall / (epochs x samples / throughput)", "universe", "wall_over_estimate", "{:.2f}x"),
    ("10. LSTM `unroll=True` / loop training, 30 steps", "lstm", "t30_unroll_over_loop", "{:.2f}x"),
    ("10. JAX / TensorFlow inference", "lstm", "infer_jax_over_tensorflow", "{:.2f}x"),
    ("11. Backtest on `dask:2` / local runner, speed", "scale_out", "dask2_over_local_speed", "{:.2f}x"),
    ("12. Gradient boosting, every core / 1 thread, 300,000 rows", "baselines", "gb_speedup_300000", "{:.2f}x"),
    ("13. TF 1 thread per op / every core, plain `fit`", "threads", "one_over_all_plain", "{:.2f}x"),
    ("13. Stacked LSTM / fp32 matmul, 1 thread per op", "threads", "one_plain_share_of_matmul_peak", "{:.0%}"),
]
# figure key -> (the goal as written in the table, its check on the median)
GOALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "workers2_over_numpy": (">= 0.9x", lambda v: v >= 0.9),
    "numpy_share_of_matmul_peak": (">= 40%", lambda v: v >= 0.4),
    "peak_traced_over_matrix": ("<= 1.5x", lambda v: v <= 1.5),
    "compute_features_s": ("<= 10 s", lambda v: v <= 10),
    "read_20y_s": ("<= 1 s", lambda v: v <= 1),
    "flow_cold_s": ("<= 60 s", lambda v: v <= 60),
    "overhead_share_warm": ("<= 20%", lambda v: v <= 0.2),
    "predict_proba_windows_per_s": (">= 5,000", lambda v: v >= 5000),
    "wall_s": ("<= 600 s", lambda v: v <= 600),
    "help_over_import_pandas": ("<= 2x", lambda v: v <= 2),
    "report_over_import_pandas": ("<= 2x", lambda v: v <= 2),
    "max_rss_gib": ("<= 6 GiB", lambda v: v <= 6),
    "features_plus_panel_s": ("<= 30 s", lambda v: v <= 30),
    "stage_baselines_exclusive_share": ("<= 10%", lambda v: v <= 0.1),
    "wall_over_estimate": ("<= 1.2x", lambda v: v <= 1.2),
    "t30_unroll_over_loop": ("> 1 to adopt", lambda v: v > 1),
    "infer_jax_over_tensorflow": ("> 1 to adopt", lambda v: v > 1),
    "dask2_over_local_speed": ("> 1 pays", lambda v: v > 1),
    "gb_speedup_300000": ("> 1 to adopt", lambda v: v > 1),
    "one_over_all_plain": ("> 1 to adopt", lambda v: v > 1),
    "one_plain_share_of_matmul_peak": (">= 40%", lambda v: v >= 0.4),
}


def markdown(results: dict[str, Any]) -> str:
    """One row per goal: measurement, goal, median (min-max over repeats), met?"""
    lines = ["| measurement | goal | result: median (min - max, repeats) | met? |", "|---|---|---|---|"]
    for label, bench, key, fmt in ROWS:
        res = results.get("results", {}).get(bench)
        if res is None or key not in res["figures"]:
            lines.append(f"| {label} | {GOALS[key][0]} | not run | - |")
            continue
        fig = res["figures"][key]
        spread = f"{fmt.format(fig['min'])} - {fmt.format(fig['max'])}, n={len(fig['repeats'])}"
        goal, check = GOALS[key]
        met = "yes" if check(fig["median"]) else "**no**"
        lines.append(f"| {label} | {goal} | {fmt.format(fig['median'])} ({spread}) | {met} |")
    return "\n".join(lines)
