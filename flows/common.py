"""Pieces every flow shares: the data root, the price-update task, Keras-to-Prefect logging."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import pandas as pd
from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError

from features.dates import check_range, parse_date
from features.frame import fingerprint
from features.prices.sources import SourceError
from features.prices.sources.base import SourceUnavailableError
from features.prices.store import PriceStore
from features.prices.update import source_for, update_store
from features.storage import layout
from features.storage.remote import RemoteRoot, is_url
from flows import server_guard
from flows.exits import PartialFailureError, is_permanent_os_error, partial_message
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
from models.serving.registry import RegistryError, champion_id

__all__ = [
    "BACKTEST_STATE",
    "DAILY_STATE",
    "DEFAULT_SOURCE",
    "PRICES_STATE",
    "TRAIN_STATE",
    "RunLoggerCallback",
    "code_version",
    "date_range",
    "flow_retries",
    "market_today",
    "public_path",
    "rename_flow_run",
    "require_complete",
    "root_spec",
    "run_logger",
    "run_name",
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


MARKET_TZ = "America/New_York"


def market_today() -> dt.date:
    """Today's date in New York, where the prices' trading days are counted."""
    return pd.Timestamp.now(tz=MARKET_TZ).date()


def run_name(flow: str, *, date_parameter: str | None = None, clock: bool = False) -> Any:
    """A ``flow_run_name`` callable: ``<flow>-<date>`` (``daily-2026-12-01``) or ``<flow>-<UTC time>``.

    The date is the run's ``date_parameter`` when it is set (the as-of or end date), else today
    in New York. With ``clock`` it is the UTC start time as ``YYYYMMDD-HHMMSS``, the start of a
    backtest's run id.
    """

    def name() -> str:
        from prefect.runtime import flow_run

        if clock:
            return f"{flow}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"
        value = flow_run.parameters.get(date_parameter) if date_parameter else None
        day = parse_date(value, name=str(date_parameter)) if value is not None else None
        return f"{flow}-{(day.date() if day is not None else market_today()):%Y-%m-%d}"

    name.__name__ = f"{flow}_run_name"
    return name


def rename_flow_run(name: str) -> None:
    """Rename the flow run in progress (nothing outside one); a failure only logs a warning."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(context.flow_run.id, name=name)
    except Exception as exc:  # a name is a convenience; never fail a run for it
        run_logger().warning("could not rename this flow run to %s: %s", name, exc)


# Errors a later attempt of a whole flow run may not see: the source or the network was down, a
# lock or a remote write was busy. Not bad input (ValueError), not a source that answered "no
# such ticker" (other SourceErrors), not stale prices, not a permanent OS error (a full disk, a
# read-only or forbidden data root: flows.exits.PERMANENT_ERRNOS): retrying those only repeats
# the failure.
TRANSIENT_FLOW_ERRORS: tuple[type[BaseException], ...] = (SourceUnavailableError, OSError, TimeoutError)


@contextlib.contextmanager
def flow_retries(delays: Sequence[float], *, deployments_only: bool = True) -> Iterator[None]:
    """Retry the enclosing flow run after a transient error only, waiting ``delays[k]`` before retry k+1.

    Prefect 3's flow-level retries (``@flow(retries=..., retry_delay_seconds=...)``) retry every
    failure after one fixed delay: the server turns the run's proposed ``Failed`` state into
    ``AwaitingRetry`` while its run count is within the retry policy stored on the flow run. So
    when the body raises, this sets that policy before the exception reaches Prefect: ``retries=0``
    for a non-transient error (the run fails now) and, for one of :data:`TRANSIENT_FLOW_ERRORS`,
    the delay of this attempt (a backoff). With ``deployments_only`` only runs of a deployment
    (scheduled or triggered on a server) retry: someone running the flow by hand (``updown
    daily``) hears about an unreachable source at once instead of 20 minutes later. Outside a
    flow run (``.fn()``) it does nothing.
    """
    try:
        yield
    except Exception as exc:
        _set_retry_policy(exc, delays, deployments_only=deployments_only)
        raise


def _set_retry_policy(exc: Exception, delays: Sequence[float], *, deployments_only: bool) -> None:
    context = FlowRunContext.get()
    run = None if context is None else context.flow_run
    if run is None:
        return
    attempt = max(run.run_count, 1)
    eligible = run.deployment_id is not None or not deployments_only
    transient = isinstance(exc, TRANSIENT_FLOW_ERRORS) and not is_permanent_os_error(exc)
    if eligible and transient and attempt <= len(delays):
        update = {"retries": len(delays), "retry_delay": int(delays[attempt - 1])}
        run_logger().warning(
            "transient error (%s); retry %d of %d in %d s",
            type(exc).__name__,
            attempt,
            len(delays),
            delays[attempt - 1],
        )
    else:
        update = {"retries": 0}
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, empirical_policy=run.empirical_policy.model_copy(update=update))
    except Exception as api_error:  # the flow's own retry policy then applies unchanged
        run_logger().warning("could not set the retry policy of this run: %s", api_error)


