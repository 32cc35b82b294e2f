"""The daily flow: update prices, settle past predictions, score the as-of date, publish a partition.

Publishes ``<data root>/reports/daily/date=YYYY-MM-DD/predictions.parquet`` (replaced, never
duplicated, when re-run for the same date), with key-value metadata: model id, data
fingerprint, code version, creation time.

It first refuses (raises :class:`StalePricesError`, the run fails) on stale or incomplete
prices: the latest stored day more than ``max_staleness_days`` business days old (only when the
as-of date was not given), or fewer than ``min_coverage`` of the tickers priced on the as-of
date unless ``allow_partial``. Only fresh prices can then mean "nothing new": it publishes
nothing, says why, and ends in a ``Completed`` state named ``Skipped`` (its own name in the UI's
run list) when

* no ticker has a price on the as-of date (weekend, holiday, data not yet published), or
* the as-of date was not given and the latest stored day is already published (a scheduled run
  on a holiday must not re-label yesterday's data as today's).

A stopped feed therefore fails the scheduled run once it is ``max_staleness_days`` old, instead
of ending Skipped for ever. Before publishing it settles every past prediction whose horizon has
elapsed and rewrites the live scorecard (:mod:`models.serving.settlement`), warning when a model drifts.
A deployment's run that failed on a transient error (the source unreachable, an I/O error) is
retried with a backoff of :data:`RETRY_DELAYS` seconds; bad input and stale prices are not
retried, nor is a run started by hand (``updown daily``: it fails at once).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, State
from pydantic import Field

from features.dates import parse_date
from features.frame import fingerprint
from features.indicators import feature_lookback
from features.prices.store import PriceStore
from flows.artifacts import publish_daily_artifacts
from flows.common import (
    DAILY_STATE,
    DEFAULT_SOURCE,
    code_version,
    flow_retries,
    market_today,
    public_path,
    run_logger,
    run_name,
    update_prices,
    working_root,
)
from flows.exits import PartialFailureError
from models.learn.classifier import LSTMClassifier
from models.serving.predictions import daily_path, write_daily
from models.serving.registry import load_model
from models.serving.scoring import score, universe_warning
from models.serving.settlement import settle_store

__all__ = ["RETRY_DELAYS", "SKIPPED", "IncompletePricesError", "StalePricesError", "check_freshness", "daily_flow"]

# Seconds before each flow-level retry after a transient error: 1, 5, then 15 minutes (a source
# outage rarely passes within the task's own short retries; the run still ends before 18:00).
RETRY_DELAYS: tuple[int, ...] = (60, 300, 900)
SKIPPED = "Skipped"  # the final state's name of a run that published nothing


class StalePricesError(RuntimeError):
    """The stored prices are too old or too incomplete to publish on."""


class IncompletePricesError(StalePricesError, PartialFailureError):
    """Fewer than ``min_coverage`` of the tickers are priced on the as-of date (exit status ``PARTIAL``)."""


def _lookback_days(features: tuple[str, ...], timesteps: int) -> int:
    """Calendar days of history to load before the as-of date.

    Recursive indicators (RSI, ATR, MACD) only match their full-history values after
    :func:`features.indicators.feature_lookback` rows, and the window needs ``timesteps`` more;
    trading days are turned into calendar days with room for weekends and holidays.
    """
    rows = feature_lookback(features) + timesteps
    return int(rows * 7 / 5) + 30


def check_freshness(
    prices: pd.DataFrame,
    tickers: list[str],
    day: pd.Timestamp,
    *,
    explicit: bool,
    min_coverage: float = 0.9,
    allow_partial: bool = False,
    max_staleness_days: int | None = None,
    today: dt.date | None = None,
) -> list[str]:
    """Refuse to publish on stale or incomplete prices; return the tickers without a price on ``day``.

    Args:
        prices: stored prices up to ``day``.
        tickers: the tickers to score.
        day: the as-of date.
        explicit: whether the caller named ``day`` (staleness is only judged when it did not).
        min_coverage: the smallest share of ``tickers`` that must have a price on ``day`` (0..1).
        allow_partial: publish whatever is priced, however few.
        max_staleness_days: business days ``day`` may lag ``today`` (None: no limit).
        today: the run date (default: today in New York).

    Raises:
        StalePricesError: naming the dates (stale prices).
        IncompletePricesError: naming the share and the missing tickers (a partial failure).
    """
    if not explicit and max_staleness_days is not None:
        today = today or market_today()
        lag = len(pd.bdate_range(day, today)) - 1
        if lag > max_staleness_days:
            raise StalePricesError(
                f"stale prices: the latest stored day is {day:%Y-%m-%d}, {lag} business days before {today:%Y-%m-%d} "
                f"(max_staleness_days={max_staleness_days}); is the source still updating? nothing published"
            )
    priced = set(prices.loc[prices["date"] == day, "ticker"])
    missing = sorted(set(tickers) - priced)
    share = 1 - len(missing) / len(tickers)
    if missing and len(missing) < len(tickers) and share < min_coverage and not allow_partial:
        raise IncompletePricesError(
            f"incomplete prices on {day:%Y-%m-%d}: {len(tickers) - len(missing)}/{len(tickers)} tickers "
            f"({share:.0%}) have a price, min_coverage={min_coverage:.0%}; missing {missing}. Nothing published; "
            f"rerun later, or pass --allow-partial (allow_partial=True) to publish the priced ones"
        )
    return missing


@task(cache_policy=NO_CACHE)
def settle_predictions(root: str, window: int) -> dict[str, Any]:
    """Settle past daily predictions whose horizon elapsed and rewrite the live scorecard."""
    logger = run_logger()
    report = settle_store(Path(root), window=window)
    if report.settled_dates:
        logger.info(
            "settled %d new predictions on %d decision dates (%s..%s)",
            report.new_rows, len(report.settled_dates),
            f"{report.settled_dates[0]:%Y-%m-%d}", f"{report.settled_dates[-1]:%Y-%m-%d}",
        )  # fmt: skip
    for line in report.warnings:
        logger.warning(line)
    return {
        "settled_dates": [f"{d:%Y-%m-%d}" for d in report.settled_dates],
        "new_rows": report.new_rows,
        "scorecard": json.loads(report.scorecard.to_json(orient="records", date_format="iso")),
        "warnings": report.warnings,
    }


@flow(
    name="daily",
    flow_run_name=run_name("daily", date_parameter="as_of"),
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS[0],  # per attempt and only for transient errors: flow_retries below
)
def daily_flow(
    as_of: dt.date | None = None,
    source: str = DEFAULT_SOURCE,
    tickers: list[str] | None = None,
    data_root_dir: str | None = None,
    min_coverage: Annotated[float, Field(ge=0, le=1)] = 0.9,
    allow_partial: bool = False,
    max_staleness_days: Annotated[int, Field(ge=0)] | None = None,
    settle: bool = True,
    scorecard_window: Annotated[int, Field(ge=1)] = 60,
) -> str | State[None]:
    """Score ``as_of`` (default: the latest stored trading day) with the champion model.

    Args:
        as_of: decision date; its close must be in the data.
        source: price source spec.
        tickers: symbols to score (default: the tickers the champion was trained on).
        data_root_dir: data root (default ``$UPDOWN_DATA_ROOT`` or ``./data``).
        min_coverage: the smallest share of the tickers that must have a price on the as-of date.
        allow_partial: publish the priced tickers even below ``min_coverage``.
        max_staleness_days: when ``as_of`` is not given, refuse if the latest stored day is more
            than this many business days before today in New York (None: no limit; the
            scheduled deployment sets it).
        settle: settle past predictions and rewrite the scorecard first.
        scorecard_window: decision dates in the scorecard's rolling window.

    Returns:
        The published partition's path; when there was nothing new to publish, a ``Completed``
        state named ``Skipped`` whose message says why (calling the flow then returns None).

    Raises:
        StalePricesError: stale or incomplete prices (see the module docstring); nothing published.
    """
    if not 0 <= min_coverage <= 1:
        raise ValueError(f"min_coverage must be in [0, 1], got min_coverage={min_coverage}")
    with flow_retries(RETRY_DELAYS), working_root(data_root_dir, pull=DAILY_STATE) as root:
        loaded = load_model(root)
        names = tickers or list(loaded.card_["tickers"])
        if warning := universe_warning(loaded.dataset, list(loaded.card_["tickers"]), names):
            run_logger().warning(warning)
        day = parse_date(as_of, name="as_of")
        lookback = pd.Timedelta(days=_lookback_days(loaded.features, loaded.timesteps))
        prices = _recent_prices(source, names, root, day, lookback, as_of=as_of)
        settlement = settle_predictions(str(root), scorecard_window) if settle else {}
        explicit = day is not None
        day = day or prices["date"].max()
        # freshness first: a stopped feed must fail the run, not look like "already published"
        missing = check_freshness(
            prices, names, day, explicit=explicit, min_coverage=min_coverage,
            allow_partial=allow_partial, max_staleness_days=max_staleness_days,
        )  # fmt: skip
        if not explicit and daily_path(root, day).is_file():
            return _skipped(f"the latest stored day {day:%Y-%m-%d} is already published (pass as_of to republish)")
        if len(missing) == len(names):
            return _skipped(f"no ticker has a price on {day:%Y-%m-%d} (market closed or data not yet published)")
        if missing:
            run_logger().warning("no price on %s for %s; they are not scored", f"{day:%Y-%m-%d}", missing)
        frame, path = _publish(root, loaded, prices[prices["date"] >= day - lookback], day)
        publish_daily_artifacts(frame, day, scorecard=settlement.get("scorecard"))
        return public_path(data_root_dir, root, path)


def _recent_prices(
    source: str,
    names: list[str],
    root: Path,
    day: pd.Timestamp | None,
    lookback: pd.Timedelta,
    *,
    as_of: dt.date | None,
) -> pd.DataFrame:
    """Update the store, then read ``lookback`` before ``day`` (None: before the latest stored day).

    Raises:
        ValueError: nothing stored for ``names`` up to ``day``.
    """
    start = None if day is None else day - lookback
    update_prices(source, names, start, day, str(root))
    store = PriceStore(root)
    if start is None:  # no as_of: read only the lookback before the latest stored day, not all history
        latest = [d[-1] for d in store.stored_dates(names).values() if len(d)]
        start = max(latest) - lookback if latest else None
    prices = store.read(names, start=start, end=day)
    if prices.empty:
        raise ValueError(f"no stored prices for tickers={names} up to as_of={as_of}")
    return prices


def _publish(root: Path, loaded: LSTMClassifier, window: pd.DataFrame, day: pd.Timestamp) -> tuple[pd.DataFrame, Path]:
    """Score ``day`` from the prices in ``window`` and write its daily partition; return the rows and the file.

    Raises:
        ValueError: the window is too short to fill the model's timesteps.
    """
    frame = score(loaded, window.reset_index(drop=True), day)
    if frame.empty:
        raise ValueError(f"not enough history before {day:%Y-%m-%d} to fill a {loaded.timesteps}-day window")
    path = write_daily(
        root, day, frame,
        metadata={
            "model_id": loaded.model_id_,
            "data_fingerprint": fingerprint(window),
            "code_version": code_version(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )  # fmt: skip
    run_logger().info("published %d predictions for %s to %s", len(frame), f"{day:%Y-%m-%d}", path)
    return frame, path


def _skipped(reason: str) -> State[None]:
    """The final state of a run that published nothing: ``Completed``, named ``Skipped`` in the UI."""
    run_logger().warning("nothing new: %s; nothing published", reason)
    return Completed(name=SKIPPED, message=f"nothing published: {reason}")
