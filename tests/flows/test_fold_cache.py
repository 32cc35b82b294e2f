"""The fold cache in real Prefect runs: a block trained once is restored, never trained again.

"Not trained" is proven by replacing ``models.backtest.engine.fit_block`` with a stub that fails the task;
"trained" by a spy around the real one. One tiny block (fold 0, seed 1) trains in a few seconds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prefect import flow

import flows.backtest
import models.backtest.engine
from features.dataset import DatasetConfig
from features.frame import fingerprint
from features.prices.sources import get_source
from features.prices.store import PriceStore
from flows.backtest import backtest_flow, run_fold_task
from flows.cli.commands import main
from models.backtest.engine import FoldJob, fit_block
from models.backtest.foldcache import cache_dir, lookup
from models.backtest.foldfiles import read_block
from models.learn.config import WalkForwardConfig
from models.serving.predictions import BACKTEST_COLUMNS
from tests.support import TINY_MODEL, TINY_TRAIN

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

SOURCE = "synthetic:tickers=4,days=450,seed=2,signal=1.0"
CONFIGS = (DatasetConfig(timesteps=8), WalkForwardConfig(), TINY_MODEL, TINY_TRAIN)
SUFFIXES = (".parquet", ".baselines.parquet", ".json", ".keras")


@flow(name="one-block")
def one_block(root: str, out_dir: str, run_id: str, use_cache: bool = True) -> tuple[str, str]:
    """Fold 0 of seed 1, submitted as the backtest submits it; returns (stem, final state name)."""
    prices = PriceStore(root).read(PriceStore(root).tickers())
    tickers, last = sorted(prices["ticker"].unique()), prices["date"].max().date()
    job = FoldJob(
        root, tuple(tickers), None, last, *CONFIGS, run_id=run_id, out_dir=out_dir,
        data_fingerprint=fingerprint(prices), fold_index=0, seed=1, use_cache=use_cache,
    )  # fmt: skip
    future = run_fold_task.submit(job)
    return future.result(), future.state.name


@pytest.fixture(scope="module")
def first(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data root with the synthetic market, and the stem of its block trained once (run id ``a``)."""
    root = tmp_path_factory.mktemp("foldcache") / "data"
    PriceStore(root).write(get_source(SOURCE).fetch())
    stem, state = one_block(str(root), str(root.parent / "run-a"), "a")
    assert state == "Completed"
    return root, Path(stem)


def _entries(root: Path) -> list[Path]:
    return [p for p in cache_dir(root).glob("*/*") if not p.name.startswith(".")]


