"""Pieces every flow shares: the data root, the price-update task, Keras-to-Prefect logging."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import keras
import pandas as pd
from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from features.frame import fingerprint
from features.sources import SourceError
from features.sources.base import check_range, parse_date
from features.store import PriceStore
from features.update import source_for, update_store
from flows.settings import DEFAULT_SOURCE, code_version, data_root

__all__ = [
    "DEFAULT_SOURCE",
    "RunLoggerCallback",
    "code_version",
    "data_root",
    "date_range",
    "run_logger",
    "update_prices",
]


def date_range(
    start: dt.date | str | None, end: dt.date | str | None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Parse and check a start/end pair (start after end is an error naming both)."""
    lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
    check_range(lo, hi)
    return lo, hi


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run logger inside a flow or task run; the ``updown`` logger elsewhere (``.fn()``)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("updown")


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only errors that may pass (I/O hiccups, timeouts).

    Not bad input (``ValueError``), not a source that answered "no such ticker" (``SourceError``:
    the adapter has already retried what deserved it), and not an unreachable source, which must
    fail fast (``SourceUnavailableError``).
    """
    try:
        state.result()
    except (ValueError, SourceError):
        return False
    except (OSError, TimeoutError):
        return True
    except Exception:
        return False
    return False


# The Yahoo adapter bounds its own retries; the timeout catches a transport that hangs anyway.
@task(
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_jitter_factor=0.5,
    retry_condition_fn=_transient,
    timeout_seconds=1800,
)
def update_prices(
    source: str, tickers: list[str] | None, start: dt.date | None, end: dt.date | None, root: str
) -> dict[str, Any]:
    """Bring the store up to date from ``source``, incrementally (:func:`features.update.update_store`).

    Yahoo's caches go under ``<root>/cache/yfinance``. The report is logged line by line: each
    ticker, then every rejected and flagged row.

    Returns:
        JSON-ready ``{"tickers": [...], "changed_rows": {ticker: n}, "fingerprint": str,
        "failures": {ticker: reason}, "report": {...}}``: ``tickers`` are those that did not
        fail, ``fingerprint`` hashes their stored prices in ``[start, end]``, ``report`` is
        :meth:`features.update.UpdateReport.to_dict`.

    Raises:
        ValueError: bad tickers or dates, or no stored prices at all in the range.
        SourceUnavailableError: the source cannot be reached; nothing was written.
        SourceError: every ticker failed; the message lists each with its reason.
    """
    logger = run_logger()
    store = PriceStore(root)
    report = update_store(source_for(source, root=root), store, tickers, start=start, end=end)
    for level, line in report.log_lines():
        logger.log(level, line)
    if report.all_failed:
        raise SourceError(report.failure_message())
    names = report.succeeded
    prices = store.read(names, start, end)
    if prices.empty:
        raise ValueError(f"source {source!r} returned no prices for tickers={tickers} start={start} end={end}")
    return {
        "tickers": names,
        "changed_rows": report.changed_rows,
        "fingerprint": fingerprint(prices),
        "failures": report.failures,
        "report": report.to_dict(),
    }


class RunLoggerCallback(keras.callbacks.Callback):
    """Sends each epoch's metrics to the Prefect run logger."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        run_logger().info("%sepoch %d: %s", self.prefix, epoch + 1, shown)
