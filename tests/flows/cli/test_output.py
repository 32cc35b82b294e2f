"""How the CLI prints a frame: table, csv, json; dates as YYYY-MM-DD; a sentence for nothing."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from flows.cli.output import FORMATS, dates_as_text, print_frame, write

FRAME = pd.DataFrame(
    {"date": pd.to_datetime(["2020-01-02", "2020-01-03"]), "ticker": ["A", "B"], "p_up": [0.123456, 0.5]}
)


def test_dates_as_text_copies_and_drops_the_time() -> None:
    stamped = FRAME.assign(date=FRAME["date"] + pd.Timedelta(hours=16))
    text = dates_as_text(stamped)

    assert list(text["date"]) == ["2020-01-02", "2020-01-03"]
    assert stamped["date"].dt.hour.tolist() == [16, 16]  # the input is untouched
    assert text["p_up"].tolist() == [0.123456, 0.5]


def test_table_has_four_decimals(capsys) -> None:
    print_frame(FRAME, "table", empty="nothing")
    lines = capsys.readouterr().out.splitlines()

    assert lines[0].split() == ["date", "ticker", "p_up"]
    assert lines[1].split() == ["2020-01-02", "A", "0.1235"]
    assert lines[2].split() == ["2020-01-03", "B", "0.5000"]


def test_csv_and_json(capsys) -> None:
    print_frame(FRAME, "csv", empty="nothing")
    assert capsys.readouterr().out == "date,ticker,p_up\n2020-01-02,A,0.123456\n2020-01-03,B,0.5\n"
    print_frame(FRAME, "json", empty="nothing")
    assert json.loads(capsys.readouterr().out) == [
        {"date": "2020-01-02", "ticker": "A", "p_up": 0.123456},
        {"date": "2020-01-03", "ticker": "B", "p_up": 0.5},
    ]


def test_an_empty_frame_is_the_sentence_a_header_or_an_empty_list(capsys) -> None:
    empty = FRAME.iloc[:0]
    outputs = {}
    for fmt in FORMATS:
        print_frame(empty, fmt, empty="no predictions for date=2020-01-02")
        outputs[fmt] = capsys.readouterr().out
    assert outputs == {"table": "no predictions for date=2020-01-02\n", "csv": "date,ticker,p_up\n", "json": "[]\n"}


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match=r"format must be one of .*, got format='xml'"):
        print_frame(FRAME, "xml", empty="")


def test_write_sends_buffer_sized_pieces(monkeypatch) -> None:
    pieces: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            pieces.append(text)
            return len(text)

    monkeypatch.setattr("sys.stdout", Recorder())
    write("x" * 10, chunk=4)
    assert pieces == ["xxxx", "xxxx", "xx"]
