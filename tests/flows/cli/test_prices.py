"""``updown prices``: the update summary's lines and ``prices show`` on a tiny store."""

from __future__ import annotations

import json

import pytest

from features.frame import canonicalize
from features.prices.store import PriceStore
from flows.cli.commands import main
from flows.cli.prices import format_update
from tests.support import make_prices


def test_the_update_summary_has_one_line_per_ticker_then_each_issue() -> None:
    report = {
        "tickers": [
            {"ticker": "AAPL", "status": "updated", "rows_added": 3, "rows_changed": 1, "rows_rejected": 1,
             "rows_flagged": 1, "refetched_full": True, "reason": "adj_close moved"},
            {"ticker": "NOPE", "status": "failed", "rows_added": 0, "rows_changed": 0, "rows_rejected": 0,
             "rows_flagged": 0, "refetched_full": False, "reason": "unknown symbol"},
        ],
        "rejected": [{"action": "rejected", "ticker": "AAPL", "date": "2020-01-02", "rule": "high_low", "detail": "x"}],
        "flagged": [{"action": "flagged", "ticker": "AAPL", "date": "2020-01-03", "rule": "jump", "detail": "y"}],
    }  # fmt: skip

    lines = format_update({"report": report, "failures": {"NOPE": "unknown symbol"}}).splitlines()

    assert lines[0].split() == ["ticker", "status", "added", "changed", "rejected", "flagged", "note"]
    assert lines[1].split() == ["AAPL", "updated", "3", "1", "1", "1", "full", "history", "refetched"]
    assert lines[2].split() == ["NOPE", "failed", "0", "0", "0", "0", "unknown", "symbol"]
    assert lines[3:] == ["rejected: AAPL 2020-01-02 high_low: x", "flagged: AAPL 2020-01-03 jump: y"]


def test_show_prints_the_stored_rows_in_the_asked_window(tmp_path, capsys) -> None:
    PriceStore(tmp_path).write(canonicalize(make_prices({"A": [10.0, 11.0, 12.0]})))

    assert main(["prices", "show", "A", "--start", "2020-01-02", "--format", "json", "--data-root", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["date"], r["close"]) for r in rows] == [("2020-01-02", 11.0), ("2020-01-03", 12.0)]


def test_show_without_rows_is_an_error_naming_the_window(tmp_path, capsys) -> None:
    PriceStore(tmp_path).write(canonicalize(make_prices({"A": [10.0]})))

    assert main(["prices", "show", "A", "--start", "2021-01-01", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no stored prices for ticker='A' between 2021-01-01 and the end" in err


@pytest.mark.parametrize("argv", [["prices", "show", "A", "--end", "2020-02-30"], ["prices", "update", "--start", "x"]])
def test_bad_dates_are_refused_by_the_parser(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "date" in capsys.readouterr().err
