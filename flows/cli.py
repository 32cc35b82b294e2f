"""The ``updown`` command line: a thin shell over the Prefect flows.

Every command takes ``--data-root`` (default ``$UPDOWN_DATA_ROOT`` or ``./data``) and the same
option means the same thing everywhere. Bad input exits with status 2 and one clear line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from features.frame import parse_tickers
from features.sources.base import parse_date
from flows.settings import default_source


def _date(text: str) -> str:
    try:
        day = parse_date(text, name="date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    assert day is not None
    return day.date().isoformat()  # what the flows' date parameters accept


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _units(text: str) -> tuple[int, ...]:
    units = tuple(_positive(p) for p in text.split(",") if p.strip())
    if not units:
        raise argparse.ArgumentTypeError(f"must list LSTM sizes like 128,64, got {text!r}")
    return units


def _band(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number like 0.01, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), e.g. 0.01 for ±1%, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _blocks(text: str) -> int:
    value = _positive(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (a walk-forward needs two blocks), got {value}")
    return value


def one_line(exc: Exception) -> str:
    """A user-facing message on one line; pydantic's multi-line errors become `field: problem (got value)`."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})" for err in exc.errors()
        )
    return str(exc)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", help="data folder (default: $UPDOWN_DATA_ROOT or ./data)")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--source",
        default=default_source(),
        help="sample | yahoo | dir:PATH | synthetic[:key=value,...] (default: sample)",
    )
    data.add_argument("--tickers", help="comma-separated symbols (default: all the source has)")
    data.add_argument("--start", type=_date, help="first date, YYYY-MM-DD")
    data.add_argument("--end", type=_date, help="last date, YYYY-MM-DD")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--epochs", type=_positive, default=8, help="cap on training epochs (default 8)")
    model.add_argument("--timesteps", type=_positive, default=30, help="days per input window (default 30)")
    model.add_argument("--horizon", type=_positive, default=5, help="label horizon in trading days (default 5)")
    model.add_argument("--band", type=_band, default=0.01, help="flat band half-width (default 0.01 = ±1%%)")
    model.add_argument("--units", type=_units, default=(128, 64), help="LSTM sizes, e.g. 128,64 (default)")
    model.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")

    parser = argparse.ArgumentParser(prog="updown", description="Daily down/flat/up signals from LSTM classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)
    bt = sub.add_parser("backtest", parents=[common, data, model], help="walk-forward backtest; prints the run folder")
    bt.add_argument("--blocks", type=_blocks, default=3, help="walk-forward blocks, >= 2 (default 3)")
    sub.add_parser("train", parents=[common, data, model], help="train a model and make it the champion")
    daily = sub.add_parser("daily", parents=[common], help="update prices and publish the as-of date's predictions")
    daily.add_argument("--as-of", type=_date, help="decision date (default: latest stored trading day)")
    daily.add_argument("--source", default=default_source(), help="price source (default: sample)")
    daily.add_argument("--tickers", help="comma-separated symbols (default: the champion's)")
    report = sub.add_parser("report", parents=[common], help="print a day's published predictions")
    report.add_argument("--date", type=_date, help="as-of date (default: latest published)")
    report.add_argument("--ticker", help="only these comma-separated symbols")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``updown`` console script."""
    args = _parser().parse_args(argv)
    # The temporary Prefect server would try to send usage telemetry, which fails offline.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"updown {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "report":
        from flows.settings import data_root
        from models.reports import read_daily

        frame = read_daily(data_root(args.data_root), date=args.date, tickers=parse_tickers(args.ticker))
        if args.format == "csv":
            print(frame.to_csv(index=False), end="")
        elif args.format == "json":
            print(frame.to_json(orient="records", date_format="iso"))
        else:
            print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        return 0
    tickers = parse_tickers(args.tickers)
    if args.command == "daily":
        from flows.daily import daily_flow

        path = daily_flow(as_of=args.as_of, source=args.source, tickers=tickers, data_root_dir=args.data_root)
        print(path if path else "nothing published: no new prices for the as-of date")
        return 0
    shared = dict(
        source=args.source, tickers=tickers, start=args.start, end=args.end, epochs=args.epochs,
        timesteps=args.timesteps, horizon=args.horizon, band=args.band, units=args.units,
        seed=args.seed, data_root_dir=args.data_root,
    )  # fmt: skip
    if args.command == "train":
        from flows.train import train_flow

        print(train_flow(**shared))
        return 0
    from flows.backtest import backtest_flow

    print(backtest_flow(blocks=args.blocks, **shared))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
