"""The backtest flow: walk-forward retraining, out-of-sample predictions, metrics.

Leaves ``<data root>/reports/backtest/<run id>/`` with ``predictions.parquet`` (schema in
:mod:`models.serving.predictions`), ``metrics.json`` (config, folds, model vs baselines, verdict) and
``folds/`` (each block's predictions and summary). The folder is built under a hidden
temporary name and renamed into place when complete.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from pathlib import Path
from typing import Any, Self, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import Completed, State
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

import features
import models
from features.dataset import DatasetConfig
from features.storage.layout import DataRoot
from features.storage.remote import is_url
from flows.artifacts import BlockProgress, publish_backtest_artifacts
from flows.common import (
    BACKTEST_STATE,
    DEFAULT_SOURCE,
    RunLoggerCallback,
    code_version,
    date_range,
    public_path,
    require_complete,
    root_spec,
    run_logger,
    run_name,
    update_prices,
    working_root,
)
from flows.runners import runs_on_other_machines, task_runner_from
from flows.settings import default_task_runner
from models.backtest import foldcache
from models.backtest.engine import Backtest, FoldJob, run_block
from models.evaluation.config import StrategyConfig
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig
from models.presets import PresetName
from models.serving.registry import new_model_id

# The code a block runs: any edit to it, committed or not, keys new fold cache entries.
_BLOCK_SOURCES = (Path(features.__file__).parent, Path(models.__file__).parent, Path(__file__))


@functools.cache
def _code_identity() -> tuple[str, str]:
    """(git commit, source hash) of the code this process loaded: computed once, not once per block.

    Once per process is also the right scope: a long-lived process (``updown serve``, a Dask
    worker) keeps running the modules it imported even if the files on disk change.
    """
    return code_version(), foldcache.source_digest(*_BLOCK_SOURCES)


# No timeout_seconds: Prefect cannot interrupt a task running in a worker thread (the task runner's
# threads, a Dask worker's), it only warns on every block. A block is bounded by its training config
# instead: at most `epochs` passes over a fixed set of samples, fewer with early stopping.
@task(cache_policy=NO_CACHE, task_run_name="seed-{job.seed}-fold-{job.fold_index}")
def run_fold_task(job: FoldJob) -> str | State[str]:
    """Train and predict one walk-forward block (:func:`models.backtest.engine.run_block`); return its files' stem.

    A block restored from the fold cache returns a ``Completed`` state named ``Cached`` (shown in the
    UI) carrying the stem: ``.submit(...).result()`` and ``return_state=True`` followed by
    ``.result()`` both resolve it to the stem, but a plain call returns the state.
    """
    callback = RunLoggerCallback(prefix=f"seed {job.seed} fold {job.fold_index} ")
    done = run_block(job, code=_code_identity(), log=run_logger(), callbacks=[callback])
    if done.cached is not None:
        return Completed(data=done.stem, name="Cached", message=f"fold cache entry {done.cached[:12]}")
    return done.stem


def configured_task_runner(spec: str | None = None) -> TaskRunner[Any]:
    """The task runner ``spec`` names, else ``$UPDOWN_TASK_RUNNER``'s, else ``local`` (:mod:`flows.runners`).

    Raises:
        ValueError: a bad spec, naming ``task_runner`` or, when it came from the environment, the variable.
    """
    if spec is not None:
        return task_runner_from(spec)
    try:
        return task_runner_from(default_task_runner())
    except ValueError as exc:
        raise ValueError(f"UPDOWN_TASK_RUNNER: {exc}") from exc


class SettingsTaskRunner(ThreadPoolTaskRunner[Any]):
    """The backtest flow's default: the task runner of ``$UPDOWN_TASK_RUNNER``, chosen when a run starts.

    A flow run never uses its flow's ``task_runner`` itself but a :meth:`duplicate` of it, made as the run
    starts; so the variable is read then (in the process that runs the flow: a worker, ``updown serve``),
    not when this module is imported. Used directly it is the ``local`` runner (one thread).
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def duplicate(self) -> Self:
        return configured_task_runner()  # type: ignore[return-value]  # a runner of another class, by design


