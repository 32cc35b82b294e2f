"""The parser and helpers of ``flows.cli.commands`` (test_cli.py runs the commands end to end)."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
from pydantic import ValidationError

from flows.cli.commands import SERVER_STARTUP_TIMEOUT_VAR, _check_dates, _nothing_found, _parser, one_line
from models.learn.config import WalkForwardConfig


def test_every_command_parses_its_defaults() -> None:
    parser = _parser()
    assert parser.parse_args(["report"]).format == "table"
    assert parser.parse_args(["daily"]).min_coverage == 0.9
    assert parser.parse_args(["backtest"]).use_cache is True
    assert parser.parse_args(["backtest", "--no-cache"]).use_cache is False
    assert parser.parse_args(["train", "--force"]).force is True
    assert parser.parse_args(["models", "show"]).model_id is None


def test_an_empty_report_echoes_what_was_asked() -> None:
    args = _parser().parse_args(["report"])
    assert _nothing_found(args) == "no daily predictions for date=latest"
    args = _parser().parse_args(["report", "--kind", "backtest", "--run-id", "r1", "--start", "2020-01-02"])
    assert _nothing_found(args) == "no backtest predictions for start=2020-01-02 run_id=r1"
    args = _parser().parse_args(["report", "--kind", "settled"])
    assert _nothing_found(args) == "no settled predictions for any date"


def test_dates_in_the_future_or_reversed_are_refused_before_any_flow() -> None:
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with pytest.raises(ValueError, match="end"):
        _check_dates(argparse.Namespace(start=None, end=tomorrow))
    with pytest.raises(ValueError, match="start"):
        _check_dates(argparse.Namespace(start="2020-02-01", end="2020-01-01"))
    _check_dates(argparse.Namespace(start="2020-01-01", end="2020-02-01", as_of=None))  # fine: no error


def test_one_line_for_pydantic_errors_and_a_slow_prefect_server(monkeypatch) -> None:
    with pytest.raises(ValidationError) as exc:
        WalkForwardConfig(blocks=1, seeds=())
    assert one_line(exc.value) == (
        "blocks: Input should be greater than or equal to 2 (got 1); "
        "seeds: Tuple should have at least 1 item after validation, not 0 (got ())"
    )
    monkeypatch.setenv(SERVER_STARTUP_TIMEOUT_VAR, "77")
    message = one_line(RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server"))
    assert message.startswith("Prefect's temporary server did not start within 77 s")
    assert one_line(ValueError("plain")) == "plain"
