"""The backtest flow's task runner: ``--task-runner``, else ``$UPDOWN_TASK_RUNNER`` read when a run starts."""

import pytest
from prefect import flow
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from flows.backtest import SettingsTaskRunner, backtest_flow, configured_task_runner


def _workers(runner: object) -> int:
    assert isinstance(runner, ThreadPoolTaskRunner)
    return int(runner._max_workers)  # type: ignore[attr-defined]


def test_an_explicit_spec_wins_over_the_variable(monkeypatch):
    monkeypatch.setenv("UPDOWN_TASK_RUNNER", "threads:3")
    assert _workers(configured_task_runner("threads:2")) == 2
    assert _workers(configured_task_runner()) == 3
    monkeypatch.delenv("UPDOWN_TASK_RUNNER")
    assert _workers(configured_task_runner()) == 1  # local: one thread


def test_a_bad_variable_is_named(monkeypatch):
    monkeypatch.setenv("UPDOWN_TASK_RUNNER", "cluster")
    with pytest.raises(ValueError, match=r"^UPDOWN_TASK_RUNNER: task_runner must be .*got task_runner='cluster'"):
        configured_task_runner()
    with pytest.raises(ValueError, match=r"^task_runner must be"):
        configured_task_runner("cluster")


def test_the_flow_reads_the_variable_when_a_run_starts_not_at_import(monkeypatch):
    assert isinstance(backtest_flow.task_runner, SettingsTaskRunner)
    monkeypatch.setenv("UPDOWN_TASK_RUNNER", "threads:4")
    assert _workers(backtest_flow.task_runner.duplicate()) == 4
    monkeypatch.setenv("UPDOWN_TASK_RUNNER", "threads:5")
    assert _workers(backtest_flow.task_runner.duplicate()) == 5
    assert _workers(SettingsTaskRunner()) == 1  # used as it is: local


def test_a_flow_run_gets_the_runner_of_the_variable(prefect_harness, monkeypatch):
    @flow(task_runner=SettingsTaskRunner())
    def which_runner() -> int:
        context = FlowRunContext.get()
        assert context is not None
        return _workers(context.task_runner)

    monkeypatch.setenv("UPDOWN_TASK_RUNNER", "threads:3")
    assert which_runner() == 3
