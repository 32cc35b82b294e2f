"""Pieces every flow shares: the data root, the price-update task, Keras-to-Prefect logging."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from features.frame import fingerprint
from features.remote import RemoteRoot, is_url
from features.sources import SourceError
from features.sources.base import check_range, parse_date
from features.store import PriceStore
from features.update import source_for, update_store
from flows.settings import (
    BACKTEST_STATE,
    CHAMPION_POINTER,
    DAILY_STATE,
    DEFAULT_SOURCE,
    PRICES_STATE,
    TRAIN_STATE,
    code_version,
    root_spec,
)
from models.registry import champion_id

__all__ = [
    "BACKTEST_STATE",
    "DAILY_STATE",
    "DEFAULT_SOURCE",
    "PRICES_STATE",
    "TRAIN_STATE",
    "RunLoggerCallback",
    "code_version",
    "date_range",
    "public_path",
    "root_spec",
    "run_logger",
    "update_prices",
    "working_root",
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


@task(
    retries=2, retry_delay_seconds=[5, 20], retry_jitter_factor=0.5, retry_condition_fn=_transient,
    cache_policy=NO_CACHE, timeout_seconds=3600,
)  # fmt: skip
def pull_root(url: str, paths: list[str]) -> str:
    """Bring the local mirror of the remote data root ``url`` up to date for ``paths``; return the mirror.

    When ``paths`` name the champion pointer, the champion's model folder is pulled too.
    """
    remote = RemoteRoot(url)
    report = remote.pull(paths)
    if CHAMPION_POINTER in paths and (champion := champion_id(remote.mirror)) is not None:
        extra = remote.pull([f"models/{champion}"])
        report.transferred += extra.transferred
        report.unchanged += extra.unchanged
    run_logger().info("%s: %s into %s", url, report.summary("pulled"), remote.mirror)
    return str(remote.mirror)


@task(
    retries=2, retry_delay_seconds=[5, 20], retry_jitter_factor=0.5, retry_condition_fn=_transient,
    cache_policy=NO_CACHE, timeout_seconds=3600,
)  # fmt: skip
def push_root(url: str) -> list[str]:
    """Upload what this run changed in the mirror to ``url`` (commit files last); return the paths.

    A conflict (someone else wrote one of those files since the pull) uploads nothing and is not
    retried: :class:`features.remote.RemoteConflictError`.
    """
    remote = RemoteRoot(url)
    report = remote.push()
    run_logger().info("%s: %s", url, report.summary("pushed"))
    return report.transferred


@contextlib.contextmanager
def working_root(value: str | None, *, pull: Sequence[str], push: bool = True) -> Iterator[Path]:
    """The local folder a flow works in: the data root itself, or the mirror of a remote one.

    For a URL (:mod:`features.remote`): pull ``pull`` into the mirror first, and push the run's
    changes when the body finishes without an error. A failed run pushes nothing; its changes stay
    in the mirror, and the next pull replaces those whose remote copy changed meanwhile.
    """
    spec = root_spec(value)
    if not is_url(spec):
        yield Path(spec)
        return
    mirror = Path(pull_root(spec, list(pull)))
    yield mirror
    if push:
        push_root(spec)


def public_path(value: str | None, root: Path, path: str | Path) -> str:
    """Where ``path`` (inside the working root ``root``) lives for readers: the URL for a remote root."""
    spec = root_spec(value)
    return f"{spec}/{Path(path).relative_to(root).as_posix()}" if is_url(spec) else str(path)


class RunLoggerCallback(keras.callbacks.Callback):
    """Sends each epoch's metrics to the Prefect run logger."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        run_logger().info("%sepoch %d: %s", self.prefix, epoch + 1, shown)
