"""The prices flow and the ``updown prices`` commands.

* ``updown prices update [--tickers A,B] [--start D] [--end D] [--source S]`` runs
  :func:`prices_update_flow`: an incremental update of the store (:mod:`features.update`)
  whose report (per ticker, rejected and flagged rows) is logged in the flow run and printed.
  Without ``--tickers`` it refreshes every stored ticker (or, with an empty store, everything
  a non-Yahoo source has). Exit status 0 when every ticker worked, 1 when some failed.
* ``updown prices show TICKER[,TICKER...] [--start D] [--end D] [--format table|csv|json]``
  prints stored prices straight from the store (no Prefect, no network).

Bad input raises ``ValueError`` naming the value; the ``updown`` entry point turns it into
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from prefect import flow

from features.frame import parse_tickers
from features.remote import readable_root
from features.sources.base import check_range, parse_date
from features.store import PriceStore
from flows.settings import DEFAULT_SOURCE, PRICES_STATE, default_source, root_spec


@flow(name="prices-update")
def prices_update_flow(
    tickers: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source: str = DEFAULT_SOURCE,
    data_root_dir: str | None = None,
) -> dict[str, Any]:
    """Update the price store incrementally and return the report.

    Args:
        tickers: symbols; None = every ticker already stored, or with an empty store every
            ticker the source has (Yahoo needs them named).
        start: first date wanted (inclusive); None = from where each ticker is.
        end: last date wanted (inclusive); None = the latest the source has.
        source: price source spec (``yahoo``, ``sample``, ``dir:PATH``, ``synthetic:...``).
        data_root_dir: data root (default ``$UPDOWN_DATA_ROOT`` or ``./data``).

    Returns:
        What :func:`flows.common.update_prices` returns: ``tickers``, ``changed_rows``,
        ``fingerprint``, ``failures`` and the full ``report``.

    Raises:
        ValueError: bad tickers or dates.
        SourceUnavailableError: the source cannot be reached; nothing was written.
        SourceError: every ticker failed.
    """
    from flows.common import run_logger, update_prices, working_root  # Keras comes with them

    lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
    check_range(lo, hi)
    with working_root(data_root_dir, pull=PRICES_STATE) as root:
        names = tickers or PriceStore(root).tickers() or None
        result: dict[str, Any] = update_prices(source, names, lo, hi, str(root))
        failed = result["failures"]
        run_logger().info(
            "prices: %d tickers up to date in %s%s",
            len(result["tickers"]),
            root / "prices",
            f"; failed: {', '.join(sorted(failed))}" if failed else "",
        )
        return result


def add_prices_parser(subparsers: Any, common_parent: argparse.ArgumentParser) -> None:
    """Register ``prices update`` and ``prices show`` on the CLI's subparsers.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers(dest="command")`` returned.
        common_parent: the parent parser holding ``--data-root``.
    """
    prices = subparsers.add_parser("prices", help="update and show the stored prices")
    commands = prices.add_subparsers(dest="prices_command", required=True)
    update = commands.add_parser(
        "update", parents=[common_parent], help="fetch what the store lacks; prints what changed per ticker"
    )
    update.add_argument("--tickers", help="comma-separated symbols (default: the stored ones)")
    update.add_argument("--start", type=_date_arg, help="first date, YYYY-MM-DD (default: from where each ticker is)")
    update.add_argument("--end", type=_date_arg, help="last date, YYYY-MM-DD (default: the latest)")
    update.add_argument(
        "--source", default=default_source(), help="yahoo | sample | dir:PATH | synthetic[:key=value,...]"
    )
    show = commands.add_parser("show", parents=[common_parent], help="print stored prices")
    show.add_argument("ticker", help="symbol, or comma-separated symbols")
    show.add_argument("--start", type=_date_arg, help="first date, YYYY-MM-DD")
    show.add_argument("--end", type=_date_arg, help="last date, YYYY-MM-DD")
    show.add_argument("--format", choices=("table", "csv", "json"), default="table")


def run_prices_command(args: argparse.Namespace) -> int:
    """Run ``prices update`` or ``prices show`` parsed by :func:`add_prices_parser`.

    Returns:
        The exit status: 0, or 1 when ``update`` left some tickers failed.

    Raises:
        ValueError: bad input, or no stored prices to show, naming the value.
    """
    if args.prices_command == "show":
        return _show(args)
    result = prices_update_flow(
        tickers=parse_tickers(args.tickers),
        start=args.start,
        end=args.end,
        source=args.source,
        data_root_dir=args.data_root,
    )
    print(format_update(result))
    return 1 if result["failures"] else 0


def format_update(result: dict[str, Any]) -> str:
    """The CLI's summary of an update: one line per ticker, then rejected and flagged rows."""
    report = result["report"]
    lines = [f"{'ticker':<12} {'status':<9} {'added':>6} {'changed':>7} {'rejected':>8} {'flagged':>7}  note"]
    for t in report["tickers"]:
        note = t["reason"] if t["status"] == "failed" else ("full history refetched" if t["refetched_full"] else "")
        lines.append(
            f"{t['ticker']:<12} {t['status']:<9} {t['rows_added']:>6} {t['rows_changed']:>7} "
            f"{t['rows_rejected']:>8} {t['rows_flagged']:>7}  {note}".rstrip()
        )
    for issue in [*report["rejected"], *report["flagged"]]:
        lines.append(f"{issue['action']}: {issue['ticker']} {issue['date']} {issue['rule']}: {issue['detail']}")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    names = parse_tickers(args.ticker)
    root = readable_root(root_spec(args.data_root), PRICES_STATE)
    frame = PriceStore(root).read(names, args.start, args.end)
    if frame.empty:
        window = f" between {args.start or 'the start'} and {args.end or 'the end'}" if args.start or args.end else ""
        raise ValueError(f"no stored prices for ticker={args.ticker!r}{window} under {root / 'prices'}")
    if args.format == "csv":
        print(frame.to_csv(index=False, date_format="%Y-%m-%d"), end="")
    elif args.format == "json":
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _date_arg(text: str) -> str:
    """``YYYY-MM-DD`` from any date pandas parses; an argparse error naming the value otherwise."""
    try:
        day = parse_date(text, name="date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if day is None:
        raise argparse.ArgumentTypeError(f"must be a date like 2020-01-31, got {text!r}")
    return f"{day:%Y-%m-%d}"
