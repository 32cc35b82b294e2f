"""The ``updown`` command line: a thin shell over the Prefect flows and the registry.

Every command takes ``--data-root`` (default ``$UPDOWN_DATA_ROOT`` or ``./data``) and the same
option means the same thing everywhere. An error the user can act on (bad input, a partial failure,
corrupt data, the machine) is one line on stderr and its own exit status (:mod:`flows.exits`, the
table in README.md); only an unexpected error (a bug) prints a traceback, with status 1.

Start-up stays fast: this module and its option parsers import neither Prefect nor Keras
(TensorFlow); a command imports them when it runs a flow or loads a model, so ``--help``,
``report`` and ``prices show`` take about as long as importing pandas
(``tests/flows/cli/test_startup.py``, ``python -m benchmarks --only cli``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from features.dates import check_not_future, check_range, parse_date
from features.frame import parse_tickers
from flows import exits
from flows.cli.args import (
    DefaultsHelpFormatter,
    build_configs,
    data_options,
    date_arg,
    explicit_options,
    model_options,
    strategy_config,
    walk_forward_config,
    walk_forward_options,
)
from flows.cli.checks import check_data_root, check_job_size, check_source
from flows.cli.fields import bounded
from flows.cli.output import FORMATS, print_frame, silence_stdout
from flows.cli.prices import add_prices_parser, run_prices_command
from flows.settings import (
    MODELS_STATE,
    SERVER_STARTUP_TIMEOUT_VAR,
    apply_prefect_defaults,
    default_source,
    root_spec,
)

__all__ = ["main", "one_line"]
VALIDATION_NOTE = (
    "val log-loss / val acc: the training run's chronological validation slice, scored with the weights of its best "
    "epoch (early stopping restores them), class weights divided back out and the temperature applied if calibrated, "
    "every sample counted once; the training log's val_loss (class-weighted) and val_accuracy are per epoch and "
    "score the raw network outputs"
)


class _DeprecatedAlias(argparse.Action):
    """An old spelling of an option: still works, says once on stderr what to use instead."""

    def __init__(self, option_strings: list[str], dest: str, *, replacement: str, **kwargs: object) -> None:
        self.replacement = replacement
        super().__init__(option_strings, dest, **kwargs)  # type: ignore[arg-type]

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object, option: str | None = None
    ) -> None:
        print(f"{parser.prog}: {option} is deprecated, use {self.replacement}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _parser() -> argparse.ArgumentParser:
    fmt = DefaultsHelpFormatter
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", help="data folder or s3://... URL (default: $UPDOWN_DATA_ROOT or ./data)")
    data, model, bt_model = data_options(), model_options(), model_options(backtest=True)

    parser = argparse.ArgumentParser(
        prog="updown", description="Daily down/flat/up signals from LSTM classifiers.", formatter_class=fmt
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bt = sub.add_parser(
        "backtest",
        parents=[common, data, bt_model],
        help="walk-forward backtest; prints the run folder",
        formatter_class=fmt,
    )
    walk_forward_options(bt)
    bt.add_argument(
        "--task-runner",
        help="local | threads:N | dask | dask:N | dask:tcp://host:port (default: $UPDOWN_TASK_RUNNER or local)",
    )
    bt.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="retrain every block: neither reuse nor store blocks in <data root>/cache/folds",
    )
    train = sub.add_parser(
        "train",
        parents=[common, data, model],
        help="train a model; promote it if it is better",
        formatter_class=fmt,
    )
    train.add_argument("--force", action="store_true", help="make it the champion even if it is not better")
    daily = sub.add_parser(
        "daily",
        parents=[common],
        help="update prices and publish the as-of date's predictions",
        formatter_class=fmt,
    )
    daily.add_argument("--as-of", type=date_arg, help="decision date (default: latest stored trading day)")
    daily.add_argument("--source", default=default_source(), help="price source (default: $UPDOWN_SOURCE or sample)")
    daily.add_argument("--tickers", help="comma-separated symbols (default: the champion's)")
    daily.add_argument(
        "--allow-partial", action="store_true", help="publish the priced tickers even below --min-coverage"
    )
    daily.add_argument(
        "--min-coverage", type=bounded(float, ge=0, le=1), default=0.9, help="share of tickers that must be priced"
    )
    daily.add_argument(
        "--max-staleness-days",
        type=bounded(int, ge=0),
        help="refuse a latest day older than N business days (default: no limit)",
    )
    report = sub.add_parser("report", parents=[common], help="print a day's published predictions", formatter_class=fmt)
    report.add_argument("--date", type=date_arg, help="as-of date (default: latest published)")
    report.add_argument("--tickers", help="only these comma-separated symbols (default: all)")
    report.add_argument(
        "--ticker", dest="tickers", action=_DeprecatedAlias, replacement="--tickers", help=argparse.SUPPRESS
    )
    report.add_argument("--format", choices=FORMATS, default="table", help="output format")
    report.add_argument("--kind", choices=("daily", "settled", "backtest"), default="daily", help="which predictions")
    report.add_argument("--run-id", help="backtest run (default: the latest)")
    report.add_argument(
        "--start", type=date_arg, help="first decision date: a history instead of one day (default: the first)"
    )
    report.add_argument("--end", type=date_arg, help="last decision date (default: the last)")
    report.add_argument(
        "--compare",
        nargs="+",
        metavar="RUN_ID",
        help="write one HTML page comparing these backtest runs (two or more); print its path (default: none)",
    )
    report.add_argument("--out", type=Path, help="where --compare writes its page (default: under reports/backtest)")
    srv = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the daily, weekly-retrain and backtest deployments",
        formatter_class=fmt,
    )
    srv.add_argument("--source", default=default_source(), help="price source (default: $UPDOWN_SOURCE or sample)")
    srv.add_argument("--tickers", help="symbols for train/backtest (default: the source's)")
    srv.add_argument(
        "--limit",
        type=int,
        help="most flow runs this process executes at once, over all its deployments (default: no limit)",
    )
    models = sub.add_parser("models", help="the model registry", formatter_class=fmt).add_subparsers(
        dest="models_command", required=True
    )
    models.add_parser(
        "list", parents=[common], help="stored models, oldest first; * marks the champion", formatter_class=fmt
    )
    show = models.add_parser("show", parents=[common], help="a model's metadata as JSON", formatter_class=fmt)
    show.add_argument("model_id", nargs="?", help="model id (default: the champion)")
    add_prices_parser(sub, common)
    return parser


def one_line(exc: Exception) -> str:
    """A user-facing message; pydantic's multi-line errors become ``field: problem (got value)``.

    Prefect's "Timed out while attempting to connect to ephemeral Prefect API server" (its
    temporary server did not start in time: a busy machine) becomes what to do about it.
    """
    if "ephemeral Prefect API server" in str(exc):
        waited = os.environ.get(SERVER_STARTUP_TIMEOUT_VAR, "20")
        return (
            f"Prefect's temporary server did not start within {waited} s (a busy machine?): raise "
            f"{SERVER_STARTUP_TIMEOUT_VAR} (e.g. export {SERVER_STARTUP_TIMEOUT_VAR}=600), or run "
            "`prefect server start` in another terminal and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})" for err in exc.errors()
        )
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``updown`` console script; returns the exit status (:mod:`flows.exits`).

    0 on success; 2 bad input, 3 partial, 4 corrupt data, 5 infrastructure, each with one line on
    stderr naming the input or file; 141 when stdout's reader went away early (``updown report |
    head -5``: quiet, as Unix tools end on SIGPIPE). An unexpected error (a bug) raises, so Python
    prints its traceback and exits with 1.
    """
    args = _parser().parse_args(argv)
    if getattr(args, "preset", None):  # a preset yields only to the options given (flows.cli.args.build_configs)
        args.explicit = explicit_options(_parser(), sys.argv[1:] if argv is None else argv)
    apply_prefect_defaults()  # a value the user set in the environment wins
    try:
        status = _run(args)
        sys.stdout.flush()  # inside the try: a short output's broken pipe shows only here
    except BrokenPipeError:
        silence_stdout()
        return exits.BROKEN_PIPE
    except Exception as exc:
        known = exits.status_of(exc)
        if known is None:
            raise
        print(f"updown {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return known
    return status


def _run(args: argparse.Namespace) -> int:
    check_data_root(args.data_root)  # a file, or a folder under a file, before anything reads or writes there
    if args.command == "prices":
        return run_prices_command(args)
    if args.command == "report":
        return _report(args)
    if args.command == "models":
        return _models(args)
    tickers = parse_tickers(args.tickers)
    _check_dates(args)  # before any flow (and Prefect's start-up) runs
    check_source(args.source)
    if args.command == "daily":
        from flows.daily import daily_flow

        state = daily_flow(
            as_of=args.as_of,
            source=args.source,
            tickers=tickers,
            data_root_dir=args.data_root,
            allow_partial=args.allow_partial,
            min_coverage=args.min_coverage,
            max_staleness_days=args.max_staleness_days,
            return_state=True,
        )
        path = state.result()  # raises the run's error, if it failed
        # a run that publishes nothing ends in a Completed state named Skipped whose message says why
        print(path if path else state.message or "nothing published")
        return exits.OK
    if args.command == "serve":
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            raise RuntimeError(
                "updown serve needs a real Prefect server (the temporary one never runs schedules): run "
                "`prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
            )
        from flows.deployments import serve

        serve(source=args.source, tickers=tickers, data_root_dir=args.data_root, limit=args.limit)
        return exits.OK
    configs = build_configs(args)
    check_job_size(args.source, configs["dataset"], configs["model"], configs["training"])
    shared = {
        "source": args.source,
        "tickers": tickers,
        "start": args.start,
        "end": args.end,
        "data_root_dir": args.data_root,
        "allow_partial": args.allow_partial,
        **configs,
    }
    if tickers is None and shared["dataset"].universe is not None:  # --universe names the tickers
        shared["tickers"] = list(shared["dataset"].universe.tickers)
    if args.command == "train":
        from flows.train import train_flow

        print(train_flow(force=args.force, **shared))
        return exits.OK
    from flows.backtest import backtest_flow, configured_task_runner

    bt_flow = backtest_flow.with_options(task_runner=configured_task_runner(args.task_runner))
    walk_forward, strategy = walk_forward_config(args), strategy_config(args)
    print(bt_flow(walk_forward=walk_forward, strategy=strategy, use_cache=args.use_cache, preset=args.preset, **shared))
    return exits.OK


def _check_dates(args: argparse.Namespace) -> None:
    today = dt.date.today()
    named = {
        "start": getattr(args, "start", None),
        "end": getattr(args, "end", None),
        "as_of": getattr(args, "as_of", None),
    }
    parsed = {k: parse_date(v, name=k) for k, v in named.items()}
    for name, value in parsed.items():
        check_not_future(value, name=name, today=today)
    check_range(parsed["start"], parsed["end"])


def _report(args: argparse.Namespace) -> int:
    if args.compare is not None:
        from features.storage.layout import BACKTEST, DataRoot, validate_id
        from features.storage.remote import readable_root
        from models.reporting.compare import write_comparison

        paths = [f"{BACKTEST}/{validate_id(i, name='run_id')}" for i in args.compare]
        print(write_comparison(DataRoot(readable_root(root_spec(args.data_root), paths)), args.compare, out=args.out))
        return exits.OK
    from models.serving.predictions import read_daily, read_predictions

    root, tickers = root_spec(args.data_root), parse_tickers(args.tickers)  # a URL is read via a mirror
    if args.kind == "daily" and args.start is None and args.end is None:
        frame = read_daily(root, date=args.date, tickers=tickers)
    else:
        start, end = (args.date, args.date) if args.date else (args.start, args.end)
        frame = read_predictions(root, start=start, end=end, tickers=tickers, kind=args.kind, run_id=args.run_id)
    print_frame(frame, args.format, empty=_nothing_found(args))
    return exits.OK


def _nothing_found(args: argparse.Namespace) -> str:
    """The sentence an empty report prints, echoing what was asked for."""
    asked = [
        f"{name}={value}"
        for name, value in (
            ("date", args.date or ("latest" if args.kind == "daily" and not (args.start or args.end) else None)),
            ("start", args.start),
            ("end", args.end),
            ("run_id", args.run_id),
            ("tickers", args.tickers),
        )
        if value
    ]
    return f"no {args.kind} predictions for {' '.join(asked) or 'any date'}"


def _models(args: argparse.Namespace) -> int:
    from features.storage.remote import readable_root
    from models.serving.registry import champion_id, list_models, load_metadata, models_dir, unreadable_models

    root = readable_root(root_spec(args.data_root), MODELS_STATE)
    if args.models_command == "show":
        model_id = args.model_id or champion_id(root)
        if model_id is None:
            raise FileNotFoundError(f"no champion model under {models_dir(root)}; run `updown train` first")
        print(json.dumps(load_metadata(root, model_id), indent=2, sort_keys=True))
        print(f"note: {VALIDATION_NOTE.replace('val log-loss / val acc', 'validation.*')}", file=sys.stderr)
        return exits.OK
    champion = champion_id(root)
    rows, corrupt = list_models(root), unreadable_models(root)
    for model_id, problem in corrupt.items():  # listed, never silently skipped: the champion may be one
        mark = " (the champion)" if model_id == champion else ""
        print(f"updown models list: error: model {model_id}{mark} is unreadable: {problem}", file=sys.stderr)
    if not rows:
        print(f"no readable models under {models_dir(root)}" if corrupt else f"no models under {models_dir(root)}")
        return exits.CORRUPT if corrupt else exits.OK
    print(f"  {'model id':<24} {'arch':<22} {'tickers':>7} {'data':<23} {'val log-loss*':>13} {'val acc*':>8}")
    for meta in rows:
        arch = meta.get("architecture", {})
        shape = ("bi " if arch.get("bidirectional") else "") + "x".join(str(u) for u in arch.get("units", []))
        val = meta.get("validation", {})
        mark = "*" if meta.get("model_id") == champion else " "
        span = f"{meta.get('data_start', '?')}..{meta.get('data_end', '?')}"
        print(
            f"{mark} {meta.get('model_id', '?'):<24} {shape:<22} {len(meta.get('tickers', [])):>7} {span:<23} "
            f"{val.get('log_loss', float('nan')):>13.5f} {val.get('accuracy', float('nan')):>8.4f}"
        )
    print(f"* {VALIDATION_NOTE}")
    return exits.CORRUPT if corrupt else exits.OK


if __name__ == "__main__":
    raise SystemExit(main())
