"""Checks the CLI runs before any flow starts (so before Prefect's start-up): cheap, one line each.

* :func:`check_data_root`: the data root is a folder (or does not exist yet), not a file.
* :func:`check_source`: the ``--source`` spec parses (a bad one used to fail 20-45 s in, after
  Prefect started and the flow ran, with a 74-line traceback).
* :func:`check_job_size`: the model, batch and (for ``synthetic:``) data sizes fit in memory
  together (``--units 100000000`` used to run for minutes until the kernel's OOM killer ended it).
"""

from __future__ import annotations

import os
from pathlib import Path

from features.dataset import DatasetConfig
from features.settings import DEFAULT_DATA_ROOT, Settings
from features.storage.remote import is_url
from flows.settings import root_spec
from models.learn.config import ModelConfig, TrainConfig, check_training_memory, training_memory_bytes

__all__ = ["MEMORY_SHARE", "available_memory", "check_data_root", "check_job_size", "check_source"]

MEMORY_SHARE = 0.8
"""The share of the machine's physical memory one job may plan to use."""


def check_data_root(value: str | None) -> None:
    """Refuse a local data root that is a file, or lies under one.

    Raises:
        NotADirectoryError: naming the path and where it came from (``--data-root`` or ``$UPDOWN_DATA_ROOT``).
    """
    spec = root_spec(value)
    if is_url(spec):
        return
    path = Path(spec)
    from_env = Settings.from_env().data_root != DEFAULT_DATA_ROOT
    origin = "--data-root" if value else "$UPDOWN_DATA_ROOT" if from_env else "the default ./data"
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "is" if folder == path else f"lies under {folder}, which is"
                raise NotADirectoryError(f"data root {path} (from {origin}) {where} a file, not a folder")
            return


def check_source(spec: str) -> None:
    """Parse a ``--source`` spec without fetching anything (Yahoo's adapter is not even imported).

    Raises:
        ValueError: naming the spec and what is wrong with it.
    """
    if spec.strip().lower() == "yahoo":
        return
    from features.prices.sources import get_source

    get_source(spec)


def available_memory() -> int:
    """Bytes one job may plan to use: :data:`MEMORY_SHARE` of the physical memory (0 when unknown: no check)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * MEMORY_SHARE)
    except (ValueError, OSError, AttributeError):
        return 0


def check_job_size(
    source: str, dataset: DatasetConfig, model: ModelConfig, training: TrainConfig, *, available: int | None = None
) -> None:
    """Refuse a train or backtest whose estimated memory exceeds what the machine has.

    The estimate (:func:`models.learn.config.training_memory_bytes`) counts the weights, one
    batch (``batch_size x timesteps x units`` and ``x features``) and, for a ``synthetic:`` source,
    whose size the spec states, its ``tickers x days`` rows.

    Raises:
        ValueError: the estimate and the memory available, in GiB.
    """
    limit = available_memory() if available is None else available
    if limit <= 0:
        return
    rows = 0
    if source.strip().lower().startswith("synthetic"):
        from features.prices.sources import get_source

        market = get_source(source)
        rows = int(getattr(market, "tickers", 0)) * int(getattr(market, "days", 0))
    estimate = training_memory_bytes(
        timesteps=dataset.timesteps,
        n_features=len(dataset.features),
        model=model,
        batch_size=training.batch_size,
        n_rows=rows,
    )
    what = (
        f"training units={','.join(map(str, model.units))}{' bidirectional' if model.bidirectional else ''} "
        f"with timesteps={dataset.timesteps} x features={len(dataset.features)} x batch_size={training.batch_size}"
        + (f" on {rows:,} price rows" if rows else "")
    )
    check_training_memory(estimate, available=limit, what=what)
