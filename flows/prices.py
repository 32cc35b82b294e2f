"""The prices flow: :func:`prices_update_flow`, run by ``updown prices update``.

The ``updown prices`` commands themselves live in :mod:`flows.cli.prices` (no Prefect import, so
``updown --help`` stays fast).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from features.dates import check_range, parse_date
from features.prices.store import PriceStore
from features.storage.layout import DataRoot
from flows.settings import DEFAULT_SOURCE, PRICES_STATE

__all__ = ["prices_update_flow"]


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
            DataRoot(root).prices_dir,
            f"; failed: {', '.join(sorted(failed))}" if failed else "",
        )
        return result
