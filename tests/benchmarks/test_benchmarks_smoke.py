"""Smoke test of the benchmarks: each runs at toy size and returns well-formed numbers.

Not a timed test: nothing here asserts on a speed or a size, only on the shape of the results,
on the FLOP formula and on the per-ticker baseline computing the library's numbers.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import (
    backtest,
    baselines,
    cli_startup,
    daily,
    feature_engineering,
    inference,
    kernels,
    lstm,
    memory,
    scale_out,
    store_read,
    threads,
    training,
    universe,
)
from benchmarks.common import lstm_forward_flops, lstm_train_flops, synthetic_prices, train_champion


def check_well_formed(res: dict[str, Any], name: str) -> None:
    assert res["name"] == name
    assert res["headline"] in res["figures"]
    assert res["met"] in (True, False, None)
    for key, fig in res["figures"].items():
        assert fig["repeats"], key
        assert all(math.isfinite(v) for v in fig["repeats"]), (key, fig)
        assert fig["min"] <= fig["median"] <= fig["max"], (key, fig)
        if fig["unit"] in ("s", "samples/s", "windows/s", "rows/s", "GFLOP/s"):
            assert fig["min"] > 0, (key, fig)


@pytest.fixture(scope="module")
def prepared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with a toy store (3 tickers x 600 days) and a tiny champion."""
    root = tmp_path_factory.mktemp("bench") / "data"
    store_read.fill_store(root, 3, 600)
    train_champion(root, units=(8, 4), tickers=2, days=400)
    return root


def test_lstm_flops_formula() -> None:
    # stacked 128/64 on 30 x 14: 30*(2*4*128*142 + 10*128) + 30*(2*4*64*192 + 10*64) + 2*64*3
    assert lstm_forward_flops(30, 14, (128, 64)) == 7_369_344
    assert lstm_train_flops(30, 14, (128, 64)) == 3 * 7_369_344


def test_per_ticker_loop_gives_the_library_numbers() -> None:
    prices = synthetic_prices(2, 120)
    assert feature_engineering.check_same(prices) <= 1e-9
    loop = feature_engineering.loop_features(prices)
    assert len(loop) == len(prices)
    assert loop["rsi_14"].notna().sum() == 2 * (120 - 14)


def test_training_toy() -> None:
    res = training.run(scale="toy")
    check_well_formed(res, "training")
    assert res["figures"]["workers_same_result"]["median"] == 1.0
    assert {"workers2_over_numpy", "tf_data_over_numpy"} <= set(res["figures"])


def test_lstm_toy() -> None:
    res = lstm.run(scale="toy", isolate=False)
    check_well_formed(res, "lstm")
    figures = res["figures"]
    assert figures["t4_forward_max_abs_diff"]["median"] == 0.0  # same seed, same weights: the same forward pass
    assert figures["t4_unroll_over_loop"]["repeats"][0] == pytest.approx(
        figures["t4_unroll_samples_per_s"]["repeats"][0] / figures["t4_loop_samples_per_s"]["repeats"][0]
    )


def test_kernels_toy() -> None:
    res = kernels.run(scale="toy")
    check_well_formed(res, "kernels")
    assert res["figures"]["tf_xla_samples_per_s"]["repeats"]  # Keras accepted jit_compile in its process
    if kernels.torch_available():
        assert res["params"]["torch"]["fused"], "PyTorch's CPU LSTM did not run the fused oneDNN kernels"


def test_threads_toy() -> None:
    res = threads.run(scale="toy")
    check_well_formed(res, "threads")
    assert res["params"]["threads_seen"] == {"one": ["1"], "all": ["0"]}  # each ran with its own setting
    assert res["figures"]["max_abs_prob_diff"]["median"] >= 0.0
    assert res["figures"]["tf_matmul_gflops"]["median"] > 0


def test_stage_clock_counts_nested_stages_apart() -> None:
    clock = universe.StageClock(interval=0.01)
    try:
        with clock.stage("outer"):
            time.sleep(0.05)
            with clock.stage("inner"):
                time.sleep(0.05)
    finally:
        clock.restore()
    totals = clock.totals()
    assert totals["inner"]["calls"] == 1
    assert totals["outer"]["seconds"] >= totals["inner"]["seconds"] >= 0.05
    assert totals["outer"]["exclusive_s"] == pytest.approx(totals["outer"]["seconds"] - totals["inner"]["seconds"])
    assert totals["outer"]["peak_rss_mib"] > 0


def test_universe_toy() -> None:
    updown = logging.getLogger("updown")
    before = (updown.level, updown.propagate, list(updown.handlers))
    res = universe.run(scale="toy", isolate=False)
    check_well_formed(res, "universe")
    assert (updown.level, updown.propagate, list(updown.handlers)) == before  # later tests' caplog still sees it
    figures = res["figures"]
    for stage in ("load", "features", "panel", "lstm_fit", "baselines", "evaluation", "report"):
        assert figures[f"stage_{stage}_s"]["median"] > 0, stage
    assert [b["fold"] for b in res["params"]["blocks"]] == [0, 1, 2]
    assert res["params"]["trained_samples"] == sum(b["n_fit"] * b["epochs_run"] for b in res["params"]["blocks"])


def test_scale_out_command() -> None:
    cmd = scale_out.command(Path("/tmp/root"), scale_out.SIZES["toy"], "dask:2")
    assert cmd[-2:] == ["--task-runner", "dask:2"]
    assert cmd[cmd.index("--seeds") + 1] == "0,1"
    assert "--no-cache" in cmd


def test_memory_toy() -> None:
    res = memory.run(scale="toy", isolate=False)
    check_well_formed(res, "memory")
    assert res["figures"]["feature_matrix_mib"]["median"] == pytest.approx(3 * 300 * 14 * 8 / 2**20)


def test_features_toy() -> None:
    check_well_formed(feature_engineering.run(scale="toy"), "features")


def test_store_toy(prepared_root: Path) -> None:
    res = store_read.run(scale="toy", root=prepared_root)
    check_well_formed(res, "store")
    assert res["params"]["rows_read"]["20y"] == 3 * 600


def test_daily_plain_toy(prepared_root: Path) -> None:
    res = daily.run(scale="toy", root=prepared_root, prefect=False)
    check_well_formed(res, "daily")
    assert (prepared_root / "reports" / "daily").is_dir()


def test_inference_toy(prepared_root: Path) -> None:
    res = inference.run(scale="toy", root=prepared_root)
    check_well_formed(res, "inference")
    assert res["params"]["units"] == [8, 4]


def test_backtest_command_is_timed() -> None:
    res = backtest.run(scale="toy", command=[sys.executable, "-c", "print('run/folder')"])
    check_well_formed(res, "backtest")
    assert res["notes"] == ["last line of output: folder"]


def test_cli_startup_toy() -> None:
    res = cli_startup.run(scale="toy")
    check_well_formed(res, "cli")
    figures = res["figures"]
    for command in ("help", "report"):
        ratio = figures[f"{command}_over_import_pandas"]["repeats"][0]
        assert ratio == pytest.approx(figures[f"{command}_s"]["repeats"][0] / figures["import_pandas_s"]["repeats"][0])


def test_baselines_toy() -> None:
    res = baselines.run(scale="toy")
    check_well_formed(res, "baselines")
    assert res["params"]["same_result"] is True  # threads change the speed, never the probabilities
    assert set(res["params"]["per_baseline_s_at_largest"]) == {
        "class_prior", "majority_class", "label_persistence", "logistic_regression", "gradient_boosting", "momentum",
    }  # fmt: skip
