"""Deployments of the three flows, and ``serve`` to run them from this process.

* ``daily/daily``: weekdays after the US close (17:30 New York time), scoring the latest stored
  day; it refuses prices more than ``max_staleness_days`` business days old and publishes
  nothing on holidays. One run at a time (``concurrency_limit=1``); the flow itself retries
  transient errors with a backoff (:data:`flows.daily.RETRY_DELAYS`).
* ``train/weekly-retrain``: Saturday mornings; the new model is promoted only if it beats the
  champion on the same held-out samples (:mod:`models.serving.promotion`). One run at a time.
* ``backtest/backtest``: no schedule; run on demand with
  ``prefect deployment run 'backtest/backtest' --param training='{"epochs": 5}'`` (the configs are
  nested parameters: ``dataset``, ``model``, ``training``, ``walk_forward``; a partial object
  keeps the other fields' defaults).

Schedules only fire against a real Prefect server (``prefect server start`` and
``PREFECT_API_URL``): the temporary server the CLI starts never runs them. ``prefect.yaml`` at the
repository root declares the same flows for users with work pools under other names
(:data:`WORKER_SUFFIX`: ``daily/daily-worker``...), so neither overwrites the other's parameters.
See docs/operations.md.
"""

from __future__ import annotations

from typing import Any, cast

import prefect
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from flows.backtest import backtest_flow
from flows.daily import daily_flow
from flows.settings import default_source, root_spec
from flows.train import train_flow

TIMEZONE = "America/New_York"
DAILY_CRON = "30 17 * * 1-5"  # weekdays, 17:30 New York time: after the 16:00 close and the vendors' settle
RETRAIN_CRON = "0 6 * * 6"  # Saturdays 06:00 New York time: the week's data is final, no daily run competes
MAX_STALENESS_DAYS = 3
TAGS = ["updown"]
WORKER_SUFFIX = "-worker"  # prefect.yaml's names: `updown serve` and `prefect deploy --all` never share one


def build_deployments(
    *,
    source: str | None = None,
    tickers: list[str] | None = None,
    data_root_dir: str | None = None,
    timezone: str = TIMEZONE,
    daily_cron: str = DAILY_CRON,
    retrain_cron: str = RETRAIN_CRON,
    max_staleness_days: int = MAX_STALENESS_DAYS,
) -> list[RunnerDeployment]:
    """The daily, weekly-retrain and backtest deployments, in that order.

    Args:
        source: price source of every flow (default ``$UPDOWN_SOURCE`` or ``sample``).
        tickers: symbols for train and backtest (daily scores the champion's tickers); None = the source's.
        data_root_dir: data root (a path, resolved now to an absolute one, or a URL such as ``s3://bucket/x``),
            pinned in the parameters, so a run does not depend on the serving process's working directory.
        timezone: IANA time zone of the cron schedules.
        daily_cron: when the daily flow runs.
        retrain_cron: when the weekly retrain runs.
        max_staleness_days: the scheduled daily run refuses prices older than this (business days).

    Returns:
        Runner deployments with module-path entrypoints (``flows.daily.daily_flow``...).
    """
    shared: dict[str, Any] = {"source": source or default_source(), "data_root_dir": root_spec(data_root_dir)}
    picked = {"tickers": tickers} if tickers else {}
    common: dict[str, Any] = {"tags": TAGS, "entrypoint_type": EntrypointType.MODULE_PATH}
    # to_deployment is sync-compatible (a coroutine when awaited from async code); here it is sync
    made = [
        daily_flow.to_deployment(
            "daily",
            schedules=[Cron(daily_cron, timezone=timezone)],
            parameters={**shared, "max_staleness_days": max_staleness_days},
            description="Update prices, settle past predictions, publish the latest day's signals.",
            concurrency_limit=1,  # two runs would race to publish the same partition
            **common,
        ),
        train_flow.to_deployment(
            "weekly-retrain",
            schedules=[Cron(retrain_cron, timezone=timezone)],
            parameters={**shared, **picked},
            description="Retrain on all stored history; promote only if better on the same held-out samples.",
            concurrency_limit=1,  # two retrains would race to promote a champion
            **common,
        ),
        backtest_flow.to_deployment(
            "backtest",
            parameters={**shared, **picked},
            description=(
                "Walk-forward backtest on demand: prefect deployment run 'backtest/backtest' "
                "--param training='{\"epochs\": 5}' (see docs/operations.md)"
            ),
            **common,
        ),
    ]
    return [cast(RunnerDeployment, d) for d in made]


def serve(*, limit: int | None = None, **options: Any) -> None:
    """Serve the deployments from this process until interrupted (``updown serve``).

    Needs a Prefect API that runs schedules: ``PREFECT_API_URL`` pointing at ``prefect server
    start`` (or Prefect Cloud). Flow runs execute in subprocesses of this one.

    Args:
        limit: flow runs at a time (default: no limit; a long backtest must not hold up the daily run).
        **options: passed to :func:`build_deployments`.
    """
    prefect.serve(*build_deployments(**options), limit=limit)


if __name__ == "__main__":
    serve()
