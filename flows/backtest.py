"""The backtest flow: walk-forward retraining, out-of-sample predictions, metrics.

Leaves ``<data root>/reports/backtest/<run id>/`` with ``predictions.parquet`` (schema in
:mod:`models.reports`), ``metrics.json`` (config, folds, model vs baselines, verdict) and
``folds/`` (each block's predictions and summary). The folder is built under a hidden
temporary name and renamed into place when complete.
"""

from __future__ import annotations

import datetime as dt
import functools
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
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.states import Completed, State

import features
import models
from features.dataset import DatasetConfig, build_panel
from features.frame import fingerprint
from features.io import atomic_path, write_json, write_parquet
from features.labels import CLASSES
from features.remote import is_url
from features.store import PriceStore
from flows.artifacts import BlockProgress, publish_backtest_artifacts
from flows.common import (
    BACKTEST_STATE,
    DEFAULT_SOURCE,
    RunLoggerCallback,
    code_version,
    date_range,
    public_path,
    root_spec,
    run_logger,
    run_name,
    update_prices,
    working_root,
)
from flows.runners import runs_on_other_machines, task_runner_from
from models import foldcache
from models.backtest_report import write_backtest_report
from models.evaluation import PROB_COLUMNS, evaluate_predictions
from models.lstm import ModelConfig
from models.registry import new_model_id
from models.reports import check_predictions
from models.scoring import library_versions
from models.training import TrainConfig
from models.walkforward import WalkForwardConfig, plan_folds, run_fold, seed_summary, stitch

# The code a block runs: any edit to it, committed or not, keys new fold cache entries.
_BLOCK_SOURCES = (Path(features.__file__).parent, Path(models.__file__).parent, Path(__file__))


@functools.cache
def _code_identity() -> tuple[str, str]:
    """(git commit, source hash) of the code this process loaded: computed once, not once per block.

    Once per process is also the right scope: a long-lived process (``updown serve``, a Dask
    worker) keeps running the modules it imported even if the files on disk change.
    """
    return code_version(), foldcache.source_digest(*_BLOCK_SOURCES)


def _load_panel(root: str, tickers: list[str], start: Any, end: Any, config: DatasetConfig) -> Any:
    prices = PriceStore(root).read(tickers, start, end)
    return prices, build_panel(prices, config)


# No timeout_seconds: Prefect cannot interrupt a task running in a worker thread (the task runner's
# threads, a Dask worker's), it only warns on every block. A block is bounded by its training config
# instead: at most `epochs` passes over a fixed set of samples, fewer with early stopping.
@task(cache_policy=NO_CACHE, task_run_name="seed-{seed}-fold-{fold_index}")
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
    use_cache: bool = True,
) -> str | State[str]:
    """Train and predict one walk-forward block; return the stem of the files it wrote.

    Writes ``<stem>.parquet`` (predictions), ``<stem>.baselines.parquet``, ``<stem>.json``
    (summary) and ``<stem>.keras`` (the block's model, used to warm-start the next block when
    asked). ``end`` is pinned by the flow to the last date it planned with, and ``data_fingerprint``
    must match the prices read here, so every block works on exactly the data the plan was made from.

    Training is deterministic, so with ``use_cache`` a block whose inputs were seen before is
    copied from ``<root>/cache/folds`` (:mod:`models.foldcache`) instead of trained, and a newly
    trained block is stored there. A cached block returns a ``Completed`` state named ``Cached``
    (shown in the UI) carrying the stem: ``.submit(...).result()`` and ``return_state=True``
    followed by ``.result()`` both resolve it to the stem, but a plain call returns the state.
    """
    logger = run_logger()
    prices = PriceStore(root).read(tickers, start, end)
    if fingerprint(prices) != data_fingerprint:
        raise RuntimeError(f"prices in {root} changed while the backtest ran (fold {fold_index}); rerun the backtest")
    stem = Path(out_dir) / "folds" / f"seed={seed}" / f"fold={fold_index}"
    model_id = f"{run_id}-s{seed}-f{fold_index}"
    commit, digest = _code_identity()
    inputs = foldcache.fold_inputs(  # with the code (git commit and source hash) and library versions
        data_fingerprint=data_fingerprint, tickers=tickers, start=start, end=end,
        dataset=dataset_config, walk_forward=wf_config, model=model_config, training=train_config,
        fold_index=fold_index, seed=seed, initial_weights=initial_weights,
        code_version=commit, code_digest=digest,
        environment=foldcache.numeric_environment(),
    )  # fmt: skip
    key = foldcache.fold_key(inputs)
    if use_cache and _restored(root, key, stem, model_id, logger):
        logger.info("seed %d fold %d: cached result %s", seed, fold_index, key[:12])
        return Completed(data=str(stem), name="Cached", message=f"fold cache entry {key[:12]}")
    panel = build_panel(prices, dataset_config)
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
        model_id=model_id,
        callbacks=[RunLoggerCallback(prefix=f"seed {seed} fold {fold.index} ")],
        verbose=0,
        initial_weights=initial_weights,
        adj_close=prices["adj_close"].to_numpy(dtype="float64"),
    )
    write_parquet(check_predictions(result.predictions, backtest=True), stem.with_suffix(".parquet"))
    baseline_columns = {
        f"{name}:{cls}": p[:, k] for name, p in result.baselines.items() for k, cls in enumerate(CLASSES)
    }
    write_parquet(pd.DataFrame(baseline_columns), stem.with_suffix(".baselines.parquet"))
    write_json({**result.info, "seed": seed}, stem.with_suffix(".json"))
    with atomic_path(stem.with_suffix(".keras"), suffix=".keras") as tmp:
        result.fitted.model.save(tmp)
    if use_cache:
        try:
            foldcache.store(root, key, stem, inputs=inputs)
        except OSError as exc:  # the block is done; a cache that cannot be written only costs a rerun
            logger.warning("seed %d fold %d: could not store in the fold cache: %s", seed, fold_index, exc)
    return str(stem)


