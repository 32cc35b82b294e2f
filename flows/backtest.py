"""The backtest flow: walk-forward retraining, out-of-sample predictions, metrics.

Leaves ``<data root>/reports/backtest/<run id>/`` with ``predictions.parquet`` (schema in
:mod:`models.reports`), ``metrics.json`` (config, folds, model vs baselines, verdict) and
``folds/`` (each block's predictions and summary). The folder is built under a hidden
temporary name and renamed into place when complete.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from features.dataset import DatasetConfig, build_panel
from features.frame import fingerprint
from features.io import write_json, write_parquet
from features.store import PriceStore
from flows.common import (
    DEFAULT_SOURCE,
    RunLoggerCallback,
    code_version,
    data_root,
    date_range,
    run_logger,
    update_prices,
)
from models.evaluation import evaluate_predictions
from models.lstm import ModelConfig
from models.registry import new_model_id
from models.reports import BACKTEST_COLUMNS, check_predictions
from models.scoring import library_versions
from models.training import TrainConfig
from models.walkforward import WalkForwardConfig, plan_folds, run_fold, stitch


def _load_panel(root: str, tickers: list[str], start: Any, end: Any, config: DatasetConfig) -> Any:
    prices = PriceStore(root).read(tickers, start, end)
    return prices, build_panel(prices, config)


@task(cache_policy=NO_CACHE, task_run_name="fold-{fold_index}")
def run_fold_task(
    root: str,
    tickers: list[str],
    start: dt.date | None,
    end: dt.date | None,
    dataset_config: DatasetConfig,
    wf_config: WalkForwardConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    fold_index: int,
    run_id: str,
    out_dir: str,
    data_fingerprint: str,
) -> str:
    """Train and predict one walk-forward block; write its predictions and summary; return the path.

    ``end`` is pinned by the flow to the last date it planned with, and ``data_fingerprint`` must
    match the prices read here, so every block works on exactly the data the plan was made from.
    """
    logger = run_logger()
    prices, panel = _load_panel(root, tickers, start, end, dataset_config)
    if fingerprint(prices) != data_fingerprint:
        raise RuntimeError(f"prices in {root} changed while the backtest ran (fold {fold_index}); rerun the backtest")
    fold = plan_folds(panel, wf_config)[fold_index]
    logger.info(
        "fold %d: train on %d samples, test %s..%s (%d samples)",
        fold.index, len(fold.train_rows), fold.test_start.date(), fold.test_end.date(), len(fold.test_rows),
    )  # fmt: skip
    result = run_fold(
        panel, fold, model_config, train_config, model_id=f"{run_id}-f{fold.index}",
        callbacks=[RunLoggerCallback(prefix=f"fold {fold.index} ")], verbose=0,
    )  # fmt: skip
    path = Path(out_dir) / "folds" / f"fold={fold.index}.parquet"
    write_parquet(check_predictions(result.predictions, backtest=True), path)
    write_json(result.info, path.with_suffix(".json"))
    return str(path)


@flow(name="backtest", log_prints=True)
def backtest_flow(
    source: str = DEFAULT_SOURCE,
    tickers: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    dataset: DatasetConfig = DatasetConfig(),
    model: ModelConfig = ModelConfig(),
    training: TrainConfig = TrainConfig(),
    walk_forward: WalkForwardConfig = WalkForwardConfig(),
    data_root_dir: str | None = None,
) -> str:
    """Walk-forward backtest of an LSTM classifier; returns the run folder's path.

    Args:
        source: price source spec (``sample``, ``yahoo``, ``dir:PATH``, ``synthetic:...``).
        tickers: symbols (None = everything the source has; required for ``yahoo``).
        start: first price date used (inclusive).
        end: last price date used (inclusive).
        dataset: features, timesteps and label definition.
        model: architecture and optimiser.
        training: epochs, batch size, validation share, seed, schedule, calibration.
        walk_forward: blocks, test region and embargo.
        data_root_dir: data root (default ``$UPDOWN_DATA_ROOT`` or ``./data``).
    """
    t0 = time.perf_counter()
    logger = run_logger()
    lo, hi = date_range(start, end)
    dataset_config, wf_config, model_config, train_config = dataset, walk_forward, model, training
    horizon = dataset.label.horizon
    root = data_root(data_root_dir)
    stored = update_prices(source, tickers, lo, hi, str(root))
    names = stored["tickers"]
    prices, panel = _load_panel(str(root), names, lo, hi, dataset_config)
    folds = plan_folds(panel, wf_config)  # fail here, before any training, if the range is too short
    last = prices["date"].max().date()  # pin the range: a store that grows meanwhile cannot shift the plan
    run_id = new_model_id()
    final = root / "reports" / "backtest" / run_id
    partial = final.with_name(f".{run_id}.partial")
    logger.info("backtest %s: %d tickers, %d folds, writing %s", run_id, len(names), len(folds), final)
    configs = (dataset_config, wf_config, model_config, train_config)
    data_id = fingerprint(prices)
    paths = [run_fold_task(str(root), names, lo, last, *configs, f.index, run_id, str(partial), data_id) for f in folds]
    parts = [(pq.read_table(p).to_pandas(), json.loads(Path(p).with_suffix(".json").read_text())) for p in paths]
    predictions, baselines, fold_info = stitch(parts)
    evaluation = evaluate_predictions(predictions, baselines, horizon=horizon)
    write_parquet(
        predictions.loc[:, list(BACKTEST_COLUMNS)], partial / "predictions.parquet", metadata={"run_id": run_id}
    )
    write_json(
        {
            "run_id": run_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "code_version": code_version(),
            "versions": library_versions(),
            "source": source,
            "tickers": names,
            "data_start": str(prices["date"].min().date()),
            "data_end": str(prices["date"].max().date()),
            "data_fingerprint": data_id,
            "config": {
                "dataset": dataset_config.model_dump(mode="json"),
                "walk_forward": wf_config.model_dump(mode="json"),
                "model": model_config.model_dump(mode="json"),
                "training": train_config.model_dump(mode="json"),
            },
            "folds": fold_info,
            **evaluation,
            "wall_seconds": round(time.perf_counter() - t0, 1),
        },
        partial / "metrics.json",
    )
    os.rename(partial, final)
    logger.info(evaluation["verdict"])
    return str(final)
