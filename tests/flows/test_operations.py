"""Operations helpers of the backtest flow: fold task settings, block progress, run artifacts.

The helpers every flow shares (flow retries, run names, the quiet log, epoch lines) are tested in test_common.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from flows.artifacts import DM_LOSS_NAMES, BlockProgress, backtest_markdown, headline_rows
from flows.backtest import run_fold_task


def test_fold_tasks_configure_no_timeout_prefect_cannot_enforce():
    # Prefect only warns ("Timeout of ... seconds configured for this task, but the task is running in a
    # worker thread") on every block: the task runner's threads cannot be interrupted.
    assert run_fold_task.timeout_seconds is None


def test_block_progress_logs_block_k_of_n(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="updown")
    progress = BlockProgress(run_id="20261201-000000-abcdef")  # outside a run: no artifact, no rename
    for k in range(1, 4):
        progress(k, 3)
    assert [r.getMessage() for r in caplog.records] == ["block 1 of 3 done", "block 2 of 3 done", "block 3 of 3 done"]


METRICS = {
    "run_id": "20261201-000000-abcdef",
    "verdict": "No significant edge: the model beats 1 of 2 baselines, not all of them.",
    "source": "sample",
    "tickers": ["AAPL", "MSFT"],
    "data_start": "2010-01-04",
    "data_end": "2013-12-31",
    "folds": [{}, {}, {}],
    "model": {"accuracy": 0.41, "log_loss": 1.05},
    "baselines": {"class_prior": {"accuracy": 0.38, "log_loss": 1.08}, "majority": {"accuracy": 0.4}},
    "comparisons": {
        "class_prior": {"p_value": 0.012, "loss": "log_loss"},
        "majority": {"p_value": 0.3, "loss": "zero_one"},
    },
    "config": {
        "dataset": {"timesteps": 20, "label": {"scheme": "fixed", "horizon": 5, "lag": 1, "band": 0.01}},
        "walk_forward": {"blocks": 3, "retrain_every": None, "window": "expanding", "seeds": [0], "warm_start": False},
        "model": {"units": [128, 64], "dropout": 0.2, "bidirectional": False, "optimizer": "adam",
                  "learning_rate": 0.001},
        "training": {"epochs": 5, "batch_size": 256, "patience": 2, "seed": 0},
    },
}  # fmt: skip


def test_backtest_artifacts_name_the_dm_loss_the_config_and_the_report(tmp_path: Path):
    rows = {r["subject"]: r for r in headline_rows(METRICS)}
    assert (rows["class_prior"]["dm_p_value"], rows["class_prior"]["dm_loss"]) == ("0.0120", DM_LOSS_NAMES["log_loss"])
    assert (rows["majority"]["dm_p_value"], rows["majority"]["dm_loss"]) == ("0.3000", DM_LOSS_NAMES["zero_one"])
    assert rows["model"]["dm_loss"] == ""
    run_dir = tmp_path / "reports" / "backtest" / METRICS["run_id"]
    text = backtest_markdown(METRICS, str(run_dir))
    assert "- source `sample`, tickers AAPL, MSFT, data 2010-01-04..2013-12-31" in text
    assert "- walk-forward: 3 blocks (blocks: 3), expanding window, seeds [0], warm start False" in text
    assert "- training: epochs 5, batch size 256, patience 2, seed 0" in text
    assert "- log-loss (per-date mean): class_prior" in text
    assert "- 0-1 loss, i.e. error rate (per-date mean): majority" in text
    assert f"[report.html]({(run_dir / 'report.html').as_uri()})" in text
    url = backtest_markdown(METRICS, "s3://bucket/updown/reports/backtest/x")
    assert "[report.html](s3://bucket/updown/reports/backtest/x/report.html)" in url