def _no_training(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("fit_block called: the block was trained although it is cached")


def _no_store(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("foldcache.store called although the cache is off")


def _spy(calls: list[int]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return fit_block(*args, **kwargs)

    return counted


def _same_bytes(one: str | Path, two: str | Path, suffixes: tuple[str, ...] = SUFFIXES) -> None:
    for suffix in suffixes:
        assert Path(f"{one}{suffix}").read_bytes() == Path(f"{two}{suffix}").read_bytes(), suffix


def test_a_block_seen_before_is_restored_not_trained(first, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root, trained = first
    monkeypatch.setattr(models.backtest.engine, "fit_block", _no_training)
    stem, state = one_block(str(root), str(tmp_path / "run-a2"), "a")
    assert state == "Cached"
    _same_bytes(stem, trained)  # the same run id: every file, the model included, to the byte
    assert len(_entries(root)) == 1


def test_no_cache_trains_and_a_restored_block_equals_a_trained_one(
    first, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root, _ = first
    calls: list[int] = []
    monkeypatch.setattr(models.backtest.engine, "fit_block", _spy(calls))
    monkeypatch.setattr(models.backtest.engine.foldcache, "store", _no_store)  # --no-cache writes nothing either
    fresh, state = one_block(str(root), str(tmp_path / "fresh"), "b", use_cache=False)
    assert (calls, state) == ([1], "Completed")

    monkeypatch.setattr(models.backtest.engine, "fit_block", _no_training)
    cached, state = one_block(str(root), str(tmp_path / "cached"), "b")
    assert state == "Cached"
    # trained in run "a", restored under run "b": the very files run "b" wrote by training
    _same_bytes(cached, fresh, (".parquet", ".baselines.parquet", ".json"))
    assert "model_id" not in pd.read_parquet(f"{cached}.parquet").columns  # block files hold no run id...
    predictions, info, _ = read_block(cached, model_id="b-s1-f0")  # ...reading one names it
    assert set(predictions["model_id"]) == {"b-s1-f0"}
    assert info["model_id"] == "b-s1-f0"
    assert tuple(predictions.columns) == BACKTEST_COLUMNS


def test_a_damaged_entry_is_dropped_and_recomputed(
    first, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    root, trained = first
    (entry,) = _entries(root)
    parquet = entry / "block.parquet"
    parquet.write_bytes(parquet.read_bytes()[: parquet.stat().st_size // 2])
    calls: list[int] = []
    monkeypatch.setattr(models.backtest.engine, "fit_block", _spy(calls))
    stem, state = one_block(str(root), str(tmp_path / "run-a3"), "a")
    assert (calls, state) == ([1], "Completed")
    assert f"dropping damaged entry {entry}" in caplog.text
    _same_bytes(stem, trained, (".parquet", ".baselines.parquet", ".json"))  # training is deterministic
    assert lookup(root, entry.name) == entry  # a good entry took the damaged one's place
    assert parquet.read_bytes() == Path(f"{trained}.parquet").read_bytes()


def test_changed_prices_miss(first, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = shutil.copytree(first[0], tmp_path / "data")  # the prices and the cache
    monkeypatch.setattr(models.backtest.engine, "fit_block", _no_training)
    assert one_block(str(root), str(tmp_path / "run-1"), "c")[1] == "Cached"  # unchanged copy: a hit

    store = PriceStore(root)
    row = store.read(store.tickers()[:1]).iloc[[100]]
    before = fingerprint(store.read(store.tickers()))
    store.write(row.assign(**{c: row[c] * 1.001 for c in ("open", "high", "low", "close", "adj_close")}))
    assert fingerprint(store.read(store.tickers())) != before  # one corrected price, another store
    with pytest.raises(AssertionError, match="the block was trained"):
        one_block(str(root), str(tmp_path / "run-2"), "c")


def test_a_warm_started_backtest_reruns_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    options = {
        "source": SOURCE,
        "dataset": CONFIGS[0],
        "model": TINY_MODEL,
        "training": TINY_TRAIN,
        "walk_forward": WalkForwardConfig(blocks=2, warm_start=True),
        "data_root_dir": str(tmp_path),
    }
    one = Path(backtest_flow(**options))
    monkeypatch.setattr(models.backtest.engine, "fit_block", _no_training)  # block 1's key holds block 0's model bytes
    two = Path(backtest_flow(**options))
    first_preds, second_preds = (pd.read_parquet(d / "predictions.parquet") for d in (one, two))
    assert set(second_preds["model_id"]) == {f"{two.name}-s0-f{k}" for k in (0, 1)}  # this run's ids, seed 0
    pd.testing.assert_frame_equal(
        first_preds.drop(columns="model_id"), second_preds.drop(columns="model_id"), check_exact=True
    )
    folds = [json.loads((d / "metrics.json").read_text())["folds"] for d in (one, two)]
    assert [{**f, "model_id": None} for f in folds[0]] == [{**f, "model_id": None} for f in folds[1]]


def test_cli_no_cache_reaches_the_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen: list[bool] = []

    class Recorder:
        def with_options(self, **_: Any) -> Callable[..., str]:
            def run(*, use_cache: bool, **__: Any) -> str:
                seen.append(use_cache)
                return "run-folder"

            return run

    monkeypatch.setattr(flows.backtest, "backtest_flow", Recorder())
    base = ["backtest", "--source", SOURCE, "--data-root", str(tmp_path)]
    assert main(base) == 0
    assert main([*base, "--no-cache"]) == 0
    assert seen == [True, False]
