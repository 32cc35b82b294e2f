"""CLI argument handling: bad input exits with status 2 and one line naming the input."""

import re

import pytest

from flows.cli import main


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
    from flows.cli_args import date_arg as _date

    assert _date("20200131") == "2020-01-31"
    assert _date("2020/01/31") == "2020-01-31"


def test_pydantic_errors_become_one_line():
    from features.labels import LabelConfig
    from flows.cli import one_line

    with pytest.raises(ValueError, match="band") as exc:
        LabelConfig(band=2)
    msg = one_line(exc.value)
    assert "\n" not in msg
    assert msg.startswith("band: Input should be less than 1 (got 2)")


def test_label_scheme_and_features_reach_the_configs():
    from flows.cli import _parser
    from flows.cli_args import build_configs

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
