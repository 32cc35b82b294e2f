"""Bad input through the CLI: a clear one-line error naming the input, exit status 2, nothing stored.

Every case here fails before any flow starts (no Prefect start-up), so the suite stays fast.
"""

from pathlib import Path

import pytest

from flows.cli.commands import main


def _run(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int | None, str]:
    try:
        code = main([*argv, "--data-root", str(tmp_path)])
    except SystemExit as exc:  # argparse refusals
        code = exc.code if isinstance(exc.code, int) else 2
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("tickers", "needle"),
    [
        (",", "at least one symbol"),
        ("X" * 40, "ticker must be"),
        ("../etc", "ticker must be"),
        ("A/B", "ticker must be"),
        ("AA PL", "ticker must be"),
        ("\u0391APL", "ticker must be"),  # Greek capital alpha, a look-alike of A
        ("AAPL,aapl", "differ only in letter case"),
    ],
)
def test_bad_tickers(tickers, needle, tmp_path, capsys):
    code, err = _run(["backtest", "--tickers", tickers], tmp_path, capsys)
    assert code == 2
    assert needle in err
    assert repr(tickers) in err or needle in err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["backtest", "--start", "2020-02-01", "--end", "2020-01-01"], "start must not be after end"),
        (["backtest", "--end", "2999-01-01"], "end must not be in the future"),
        (["daily", "--as-of", "2999-01-01"], "as_of must not be in the future"),
        (["backtest", "--start", "yesterday-ish"], "must be a date"),
        (["backtest", "--horizon", "0"], "must be >= 1"),
        (["backtest", "--timesteps", "-3"], "must be >= 1"),
        (["backtest", "--epochs", "0"], "must be >= 1"),
        (["backtest", "--band", "0"], "must be in (0, 1)"),
        (["backtest", "--band", "5"], "must be in (0, 1)"),
        # the configs' upper bounds: refused by the parser, whose options are the config fields
        (["backtest", "--timesteps", "100000"], "argument --timesteps: must be <= 1000, got 100000"),
        (["backtest", "--epochs", "1000000"], "argument --epochs: must be <= 1000, got 1000000"),
        (["backtest", "--horizon", "100000"], "argument --horizon: must be <= 250, got 100000"),
    ],
)
def test_bad_dates_and_numbers(argv, needle, tmp_path, capsys):
    code, err = _run(argv, tmp_path, capsys)
    assert code == 2
    assert needle in err.strip().splitlines()[-1]  # the last line says what is wrong (after argparse's usage)
    assert "Traceback" not in err
