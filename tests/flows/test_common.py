"""Pieces every flow shares: conditional flow retries, run names, a quiet log, price updates, epoch lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prefect import flow, task

from features.prices.sources.base import SourceError, SourceUnavailableError
from flows.common import (
    RunLoggerCallback,
    _transient,
    date_range,
    flow_retries,
    format_seconds,
    public_path,
    update_prices,
    working_root,
)
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


def test_run_names(monkeypatch: pytest.MonkeyPatch):
    from prefect.runtime import flow_run

    from flows.common import run_name

    monkeypatch.setitem(flow_run.FIELDS, "parameters", lambda: {"as_of": "2026-12-01", "end": None})
    assert run_name("daily", date_parameter="as_of")() == "daily-2026-12-01"
    today = pd.Timestamp.now(tz="America/New_York").date()
    assert run_name("train", date_parameter="end")() == f"train-{today:%Y-%m-%d}"
    assert run_name("backtest", clock=True)().startswith("backtest-20")


class _FinishedState:
    """What a task-retry condition is given: a state whose ``result()`` raises the run's error."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        return 1


@pytest.mark.parametrize(("error", "retry"), [
    (OSError("disk hiccup"), True),
    (ConnectionResetError("reset by peer"), True),  # an OSError
    (TimeoutError("read timed out"), True),
    (ValueError("tickers=[] is empty"), False),
    (SourceError("no such ticker: ZZZZ"), False),
    (SourceUnavailableError("yahoo unreachable"), False),  # must fail fast, not wait out retries
    (RuntimeError("a bug"), False),
    (None, False),  # nothing failed
])  # fmt: skip
def test_the_price_task_retries_only_transient_errors(error: BaseException | None, retry: bool):
    assert _transient(None, None, _FinishedState(error)) is retry


def test_format_seconds_rounds_and_switches_units():
    cases = {-3: "0s", 0.4: "0s", 0.6: "1s", 59.4: "59s", 59.6: "1m00s", 61: "1m01s", 3599: "59m59s", 3600: "1h00m",
             7260: "2h01m", 90061: "25h01m"}  # fmt: skip
    assert {s: format_seconds(s) for s in cases} == cases


def test_epoch_lines_without_an_epoch_count_give_no_eta(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="updown")
    callback = RunLoggerCallback()
    callback.set_params({})
    callback.on_epoch_end(2, {"val_loss": 0.5, "loss": 0.25})
    assert [r.getMessage() for r in caplog.records] == ["epoch 3: loss=0.2500, val_loss=0.5000"]


def test_eta_is_the_mean_epoch_time_times_the_epochs_left(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="updown")
    callback = RunLoggerCallback()
    callback.set_params({"epochs": 10})
    callback.on_train_begin()
    callback._started -= 60  # three epochs in 60 s: 20 s each, 7 left
    callback.on_epoch_end(2, {"loss": 0.5})
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == "epoch 3/10 (eta 2m20s): loss=0.5000"


def test_date_range_parses_and_refuses_a_reversed_pair():
    assert date_range("2020-01-02", None) == (pd.Timestamp("2020-01-02"), None)
    assert date_range(None, None) == (None, None)
    with pytest.raises(ValueError, match="start=2020-02-01 end=2020-01-01"):
        date_range("2020-02-01", "2020-01-01")
    with pytest.raises(ValueError, match="got end='soon'"):
        date_range(None, "soon")


def test_a_local_root_is_worked_in_place_and_its_paths_stay_local(tmp_path: Path):
    with working_root(str(tmp_path), pull=["prices"]) as root:
        assert root == tmp_path.resolve()
    inside = tmp_path.resolve() / "reports" / "r.html"
    assert public_path(str(tmp_path), tmp_path.resolve(), inside) == str(inside)
    assert public_path("s3://bucket/updown/", Path("/mirror"), "/mirror/reports/r.html") == (
        "s3://bucket/updown/reports/r.html"
    )