class _OneTraceback(logging.Filter):
    """Drop the flow run's second copy of a traceback its failed task run already logged.

    Prefect logs a task's exception with its traceback when the task run fails ("Task run failed
    with exception ...") and again when the same exception ends the flow run ("Encountered
    exception during execution"). The flow's record keeps its message line (the run's outcome)
    and loses the duplicate traceback.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen: collections.deque[str] = collections.deque(maxlen=64)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        key = f"{type(exc).__name__}:{exc}"
        if record.name == "prefect.task_runs":
            self._seen.append(key)
        elif key in self._seen:
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} (traceback in the failed task run's log above)"
        return True


server_guard.install()  # every flow imports this module: no temporary Prefect server outlives its process

_one_traceback = _OneTraceback()
for _name in ("prefect.task_runs", "prefect.flow_runs"):
    if _one_traceback not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_one_traceback)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only errors that may pass (I/O hiccups, timeouts).

    Not bad input (``ValueError``), not a source that answered "no such ticker" (``SourceError``:
    the adapter has already retried what deserved it), not an unreachable source, which must
    fail fast (``SourceUnavailableError``), and not a permanent OS error (a full disk, a
    read-only or forbidden data root: :data:`flows.exits.PERMANENT_ERRNOS`).
    """
    try:
        state.result()
    except (ValueError, SourceError):
        return False
    except OSError as exc:
        return not is_permanent_os_error(exc)
    except TimeoutError:
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
    """Bring the store up to date from ``source``, incrementally (:func:`features.prices.update.update_store`).

    Yahoo's caches go under ``<root>/cache/yfinance``. The run log gets one summary line (a
    warning when a ticker failed), a warning per failed ticker and per rejected or flagged row;
    the other tickers' lines go to DEBUG.

    Returns:
        JSON-ready ``{"tickers": [...], "changed_rows": {ticker: n}, "fingerprint": str,
        "failures": {ticker: reason}, "report": {...}}``: ``tickers`` are those that did not
        fail, ``fingerprint`` hashes their stored prices in ``[start, end]``, ``report`` is
        :meth:`features.prices.update.UpdateReport.to_dict`.

    Raises:
        ValueError: bad tickers or dates, or no stored prices at all in the range.
        SourceUnavailableError: the source cannot be reached; nothing was written.
        SourceError: every ticker failed; the message lists each with its reason.
    """
    logger = run_logger()
    store = PriceStore(root)
    report = update_store(source_for(source, root=root), store, tickers, start=start, end=end)
    for k, (level, line) in enumerate(report.log_lines()):
        # line 0 is the summary; an unremarkable ticker's own line is detail an operator rarely needs
        logger.log(logging.DEBUG if k and level < logging.WARNING else level, line)
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


def require_complete(stored: dict[str, Any], *, allow_partial: bool) -> list[str]:
    """The tickers :func:`update_prices` stored, once the partial-failure policy allows going on.

    The policy of every command (docs/operations.md, "Exit statuses"): when some requested tickers
    failed, stop before anything is trained or published from the others unless ``allow_partial``;
    with it, go on with the others and log one warning naming the failed ones.

    Raises:
        PartialFailureError: some tickers failed and ``allow_partial`` is false; the message names each.
    """
    failures = dict(stored.get("failures") or {})
    if failures:
        of = len(failures) + len(stored["tickers"])
        if not allow_partial:
            raise PartialFailureError(partial_message(failures, of=of), failures)
        run_logger().warning(
            "%s; allow_partial: going on with %s", partial_message(failures, of=of, hint=False), stored["tickers"]
        )
    return list(stored["tickers"])


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
    try:
        champion = champion_id(remote.mirror) if CHAMPION_POINTER in paths else None
    except RegistryError as exc:  # the flow decides what a corrupt pointer means (train replaces it)
        run_logger().warning("%s; its model folder is not pulled", exc)
        champion = None
    if champion is not None:
        extra = remote.pull([layout.model_folder(champion)])
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
    retried: :class:`features.storage.remote.RemoteConflictError`.
    """
    remote = RemoteRoot(url)
    report = remote.push()
    run_logger().info("%s: %s", url, report.summary("pushed"))
    return report.transferred


@contextlib.contextmanager
def working_root(value: str | None, *, pull: Sequence[str], push: bool = True) -> Iterator[Path]:
    """The local folder a flow works in: the data root itself, or the mirror of a remote one.

    For a URL (:mod:`features.storage.remote`): pull ``pull`` into the mirror first, and push the run's
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
    """Sends each epoch's metrics to the Prefect run logger, with the epoch count and an ETA.

    The ETA is the mean epoch time so far times the epochs left: an upper bound, since early
    stopping may end training sooner.
    """

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self._started = time.perf_counter()

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        total = (self.params or {}).get("epochs")
        done = epoch + 1
        if total:
            left = (time.perf_counter() - self._started) / done * (total - done)
            run_logger().info("%sepoch %d/%d (eta %s): %s", self.prefix, done, total, format_seconds(left), shown)
        else:
            run_logger().info("%sepoch %d: %s", self.prefix, done, shown)


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h04m``: a duration for a log line."""
    s = round(max(seconds, 0.0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
