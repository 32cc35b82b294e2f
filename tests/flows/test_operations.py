"""Operations helpers every flow shares: conditional flow retries, run names, a quiet log, progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prefect import flow, task

from features.prices.sources.base import SourceUnavailableError
from flows.artifacts import DM_LOSS_NAMES, BlockProgress, backtest_markdown, headline_rows
from flows.backtest import run_fold_task
from flows.common import RunLoggerCallback, flow_retries, format_seconds, update_prices
from flows.daily import StalePricesError

ATTEMPTS: list[str] = []


@flow(retries=2, retry_delay_seconds=120, flow_run_name="flaky-{kind}")
def flaky(kind: str, failures: int = 1, deployments_only: bool = False) -> str:
    """Fails ``failures`` times with the error ``kind`` names, then succeeds."""
    with flow_retries((0, 0), deployments_only=deployments_only):
        ATTEMPTS.append(kind)
        if len(ATTEMPTS) <= failures:
            errors = {
                "io": OSError("disk hiccup"),
                "source-down": SourceUnavailableError("yahoo unreachable"),
                "stale": StalePricesError("stale prices"),
                "bad-input": ValueError("tickers=[] is empty"),
            }
            raise errors[kind]
    return "ok"


def _run_count(state) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).run_count


@pytest.fixture
def attempts() -> Iterator[list[str]]:
    ATTEMPTS.clear()
    yield ATTEMPTS
    ATTEMPTS.clear()


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(("kind", "failures", "final", "runs"), [
    ("io", 1, "COMPLETED", 2),
    ("source-down", 2, "COMPLETED", 3),
    ("source-down", 3, "FAILED", 3),  # retries exhausted
    ("stale", 1, "FAILED", 1),
    ("bad-input", 1, "FAILED", 1),
])  # fmt: skip
def test_flow_retries_only_transient_errors_with_their_own_delays(
    attempts: list[str], kind: str, failures: int, final: str, runs: int
):
    t0 = time.monotonic()
    state = flaky(kind, failures, return_state=True)
    assert state.type.value == final
    assert len(attempts) == runs
    assert _run_count(state) == runs
    # the decorator's fixed 120 s delay was replaced by this attempt's delay (0 s)
    assert time.monotonic() - t0 < 60


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_outside_a_deployment_fails_at_once_when_retries_are_for_deployments(attempts: list[str]):
    state = flaky("source-down", 1, deployments_only=True, return_state=True)  # as `updown daily` runs it
    assert state.type.value == "FAILED"
    assert (len(attempts), _run_count(state)) == (1, 1)


def test_flow_retries_does_nothing_outside_a_run():
    with pytest.raises(OSError, match="plain"), flow_retries((0,)):
        raise OSError("plain")


@task
def _broken() -> None:
    raise ValueError("tickers=['???'] are not valid symbols")


@flow
def _fails_in_a_task() -> None:
    _broken()


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_task_logs_its_traceback_once():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(n) for n in ("prefect.task_runs", "prefect.flow_runs")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        state = _fails_in_a_task(return_state=True)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    assert state.type.value == "FAILED"
    with_traceback = [r for r in records if r.exc_info]
    assert [r.name for r in with_traceback] == ["prefect.task_runs"]
    flow_line = [r.getMessage() for r in records if "Encountered exception" in r.getMessage()]
    assert flow_line == [
        "Encountered exception during execution: ValueError(\"tickers=['???'] are not valid symbols\") "
        "(traceback in the failed task run's log above)"
    ]


def test_price_update_logs_one_summary_line(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="updown")
    source = "synthetic:tickers=5,days=60,seed=1"
    update_prices.fn(source, None, None, None, str(tmp_path))
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert info == ["prices from synthetic: 5 updated, 0 unchanged, 0 failed; 0 rows rejected, 0 flagged"]
    assert len(debug) == 5  # one per ticker, for whoever asks for DEBUG
    assert [line.split(":")[0] for line in debug] == [f"SYN0{i}" for i in range(5)]


def test_epoch_lines_count_epochs_and_give_an_eta(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="updown")
    callback = RunLoggerCallback(prefix="seed 0 fold 1 ")
    callback.set_params({"epochs": 4, "steps": 10})
    callback.on_train_begin()
    callback._started -= 30  # as if the first epoch took 30 s
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.1})
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("seed 0 fold 1 epoch 1/4 (eta 1m30s): loss=1.0000, val_loss=1.1000")
    assert [format_seconds(s) for s in (0.4, 59, 61, 3599, 7260)] == ["0s", "59s", "1m01s", "59m59s", "2h01m"]


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


def test_run_names(monkeypatch: pytest.MonkeyPatch):
    from prefect.runtime import flow_run

    from flows.common import run_name

    monkeypatch.setitem(flow_run.FIELDS, "parameters", lambda: {"as_of": "2026-12-01", "end": None})
    assert run_name("daily", date_parameter="as_of")() == "daily-2026-12-01"
    today = pd.Timestamp.now(tz="America/New_York").date()
    assert run_name("train", date_parameter="end")() == f"train-{today:%Y-%m-%d}"
    assert run_name("backtest", clock=True)().startswith("backtest-20")
