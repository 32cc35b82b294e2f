"""Task runners from a spec, and walk-forward blocks on a two-worker local Dask cluster.

The blocks give the same predictions, to the bit, on every runner: the model's initial weights,
dropout masks and batch order come from the training seed alone (``models.learn.lstm._LayerSeeds``,
``WindowBatches``), never from the process-wide ``random`` state that Dask's and Prefect's own
threads draw from too.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from features.dataset import DatasetConfig
from features.prices.sources import get_source
from features.prices.store import PriceStore
from flows.backtest import run_fold_task
from flows.runners import runs_on_other_machines, task_runner_from
from models.backtest.engine import Backtest, FoldJob
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig

SOURCE = "synthetic:tickers=4,days=450,seed=2,signal=1.0"


def test_task_runner_specs():
    local = task_runner_from()
    assert isinstance(local, ThreadPoolTaskRunner)
    assert local._max_workers == 1
    assert task_runner_from("threads:3")._max_workers == 3  # type: ignore[attr-defined]
    for bad in ("threads:0", "threads:x", "spark", "dask:-1"):
        with pytest.raises(ValueError, match="task_runner"):
            task_runner_from(bad)


def test_dask_specs():
    DaskTaskRunner = pytest.importorskip("prefect_dask").DaskTaskRunner

    remote = task_runner_from("dask:tcp://10.0.0.5:8786")
    assert isinstance(remote, DaskTaskRunner)
    assert remote.address == "tcp://10.0.0.5:8786"
    assert runs_on_other_machines(remote)
    assert not runs_on_other_machines(task_runner_from("dask:tcp://127.0.0.1:8786"))
    assert not runs_on_other_machines(task_runner_from("threads:2"))
    local = task_runner_from("dask:2")
    assert not runs_on_other_machines(local)
    assert local.cluster_kwargs == {  # type: ignore[attr-defined]
        "n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
    }  # fmt: skip


class _Bounded:
    """A submitted block whose result is awaited at most 10 minutes: a lost worker fails the test, not CI."""

    def __init__(self, job: FoldJob) -> None:
        self.future = run_fold_task.submit(job)

    def result(self) -> Any:
        return self.future.result(timeout=600)


@flow(name="walk-forward-blocks")
def blocks_flow(root: str, out_dir: str, tickers: list[str]) -> pd.DataFrame:
    """The backtest's engine (seed 1), with the blocks submitted to the flow's task runner."""
    backtest = Backtest.prepare(
        root, tickers, dataset=DatasetConfig(timesteps=8), walk_forward=WalkForwardConfig(seeds=(1,)),
        model=ModelConfig(units=(8, 4)), training=TrainConfig(epochs=2),
        use_cache=False,  # every runner must train its blocks, not restore the first runner's
    )  # fmt: skip
    return backtest.run("run", out_dir, submit=_Bounded).predictions


@pytest.fixture(scope="module")
def by_runner(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The same three walk-forward blocks (seed 1) on the local runner, two threads and two Dask workers."""
    pytest.importorskip("prefect_dask")
    tmp = tmp_path_factory.mktemp("runners")
    prices = get_source(SOURCE).fetch()
    root = tmp / "data"
    PriceStore(root).write(prices)
    tickers = sorted(prices["ticker"].unique())

    def run(spec: str) -> pd.DataFrame:
        out = tmp / spec.replace(":", "-")
        return blocks_flow.with_options(task_runner=task_runner_from(spec))(str(root), str(out), tickers)

    return {spec: run(spec) for spec in ("local", "threads:2", "dask:2")}


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["dask:2", "threads:2"])
def test_blocks_give_the_same_predictions_on_every_runner(by_runner, spec):
    local, other = by_runner["local"], by_runner[spec]
    assert len(local) > 0
    assert sorted(local["fold"].unique()) == [0, 1, 2]
    assert local["p_up"].std() > 0.0  # real, varying probabilities, not a constant
    pd.testing.assert_frame_equal(local, other, check_exact=True)