def _task_runner() -> Any:
    """The task runner of the flow run in progress (None outside one, e.g. under ``.fn()``)."""
    context = FlowRunContext.get()
    return None if context is None else context.task_runner


def _check_root_reachable(data_root_dir: str | None) -> None:
    if is_url(root_spec(data_root_dir)) and runs_on_other_machines(_task_runner()):
        raise ValueError(
            f"data_root_dir={data_root_dir!r} is a URL, worked on through a mirror on this machine, which the "
            "workers of a Dask cluster on other machines cannot read; use --task-runner local, threads:N or "
            "dask[:N], or a data root path every worker can read"
        )


@flow(
    name="backtest",
    flow_run_name=run_name("backtest", clock=True),  # renamed backtest-<run id> once it has one
    log_prints=True,
    task_runner=cast(TaskRunner[Any], SettingsTaskRunner()),  # $UPDOWN_TASK_RUNNER, read when a run starts
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
    strategy: StrategyConfig = StrategyConfig(),
    data_root_dir: str | None = None,
    use_cache: bool = True,
    allow_partial: bool = False,
    preset: PresetName | None = None,
) -> str:
    """Walk-forward backtest of an LSTM classifier (:mod:`models.backtest.engine`); returns the run folder's path.

    Args:
        source: price source spec (``sample``, ``yahoo``, ``dir:PATH``, ``synthetic:...``).
        tickers: symbols (None = everything the source has; required for ``yahoo``).
        start: first price date used (inclusive).
        end: last price date used (inclusive).
        dataset: features, timesteps and label definition.
        model: architecture and optimiser.
        training: epochs, batch size, validation share, seed, schedule, calibration.
        walk_forward: blocks, test region and embargo.
        strategy: how the predictions are traded: costs, borrow, risk-free rate, neutrality.
        data_root_dir: data root (default ``$UPDOWN_DATA_ROOT`` or ``./data``).
        use_cache: reuse blocks trained before on the same data, configs, code and library versions
            from ``<data root>/cache/folds`` and store new ones there (``updown backtest --no-cache``
            turns both off). Training is deterministic, so a reused block equals a retrained one.
        if tickers is None and dataset.universe is not None:  # a universe file names the tickers
            tickers = list(dataset.universe.tickers)
        names = require_complete(update_prices(source, tickers, lo, hi, str(root)), allow_partial=allow_partial)
    """
    t0, logger, (lo, hi) = time.perf_counter(), run_logger(), date_range(start, end)
    _check_root_reachable(data_root_dir)
    with working_root(data_root_dir, pull=BACKTEST_STATE) as root:
        if tickers is None and dataset.universe is not None:  # a universe file names the tickers
            tickers = list(dataset.universe.tickers)
        names = require_complete(update_prices(source, tickers, lo, hi, str(root)), allow_partial=allow_partial)
        backtest = Backtest.prepare(
            root, names, lo, hi, dataset=dataset, walk_forward=walk_forward, model=model, training=training,
            strategy=strategy, use_cache=use_cache, preset=preset,
        )  # fmt: skip
        run_id, layout = new_model_id(), DataRoot(root)
        final, partial = layout.backtest_run(run_id), layout.backtest_partial(run_id)
        logger.info("backtest %s: %d tickers, %d folds, writing %s", run_id, len(names), len(backtest.folds), final)
        # Blocks go to the flow's task runner (one thread by default; `--task-runner dask` spreads them over a cluster)
        result = backtest.run(
            run_id, partial, submit=run_fold_task.submit,
            on_block_done=BlockProgress(run_id=run_id),  # run name, log and UI: block k of N
        )  # fmt: skip
        run_info = backtest.run_info(run_id, source=source, code_version=code_version())
        content = backtest.write_report(
            partial, result, run_info=run_info, trials_folder=layout.backtest_dir, started=t0
        )
        os.rename(partial, final)
        publish_backtest_artifacts(content, run_id, run_dir=public_path(data_root_dir, root, final))
        for line in content["verdict_lines"] if content.get("verdict_lines") else [content["verdict"]]:
            logger.info(line)
        return public_path(data_root_dir, root, final)
