"""The CLI in-process: bad input exits with status 2 and one line naming the input; outputs,
help texts and the error that says what to do when Prefect's temporary server is slow."""

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.cli.commands import main
from flows.exits import INFRA
from tests.support import publish_daily


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["backtest", "--start", "2020-13-45"], "start|date"),
        (["backtest", "--epochs", "0"], "must be >= 1"),
        (["train", "--timesteps", "abc"], "whole number"),
        (["backtest", "--units", "128,-1"], "must be >= 1"),
    ],
)
def test_bad_options_exit_2_naming_the_value(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert re.search(match, capsys.readouterr().err)


def test_bad_ticker_and_reversed_dates_are_clear_errors(tmp_path, capsys):
    assert main(["backtest", "--tickers", "AAPL,../x", "--data-root", str(tmp_path)]) == 2
    assert "ticker must be" in capsys.readouterr().err
    assert main(["report", "--data-root", str(tmp_path)]) == 2
    assert "no daily reports" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["backtest", "--band", "2"], r"must be in \(0, 1\)"),
        (["backtest", "--blocks", "1"], "must be >= 2"),
        (["backtest", "--seed", "-1"], "must be >= 0"),
        (["backtest", "--units", ","], "LSTM sizes"),
    ],
)
def test_out_of_range_model_options_are_refused_by_the_parser(argv, match, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert re.search(match, capsys.readouterr().err)


def test_dates_are_normalised_for_the_flows():
    from flows.cli.fields import date_arg as _date

    assert _date("20200131") == "2020-01-31"
    assert _date("2020/01/31") == "2020-01-31"


def test_pydantic_errors_become_one_line():
    from features.labels import LabelConfig
    from flows.cli.commands import one_line

    with pytest.raises(ValueError, match="band") as exc:
        LabelConfig(band=2)
    msg = one_line(exc.value)
    assert "\n" not in msg
    assert msg.startswith("band: Input should be less than 1 (got 2)")


def test_label_scheme_and_features_reach_the_configs():
    from flows.cli.args import build_configs
    from flows.cli.commands import _parser

    args = _parser().parse_args(
        ["train", "--label-scheme", "quantile", "--features", "ret_1,rsi_14", "--arch", "single"]
    )
    cfg = build_configs(args)
    assert cfg["dataset"].label.scheme == "quantile"
    assert cfg["dataset"].features == ("ret_1", "rsi_14")
    assert cfg["model"].units == (64,)


def test_unknown_feature_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--features", "ret_1,nope"])
    assert "unknown features ['nope']" in capsys.readouterr().err


# -- report output -------------------------------------------------------------------------------


def test_report_formats_share_one_date_format(tmp_path, capsys):
    publish_daily(tmp_path, ["AAPL", "IBM"])
    base = ["report", "--data-root", str(tmp_path)]

    assert main([*base, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert main([*base, "--format", "csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert main(base) == 0
    table = capsys.readouterr().out.splitlines()

    assert [(r["date"], r["ticker"], r["predicted"]) for r in records] == [
        ("2020-01-02", "AAPL", "up"),
        ("2020-01-02", "IBM", "up"),
    ]
    assert csv[0] == "date,ticker,horizon,p_down,p_flat,p_up,predicted,model_id"
    assert csv[1] == "2020-01-02,AAPL,5,0.2,0.3,0.5,up,m-test"
    assert table[1].split() == ["2020-01-02", "AAPL", "5", "0.2000", "0.3000", "0.5000", "up", "m-test"]


def test_an_empty_report_is_a_sentence_a_header_or_an_empty_list(tmp_path, capsys):
    publish_daily(tmp_path, ["AAPL"])
    base = ["report", "--data-root", str(tmp_path), "--tickers", "MSFT,IBM"]

    assert main(base) == 0
    assert capsys.readouterr().out == "no daily predictions for date=latest tickers=MSFT,IBM\n"
    assert main([*base, "--format", "csv"]) == 0
    assert capsys.readouterr().out == "date,ticker,horizon,p_down,p_flat,p_up,predicted,model_id\n"
    assert main([*base, "--format", "json"]) == 0
    assert capsys.readouterr().out == "[]\n"
    assert main([*base, "--date", "2020-01-02"]) == 0
    assert capsys.readouterr().out == "no daily predictions for date=2020-01-02 tickers=MSFT,IBM\n"


def test_report_ticker_is_a_deprecated_alias_of_tickers(tmp_path, capsys):
    publish_daily(tmp_path, ["AAPL", "IBM", "MSFT"])
    base = ["report", "--data-root", str(tmp_path), "--format", "csv"]

    assert main([*base, "--tickers", "IBM,MSFT"]) == 0
    new = capsys.readouterr()
    assert main([*base, "--ticker", "IBM,MSFT"]) == 0
    old = capsys.readouterr()

    assert [line.split(",")[1] for line in new.out.splitlines()[1:]] == ["IBM", "MSFT"]
    assert old.out == new.out
    assert new.err == ""
    assert old.err == "updown report: --ticker is deprecated, use --tickers\n"
    assert "--ticker " not in _help(["report"])  # hidden


# -- help ----------------------------------------------------------------------------------------


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*argv, "--help"])
    return out.getvalue()


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_every_option_of_every_command_shows_its_default():
    from flows.cli.commands import _parser

    missing = []
    seen = 0
    for path, parser in _parsers(_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            takes_value = action.nargs != 0 and not isinstance(action, argparse._SubParsersAction)
            optional_positional = not action.option_strings and action.nargs == "?"
            if action.help == argparse.SUPPRESS or not takes_value:
                continue
            if action.option_strings or optional_positional:
                seen += 1
                shown = formatter._expand_help(action) if action.help else ""
                if "default" not in shown:
                    missing.append(f"updown {' '.join(path)} {action.option_strings or action.dest}")
    assert seen > 60
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["backtest"], ["cap on training epochs; early stopping may end sooner (default: 8)", "(default: 3)"]),
        (["train"], ["trading days per input window (default: 30)", "random seed (default: 0)"]),
        (["daily"], ["share of tickers that must be priced (default: 0.9)"]),
        (["report"], ["output format (default: table)", "which predictions (default: daily)"]),
        (["serve"], ["most flow runs this process executes at once, over all its deployments (default: no limit)"]),
        (["prices", "show"], ["output format (default: table)"]),
    ],
)
def test_help_shows_the_defaults_in_words(argv, expected):
    text = " ".join(_help(argv).split())  # argparse wraps lines
    for phrase in expected:
        assert phrase in text


# -- failures that say what to do ----------------------------------------------------------------


def test_prefect_server_start_up_timeout_becomes_one_line_saying_what_to_do(monkeypatch, capsys):
    import flows.cli.commands

    def slow_server(args):
        raise RuntimeError(
            "Timed out while attempting to connect to ephemeral Prefect API server. stdout: \nstderr: a\nb"
        )

    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "240")
    monkeypatch.setattr(flows.cli.commands, "_run", slow_server)
    assert main(["backtest"]) == INFRA  # the machine, not the input (README, "Exit statuses")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("updown backtest: error: Prefect's temporary server did not start within 240 s")
    assert "raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in err
    assert "`prefect server start`" in err
    assert "export PREFECT_API_URL=http://127.0.0.1:4200/api" in err


