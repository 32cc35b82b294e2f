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

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from features.dataset import DatasetConfig, build_panel
from features.frame import fingerprint
from features.io import atomic_path, write_json, write_parquet
from features.labels import CLASSES
from features.store import PriceStore
from flows.artifacts import publish_backtest_artifacts
from flows.common import (
    DEFAULT_SOURCE,
    RunLoggerCallback,
    code_version,
    data_root,
    date_range,
    run_logger,
    update_prices,
)
from flows.runners import task_runner_from
from models.backtest_report import write_backtest_report
from models.evaluation import PROB_COLUMNS, evaluate_predictions
from models.lstm import ModelConfig
from models.registry import new_model_id
from models.reports import check_predictions
from models.scoring import library_versions
from models.training import TrainConfig
from models.walkforward import WalkForwardConfig, plan_folds, run_fold, seed_summary, stitch


def _load_panel(root: str, tickers: list[str], start: Any, end: Any, config: DatasetConfig) -> Any:
    prices = PriceStore(root).read(tickers, start, end)
    return prices, build_panel(prices, config)


@task(cache_policy=NO_CACHE, task_run_name="seed-{seed}-fold-{fold_index}", timeout_seconds=6 * 3600)
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
    seed: int,
    run_id: str,
    out_dir: str,
    data_fingerprint: str,
    initial_weights: str | None = None,
) -> str:
    """Train and predict one walk-forward block; return the stem of the files it wrote.

    Writes ``<stem>.parquet`` (predictions), ``<stem>.json`` (summary) and ``<stem>.keras``
    (the block's model, used to warm-start the next block when asked). ``end`` is pinned by the
    flow to the last date it planned with, and ``data_fingerprint`` must match the prices read
    here, so every block works on exactly the data the plan was made from.
    """
    logger = run_logger()
    prices, panel = _load_panel(root, tickers, start, end, dataset_config)
    if fingerprint(prices) != data_fingerprint:
        raise RuntimeError(f"prices in {root} changed while the backtest ran (fold {fold_index}); rerun the backtest")
    fold = plan_folds(panel, wf_config)[fold_index]
    logger.info(
        "seed %d fold %d: train on %d samples, test %s..%s (%d samples)%s",
        seed, fold.index, len(fold.train_rows), fold.test_start.date(), fold.test_end.date(), len(fold.test_rows),
        " (warm start)" if initial_weights else "",
    )  # fmt: skip
    result = run_fold(
        panel,
        fold,
        model_config,
        train_config.model_copy(update={"seed": seed}),
        model_id=f"{run_id}-s{seed}-f{fold.index}",
        callbacks=[RunLoggerCallback(prefix=f"seed {seed} fold {fold.index} ")],
        verbose=0,
        initial_weights=initial_weights,
        adj_close=prices["adj_close"].to_numpy(dtype="float64"),
    )
    stem = Path(out_dir) / "folds" / f"seed={seed}" / f"fold={fold.index}"
    write_parquet(check_predictions(result.predictions, backtest=True), stem.with_suffix(".parquet"))
    baseline_columns = {
        f"{name}:{cls}": p[:, k] for name, p in result.baselines.items() for k, cls in enumerate(CLASSES)
    }
    write_parquet(pd.DataFrame(baseline_columns), stem.with_suffix(".baselines.parquet"))
    write_json({**result.info, "seed": seed}, stem.with_suffix(".json"))
    with atomic_path(stem.with_suffix(".keras"), suffix=".keras") as tmp:
        result.fitted.model.save(tmp)
    return str(stem)


def _read_fold(stem: str) -> tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]:
    path = Path(stem)
    wide = pq.read_table(path.with_suffix(".baselines.parquet")).to_pandas()
    names = dict.fromkeys(c.split(":")[0] for c in wide.columns)
    baselines = {n: wide.loc[:, [f"{n}:{c}" for c in CLASSES]].to_numpy(dtype="float64") for n in names}
    return (
        pq.read_table(path.with_suffix(".parquet")).to_pandas(),
        json.loads(path.with_suffix(".json").read_text()),
        baselines,
    )


def ensemble(per_seed: list[pd.DataFrame]) -> pd.DataFrame:
    """Average the class probabilities of several seeds' predictions (same rows, same order)."""
    if len(per_seed) == 1:
        return per_seed[0]
    out = per_seed[0].copy()
    probs = np.mean([p.loc[:, list(PROB_COLUMNS)].to_numpy() for p in per_seed], axis=0)
    out.loc[:, list(PROB_COLUMNS)] = probs
    out["predicted"] = np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)]
    out["model_id"] = out["model_id"].str.replace(r"-s\d+-", "-ensemble-", regex=True)
    return out


@flow(name="backtest", log_prints=True, task_runner=task_runner_from(os.environ.get("UPDOWN_TASK_RUNNER")))
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
    per_seed: dict[int, tuple[pd.DataFrame, dict[str, np.ndarray], list[dict[str, Any]]]] = {}
    # Blocks of one seed are independent unless warm-started: submit them to the flow's task runner
    # (one thread by default; `--task-runner dask` spreads them over a Dask cluster).
    pending: dict[int, list[Any]] = {}
    for seed in wf_config.seeds:
        if wf_config.warm_start:
            stems: list[str] = []
            for f in folds:
                warm = stems[-1] + ".keras" if stems else None
                stems.append(
                    run_fold_task(
                        str(root), names, lo, last, *configs, f.index, seed, run_id, str(partial), data_id, warm
                    )
                )
            pending[seed] = stems
        else:
            pending[seed] = [
                run_fold_task.submit(
                    str(root), names, lo, last, *configs, f.index, seed, run_id, str(partial), data_id, None
                )
                for f in folds
            ]
    for seed, items in pending.items():
        per_seed[seed] = stitch([_read_fold(s if isinstance(s, str) else s.result()) for s in items])
    predictions = ensemble([p for p, _, _ in per_seed.values()])
    baselines, fold_info = next(iter(per_seed.values()))[1:]
    extra = {}
    if len(per_seed) > 1:
        extra["seeds"] = seed_summary(
            {s: evaluate_predictions(p, b, horizon=horizon)["model"] for s, (p, b, _) in per_seed.items()}
        )
    run_info = {
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
    }
    content = write_backtest_report(
        partial, predictions, baselines, prices,
        folds=fold_info, horizon=horizon, lag=dataset.label.lag, run_info=run_info,
        trials_folder=final.parent, seed=wf_config.seeds[0], extra=extra,
    )  # fmt: skip
    content["wall_seconds"] = round(time.perf_counter() - t0, 1)
    write_json(content, partial / "metrics.json")
    os.rename(partial, final)
    publish_backtest_artifacts(content, run_id)
    for line in content["verdict_lines"] if content.get("verdict_lines") else [content["verdict"]]:
        logger.info(line)
    return str(final)
