"""CLI argument handling: bad input exits with status 2 and one line naming the input."""

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
    assert pytest.importorskip("re").search(match, capsys.readouterr().err)


def test_bad_ticker_and_reversed_dates_are_clear_errors(tmp_path, capsys):
    assert main(["backtest", "--tickers", "AAPL,../x", "--data-root", str(tmp_path)]) == 2
    assert "ticker must be" in capsys.readouterr().err
    assert main(["report", "--data-root", str(tmp_path)]) == 2
    assert "no daily reports" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was written
