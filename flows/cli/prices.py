"""The ``updown prices`` commands (importable without Prefect or Keras).

* ``updown prices update [--tickers A,B] [--start D] [--end D] [--source S]`` runs
  :func:`flows.prices.prices_update_flow`: an incremental update of the store
  (:mod:`features.prices.update`) whose report (per ticker, rejected and flagged rows) is logged in the
  flow run and printed. Without ``--tickers`` it refreshes every stored ticker (or, with an empty
  store, everything a non-Yahoo source has). Exit status 0 when every ticker worked; when some
  failed, the others are stored and the status is 3 (``PARTIAL``, :mod:`flows.exits`), or 0 with
  ``--allow-partial``.
* ``updown prices show TICKER[,TICKER...] [--start D] [--end D] [--format table|csv|json]``
  prints stored prices straight from the store (no Prefect, no network).

Bad input raises ``ValueError`` naming the value; the ``updown`` entry point turns it into
one line on stderr and exit status 2 (``BAD_INPUT``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from features.frame import parse_tickers
from features.prices.store import PriceStore
from features.storage.layout import DataRoot
from features.storage.remote import readable_root
from flows.cli.args import DefaultsHelpFormatter
from flows.cli.checks import check_source
from flows.cli.fields import date_arg
from flows.cli.output import FORMATS, print_frame
from flows.exits import OK, PARTIAL, partial_message
from flows.settings import PRICES_STATE, default_source, root_spec


def add_prices_parser(subparsers: Any, common_parent: argparse.ArgumentParser) -> None:
    """Register ``prices update`` and ``prices show`` on the CLI's subparsers.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers(dest="command")`` returned.
        common_parent: the parent parser holding ``--data-root``.
    """
    fmt = DefaultsHelpFormatter
    prices = subparsers.add_parser("prices", help="update and show the stored prices", formatter_class=fmt)
    commands = prices.add_subparsers(dest="prices_command", required=True)
    update = commands.add_parser(
        "update",
        parents=[common_parent],
        help="fetch what the store lacks; prints what changed per ticker",
        formatter_class=fmt,
    )
    update.add_argument("--tickers", help="comma-separated symbols (default: the stored ones)")
    update.add_argument(
        "--allow-partial", action="store_true", help="exit 0 when some tickers failed (default: exit 3, partial)"
    )
    update.add_argument("--start", type=date_arg, help="first date, YYYY-MM-DD (default: from where each ticker is)")
    update.add_argument("--end", type=date_arg, help="last date, YYYY-MM-DD (default: the latest)")
    update.add_argument(
        "--source",
        default=default_source(),
        help="yahoo | sample | dir:PATH | synthetic[:key=value,...] (default: $UPDOWN_SOURCE or sample)",
    )
    show = commands.add_parser("show", parents=[common_parent], help="print stored prices", formatter_class=fmt)
    show.add_argument("ticker", help="symbol, or comma-separated symbols")
    show.add_argument("--start", type=date_arg, help="first date, YYYY-MM-DD (default: the first stored)")
    show.add_argument("--end", type=date_arg, help="last date, YYYY-MM-DD (default: the last stored)")
    show.add_argument("--format", choices=FORMATS, default="table", help="output format")


def run_prices_command(args: argparse.Namespace) -> int:
    """Run ``prices update`` or ``prices show`` parsed by :func:`add_prices_parser`.

    Returns:
        The exit status: 0, or 3 (``PARTIAL``) when ``update`` left some tickers failed and
        ``--allow-partial`` was not given (a line on stderr names them).

    Raises:
        ValueError: bad input, or no stored prices to show, naming the value.
    """
    if args.prices_command == "show":
        return _show(args)
    check_source(args.source)  # before Prefect's start-up
    from flows import prices  # Prefect comes with the flow

    result = prices.prices_update_flow(
        tickers=parse_tickers(args.tickers),
        start=args.start,
        end=args.end,
        source=args.source,
        data_root_dir=args.data_root,
    )
    print(format_update(result))
    failures = result["failures"]
    if failures and not args.allow_partial:
        line = partial_message(failures, of=len(result["report"]["tickers"]), hint=False)
        print(f"updown prices: error: {line}; the others are stored (--allow-partial: exit 0)", file=sys.stderr)
        return PARTIAL
    return OK


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
        raise ValueError(f"no stored prices for ticker={args.ticker!r}{window} under {DataRoot(root).prices_dir}")
    print_frame(frame, args.format, empty="")
    return 0
