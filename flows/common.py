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
from features.sources import SourceUnavailableError, get_source
from features.sources.base import check_range, parse_date
from features.store import PriceStore
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
    """Retry only errors that may pass: not bad input, not an unreachable source."""
    try:
        state.result()
    except (ValueError, SourceUnavailableError):
        return False
    except Exception:
        return True
    return False


@task(retries=2, retry_delay_seconds=[5, 20], retry_jitter_factor=0.5, retry_condition_fn=_transient)
def update_prices(
    source: str, tickers: list[str] | None, start: dt.date | None, end: dt.date | None, root: str
) -> dict[str, Any]:
    """Fetch prices from ``source`` and merge them into the store; return what was stored.

    Returns:
        ``{"tickers": [...], "changed_rows": {ticker: n}, "fingerprint": str}``.
    """
    logger = run_logger()
    frame = get_source(source).fetch(tickers, start, end)
    if frame.empty:
        raise ValueError(f"source {source!r} returned no prices for tickers={tickers} start={start} end={end}")
    changed = PriceStore(root).write(frame)
    logger.info("stored %s from %s: %s new or changed rows", len(changed), source, sum(changed.values()))
    return {"tickers": sorted(changed), "changed_rows": changed, "fingerprint": fingerprint(frame)}


class RunLoggerCallback(keras.callbacks.Callback):
    """Sends each epoch's metrics to the Prefect run logger."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        run_logger().info("%sepoch %d: %s", self.prefix, epoch + 1, shown)