def test_the_server_start_up_timeout_is_generous_unless_the_user_chose_one(tmp_path, monkeypatch):
    from flows.settings import SERVER_STARTUP_TIMEOUT_S, SERVER_STARTUP_TIMEOUT_VAR

    publish_daily(tmp_path, ["AAPL"])
    monkeypatch.delenv(SERVER_STARTUP_TIMEOUT_VAR, raising=False)
    assert main(["report", "--data-root", str(tmp_path), "--format", "json"]) == 0
    assert os.environ[SERVER_STARTUP_TIMEOUT_VAR] == str(SERVER_STARTUP_TIMEOUT_S) == "180"
    monkeypatch.setenv(SERVER_STARTUP_TIMEOUT_VAR, "45")
    assert main(["report", "--data-root", str(tmp_path), "--format", "json"]) == 0
    assert os.environ[SERVER_STARTUP_TIMEOUT_VAR] == "45"


def test_prefect_reads_the_start_up_timeout_variable():
    # the name is Prefect's: a variable Prefect ignored would leave its 20 s default in force
    code = "from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as S; print(S.value())"
    env = {**os.environ, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
    assert out.stdout.split() == ["180"]


# -- the model registry listing ------------------------------------------------------------------


def _store_metadata(root: Path, model_id: str, log_loss: float, accuracy: float) -> None:
    folder = root / "models" / model_id
    folder.mkdir(parents=True)
    meta = {
        "model_id": model_id,
        "architecture": {"units": [8, 4], "bidirectional": False},
        "tickers": ["AAPL", "IBM"],
        "data_start": "2020-01-01",
        "data_end": "2021-06-30",
        "validation": {"log_loss": log_loss, "accuracy": accuracy},
    }
    (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    (root / "models" / "champion.json").write_text(json.dumps({"model_id": model_id}), encoding="utf-8")


def test_models_list_labels_what_its_validation_figures_are(tmp_path, capsys):
    _store_metadata(tmp_path, "20260101-000000-abcdef", 1.0512345, 0.41234)

    assert main(["models", "list", "--data-root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert main(["models", "show", "--data-root", str(tmp_path)]) == 0
    shown = capsys.readouterr()

    assert lines[0].split()[-4:] == ["val", "log-loss*", "val", "acc*"]
    row = ["*", "20260101-000000-abcdef", "8x4", "2", "2020-01-01..2021-06-30", "1.05123", "0.4123"]
    assert lines[1].split() == row
    assert lines[2].startswith("* val log-loss / val acc: the training run's chronological validation slice")
    assert "best epoch (early stopping restores them)" in lines[2]
    assert "val_loss (class-weighted) and val_accuracy are per epoch" in lines[2]
    assert json.loads(shown.out)["validation"] == {"log_loss": 1.0512345, "accuracy": 0.41234}
    assert shown.err.startswith("note: validation.*: the training run's chronological validation slice")


def test_prices_show_prints_plain_dates_in_json_too(tmp_path, capsys):
    from features.prices.store import PriceStore
    from tests.support import make_prices

    PriceStore(tmp_path).write(make_prices({"AAPL": [10.0, 11.0]}))
    assert main(["prices", "show", "AAPL", "--format", "json", "--data-root", str(tmp_path)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["date"], r["close"]) for r in records] == [("2020-01-01", 10.0), ("2020-01-02", 11.0)]


def test_a_run_id_that_would_leave_the_data_root_is_refused_by_name(tmp_path, capsys):
    from models.serving.predictions import _empty

    root = tmp_path / "root"
    outside = root / "x" / "predictions.parquet"  # where reports/backtest/../../x/predictions.parquet points
    outside.parent.mkdir(parents=True)
    _empty("backtest").to_parquet(outside)
    argv = ["report", "--kind", "backtest", "--data-root", str(root), "--run-id", "../../x"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "updown report: error: run_id must be lowercase letters, digits and '-', got run_id='../../x'"
    )