def _restored(root: str, key: str, stem: Path, model_id: str, logger: foldcache.Logger) -> bool:
    """Copy the cached block for ``key`` to ``stem``; False (recompute) on a miss or a damaged entry."""
    entry = foldcache.lookup(root, key, log=logger)
    if entry is None:
        return False
    try:
        foldcache.restore(entry, stem, model_id=model_id)
    except (OSError, ValueError) as exc:
        foldcache.discard(entry, reason=str(exc), log=logger)
        return False
    return True


def _task_runner() -> Any:
    """The task runner of the flow run in progress (None outside one, e.g. under ``.fn()``)."""
    context = FlowRunContext.get()
    return None if context is None else context.task_runner


def _stem(outcome: PrefectFuture[str | State[str]] | State[str | State[str]]) -> str:
    """The stem a fold task resolved to (``.result()`` unwraps the ``Cached`` state of a cache hit)."""
    stem = outcome.result()
    assert isinstance(stem, str), f"run_fold_task resolved to {stem!r}, not a stem"
    return stem


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


@flow(
    name="backtest",
    flow_run_name=run_name("backtest", clock=True),  # renamed backtest-<run id> once it has one
    log_prints=True,
    task_runner=task_runner_from(os.environ.get("UPDOWN_TASK_RUNNER")),
)
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
    use_cache: bool = True,
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
        use_cache: reuse blocks trained before on the same data, configs, code and library versions
            from ``<data root>/cache/folds`` and store new ones there (``updown backtest --no-cache``
            turns both off). Training is deterministic, so a reused block equals a retrained one.
    """
    t0 = time.perf_counter()
    logger = run_logger()
    lo, hi = date_range(start, end)
    dataset_config, wf_config, model_config, train_config = dataset, walk_forward, model, training
    horizon = dataset.label.horizon
    if is_url(root_spec(data_root_dir)) and runs_on_other_machines(_task_runner()):
        raise ValueError(
            f"data_root_dir={data_root_dir!r} is a URL, worked on through a mirror on this machine, which the "
            "workers of a Dask cluster on other machines cannot read; use --task-runner local, threads:N or "
            "dask[:N], or a data root path every worker can read"
        )
    with working_root(data_root_dir, pull=BACKTEST_STATE) as root:
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
        shared = (str(root), names, lo, last, *configs)
        for seed in wf_config.seeds:
            if wf_config.warm_start:
                states: list[State[str | State[str]]] = []
                for f in folds:
                    warm = _stem(states[-1]) + ".keras" if states else None
                    args = (*shared, f.index, seed, run_id, str(partial), data_id, warm, use_cache)
                    states.append(run_fold_task(*args, return_state=True))
                pending[seed] = states
            else:
                pending[seed] = [
                    run_fold_task.submit(*shared, f.index, seed, run_id, str(partial), data_id, None, use_cache)
                    for f in folds
                ]
        progress = BlockProgress(sum(map(len, pending.values())), run_id=run_id)  # run name, log, UI: block k of N
        for seed, items in pending.items():
            per_seed[seed] = stitch([_read_fold(progress.done(_stem(s))) for s in items])
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
        publish_backtest_artifacts(content, run_id, run_dir=public_path(data_root_dir, root, final))
        for line in content["verdict_lines"] if content.get("verdict_lines") else [content["verdict"]]:
            logger.info(line)
        return public_path(data_root_dir, root, final)
