"""12. The baselines at universe scale: gradient boosting on one thread vs every core, by training rows.

Sets :data:`models.learn.baselines.PARALLEL_ROWS` (issue 18 point 4): the gradient-boosting
baseline (50 trees of depth 3, 3 classes, 5 lags x 14 features) fitted and predicting on the same
rows with ``threads=1`` and ``threads=None`` (every core), interleaved, at growing training sizes
(the test slice is 0.4x the training slice, as in the default walk-forward). The probabilities of
the two must be equal to the bit (``same_result``). At the largest size, every baseline of
:func:`models.learn.baselines.fit_baselines` is timed once with the default settings, for the
per-baseline breakdown of the universe benchmark's ``baselines`` stage.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.common import Figure, Scale, check_scale, result, side_by_side, synthetic_prices

NAME = "baselines"
GOAL = "gradient-boosting baseline: every core from the training size where it pays (informative)"

SIZES: dict[str, dict[str, Any]] = {
    "full": {"tickers": 500, "days": 1260, "rows": [10_000, 30_000, 100_000, 300_000], "repeats": 2},
    "quick": {"tickers": 100, "days": 1260, "rows": [5_000, 20_000, 60_000], "repeats": 2},
    "toy": {"tickers": 3, "days": 400, "rows": [300, 600], "repeats": 1},
}


def run(*, scale: Scale = "full", repeats: int | None = None) -> dict[str, Any]:
    """Time the gradient-boosting baseline on 1 thread and on every core, and every baseline once."""
    from features.dataset import DatasetConfig, build_panel
    from models.learn.baselines import PARALLEL_ROWS, BaselineData, GradientBoostingBaseline, fit_baselines

    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    prices = synthetic_prices(size["tickers"], size["days"])
    panel = build_panel(prices, DatasetConfig())
    inputs = BaselineData.from_panel(panel, adj_close=prices["adj_close"].to_numpy(), lags=5)
    samples = panel.samples(labeled=True)
    order = samples[np.argsort(panel.dates[samples], kind="stable")]  # chronological, as a block's slices
    figures: dict[str, Figure] = {}
    same = True
    crossover = None
    for n in size["rows"]:
        n_train = min(n, int(len(order) / 1.4))
        train = inputs.take(order[:n_train])
        test = inputs.take(order[n_train : n_train + int(0.4 * n_train)])
        probs: dict[str, np.ndarray] = {}

        def fit_predict(
            threads: int | None, key: str, train: Any = train, test: Any = test, probs: Any = probs
        ) -> None:
            probs[key] = GradientBoostingBaseline(threads=threads).fit(train).predict_proba(test)

        times = side_by_side(
            {"one": lambda: fit_predict(1, "one"), "all": lambda: fit_predict(None, "all")},
            repeats=reps,
            warmup=False,
        )
        same &= bool(np.array_equal(probs["one"], probs["all"]))
        figures[f"gb_1_thread_{n_train}_s"] = Figure("s", times["one"])
        figures[f"gb_all_cores_{n_train}_s"] = Figure("s", times["all"])
        speedup = Figure("ratio", [a / b for a, b in zip(times["one"], times["all"], strict=True)], better="higher")
        figures[f"gb_speedup_{n_train}"] = speedup
        if crossover is None and speedup.median > 1.0:
            crossover = n_train
    last = size["rows"][-1]
    n_train = min(last, int(len(order) / 1.4))
    train, test = inputs.take(order[:n_train]), inputs.take(order[n_train : n_train + int(0.4 * n_train)])
    history = inputs.take(samples)
    per_baseline: dict[str, float] = {}
    for name in ("class_prior", "majority_class", "label_persistence", "logistic_regression", "gradient_boosting",
                 "momentum"):  # fmt: skip
        t0 = time.perf_counter()
        fit_baselines(train, test, names=[name], history=history)
        per_baseline[name] = time.perf_counter() - t0
    figures["all_baselines_default_s"] = Figure("s", [sum(per_baseline.values())])
    headline = f"gb_speedup_{n_train}"
    return result(
        NAME,
        goal=GOAL,
        headline=headline,
        figures=figures,
        met=None,
        params={
            "tickers": size["tickers"],
            "days": size["days"],
            "train_rows": size["rows"],
            "repeats": reps,
            "features": inputs.X_lagged.shape[1],
            "parallel_rows": PARALLEL_ROWS,
            "same_result": same,
            "crossover_train_rows": crossover,
            "per_baseline_s_at_largest": per_baseline,
        },
    )
