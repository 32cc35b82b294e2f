"""The prices flow, the update task every flow shares, and the ``prices`` CLI commands."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import flows.common
import flows.prices
from features.frame import fingerprint
from features.prices.sources import SourceError
from features.prices.store import PriceStore
from flows.cli.prices import add_prices_parser, format_update, run_prices_command
from flows.common import update_prices
from flows.exits import PARTIAL
from flows.prices import prices_update_flow
from tests.support import make_prices

SOURCE = "synthetic:tickers=3,days=60,seed=4"


def parser() -> argparse.ArgumentParser:
    """The CLI's shape: a --data-root parent and the command subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root")
    top = argparse.ArgumentParser(prog="updown")
    add_prices_parser(top.add_subparsers(dest="command", required=True), common)
    return top


@pytest.fixture
def without_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the flow's and the task's logic without a Prefect API (``.fn``)."""
    monkeypatch.setattr(flows.common, "update_prices", update_prices.fn)
    monkeypatch.setattr(flows.prices, "prices_update_flow", prices_update_flow.fn)


# -- the task ------------------------------------------------------------------------------------


def test_update_task_is_incremental_and_json_ready(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="updown"):
        first = update_prices.fn(SOURCE, ["SYN00", "SYN02"], None, None, str(tmp_path))
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "prices").glob("*.parquet")}

    second = update_prices.fn(SOURCE, ["SYN00", "SYN02"], None, None, str(tmp_path))

    assert first["tickers"] == ["SYN00", "SYN02"]
    assert first["changed_rows"] == {"SYN00": 60, "SYN02": 60}
    assert first["failures"] == {}
    assert first["fingerprint"] == fingerprint(PriceStore(tmp_path).read(["SYN00", "SYN02"]))
    assert json.loads(json.dumps(first))["report"]["tickers"][0]["status"] == "updated"
    assert second["changed_rows"] == {"SYN00": 0, "SYN02": 0}
    assert second["fingerprint"] == first["fingerprint"]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "prices").glob("*.parquet")} == mtimes
    logged = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert logged[0] == (
        logging.INFO,
        "prices from synthetic: 2 updated, 0 unchanged, 0 failed; 0 rows rejected, 0 flagged",
    )
    assert logged[1][0] == logging.DEBUG  # per-ticker detail: DEBUG unless it failed or was flagged
    assert logged[1][1].startswith(
        "SYN00: updated, 60 added, 0 changed, 0 rejected, 0 flagged (asked earliest..latest)"
    )


def test_update_task_reports_a_failed_ticker_and_keeps_the_others(tmp_path: Path) -> None:
    result = update_prices.fn(SOURCE, ["SYN01", "NOPE"], None, None, str(tmp_path))

    assert result["tickers"] == ["SYN01"]
    assert list(result["failures"]) == ["NOPE"]
    assert "has no prices for ['NOPE']" in result["failures"]["NOPE"]
    assert PriceStore(tmp_path).tickers() == ["SYN01"]


def test_update_task_raises_when_every_ticker_failed(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"2 of 2 tickers failed:\n  NOPE: .*\n  ZIP: "):
        update_prices.fn(SOURCE, ["NOPE", "ZIP"], None, None, str(tmp_path))

    assert PriceStore(tmp_path).tickers() == []


def test_update_task_rejects_bad_input_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"end must not be in the future .* got end=2999-01-01"):
        update_prices.fn(SOURCE, ["SYN00"], None, "2999-01-01", str(tmp_path))
    with pytest.raises(ValueError, match=r"ticker='\.\./x'"):
        update_prices.fn(SOURCE, ["../x"], None, None, str(tmp_path))

    assert not tmp_path.joinpath("prices").exists()


# -- the flow's logic ------------------------------------------------------------------------------


@pytest.mark.usefixtures("without_prefect")
def test_flow_refreshes_the_stored_tickers_by_default(tmp_path: Path) -> None:
    flows.prices.prices_update_flow(tickers=["SYN01"], source=SOURCE, data_root_dir=str(tmp_path))

    result = flows.prices.prices_update_flow(source=SOURCE, data_root_dir=str(tmp_path))

    assert result["tickers"] == ["SYN01"]
    assert result["changed_rows"] == {"SYN01": 0}


@pytest.mark.usefixtures("without_prefect")
def test_flow_with_an_empty_store_takes_everything_a_local_source_has(tmp_path: Path) -> None:
    result = flows.prices.prices_update_flow(source=SOURCE, end="2010-02-26", data_root_dir=str(tmp_path))

    assert result["tickers"] == ["SYN00", "SYN01", "SYN02"]
    assert PriceStore(tmp_path).read()["date"].max() == pd.Timestamp("2010-02-26")


# -- the CLI commands ------------------------------------------------------------------------------


def test_parser_reads_update_and_show() -> None:
    update = parser().parse_args(
        ["prices", "update", "--tickers", "A,B", "--start", "2020-1-2", "--source", "sample", "--data-root", "d"]
    )
    show = parser().parse_args(["prices", "show", "^GSPC", "--end", "2020-01-31", "--format", "csv"])

    assert (update.command, update.prices_command, update.tickers, update.start, update.end) == (
        "prices",
        "update",
        "A,B",
        "2020-01-02",
        None,
    )
    assert (update.source, update.data_root) == ("sample", "d")
    assert (show.prices_command, show.ticker, show.end, show.format, show.data_root) == (
        "show",
        "^GSPC",
        "2020-01-31",
        "csv",
        None,
    )


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["prices", "update", "--start", "2020-13-45"], r"start.*2020-13-45"),
        (["prices", "show", "AAPL", "--format", "xml"], r"invalid choice: 'xml'"),
        (["prices", "show"], r"required: ticker"),
        (["prices"], r"required: prices_command"),
    ],
)
def test_parser_errors_exit_2_naming_the_value(argv: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(argv)

    assert info.value.code == 2
    assert pytest.importorskip("re").search(match, capsys.readouterr().err)


def _stored(root: Path) -> PriceStore:
    store = PriceStore(root)
    store.write(make_prices({"AAPL": [10.0, 11.0, 12.0], "IBM": [5.0, 5.5, 6.0]}))
    return store


def test_show_prints_the_stored_prices_in_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _stored(tmp_path)
    base = ["prices", "show", "AAPL", "--start", "2020-01-02", "--data-root", str(tmp_path)]

    assert run_prices_command(parser().parse_args([*base, "--format", "csv"])) == 0
    csv = capsys.readouterr().out
    assert run_prices_command(parser().parse_args([*base, "--format", "json"])) == 0
    records = json.loads(capsys.readouterr().out)
    assert run_prices_command(parser().parse_args(base)) == 0
    table = capsys.readouterr().out

    assert csv.splitlines()[0] == "date,ticker,open,high,low,close,adj_close,volume"
    assert [line.split(",")[:2] + line.split(",")[5:] for line in csv.splitlines()[1:]] == [
        ["2020-01-02", "AAPL", "11.0", "11.0", "1000.0"],
        ["2020-01-03", "AAPL", "12.0", "12.0", "1000.0"],
    ]
    assert [(r["date"][:10], r["close"]) for r in records] == [("2020-01-02", 11.0), ("2020-01-03", 12.0)]
    assert table.splitlines()[1].split() == [
        "2020-01-02",
        "AAPL",
        "11.0000",
        "11.1100",
        "10.8900",
        "11.0000",
        "11.0000",
        "1000.0000",
    ]


def test_show_of_nothing_stored_is_an_error_naming_the_ticker(tmp_path: Path) -> None:
    _stored(tmp_path)

    with pytest.raises(ValueError, match=r"no stored prices for ticker='MSFT'"):
        run_prices_command(parser().parse_args(["prices", "show", "MSFT", "--data-root", str(tmp_path)]))
    with pytest.raises(ValueError, match=r"ticker='\.\./x'"):
        run_prices_command(parser().parse_args(["prices", "show", "../x", "--data-root", str(tmp_path)]))


@pytest.mark.usefixtures("without_prefect")
def test_update_command_prints_each_ticker_and_exits_partial_when_some_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["prices", "update", "--source", SOURCE, "--data-root", str(tmp_path)]

    assert run_prices_command(parser().parse_args([*argv, "--tickers", "SYN00"])) == 0
    ok = capsys.readouterr().out.splitlines()
    assert run_prices_command(parser().parse_args([*argv, "--tickers", "SYN00,NOPE"])) == PARTIAL  # 3
    partial = capsys.readouterr().out.splitlines()

    assert ok[1].split() == ["SYN00", "updated", "60", "0", "0", "0"]
    assert partial[1].split() == ["SYN00", "unchanged", "0", "0", "0", "0"]
    assert partial[2].startswith("NOPE         failed")
    assert "has no prices for ['NOPE']" in partial[2]


def test_format_update_lists_rejected_and_flagged_rows() -> None:
    issue = {
        "ticker": "A",
        "date": "2024-01-03",
        "rule": "missing_price",
        "action": "rejected",
        "detail": "close missing",
    }
    ticker: dict[str, Any] = {
        "ticker": "A",
        "status": "updated",
        "rows_added": 3,
        "rows_changed": 1,
        "rows_rejected": 1,
        "rows_flagged": 0,
        "refetched_full": True,
        "reason": "adj_close of ... differs",
    }

    text = format_update({"report": {"tickers": [ticker], "rejected": [issue], "flagged": []}})

    assert text.splitlines()[1:] == [
        "A            updated        3       1        1       0  full history refetched",
        "rejected: A 2024-01-03 missing_price: close missing",
    ]


# -- one real flow run -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_real_flow_run_updates_and_returns_the_report(tmp_path: Path) -> None:
    result = prices_update_flow(tickers=["SYN00", "NOPE"], source=SOURCE, data_root_dir=str(tmp_path))

    assert result["tickers"] == ["SYN00"]
    assert list(result["failures"]) == ["NOPE"]
    assert result["report"]["tickers"][0]["rows_added"] == 60
    assert PriceStore(tmp_path).tickers() == ["SYN00"]
