"""The walk-forward engine: jobs, warm-start chaining, progress, block files, ensembling and stitching.

The scheduling tests stand in for training with a ``submit`` that writes hand-made block files, so they
run in well under a second; the honesty and golden tests train for real through the same engine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.dataset import DatasetConfig, build_panel
from features.prices.sources.synthetic import SyntheticMarket
from features.prices.store import PriceStore
from models.backtest.engine import Backtest, FoldJob, ensemble, fit_block
from models.backtest.foldfiles import Block, write_block
from models.backtest.walkforward import plan_folds
from models.learn.config import WalkForwardConfig
from models.serving.predictions import BACKTEST_COLUMNS
from tests.support import TINY_MODEL, TINY_TRAIN

PRICES = SyntheticMarket(tickers=2, days=320, seed=3, signal=0.5).fetch()
DATASET = DatasetConfig(timesteps=8)


def _backtest(root: Path, **walk_forward: Any) -> Backtest:
    PriceStore(root).write(PRICES)
    return Backtest.prepare(
        root, ["SYN00", "SYN01"], dataset=DATASET, walk_forward=WalkForwardConfig(blocks=2, **walk_forward),
        model=TINY_MODEL, training=TINY_TRAIN,
    )  # fmt: skip


class _Written:
    """A 'trained' block: two hand-made prediction rows per job, probabilities set by seed and fold."""

    def __init__(self, job: FoldJob, log: list[FoldJob]) -> None:
        log.append(job)
        job.stem.parent.mkdir(parents=True, exist_ok=True)
        p_up = 0.5 + 0.1 * job.seed + 0.01 * job.fold_index
        probs = np.array([[0.1, 0.9 - p_up, p_up]] * 2)
        frame = pd.DataFrame({
            "date": pd.to_datetime(["2020-01-01", "2020-01-02"]) + pd.Timedelta(days=10 * job.fold_index),
            "ticker": ["A", "B"], "horizon": np.int32(5), "p_down": probs[:, 0], "p_flat": probs[:, 1],
            "p_up": probs[:, 2], "predicted": "up", "model_id": "", "fold": np.int32(job.fold_index),
            "forward_return": [0.01, -0.02], "label": ["up", "down"],
        })  # fmt: skip
        info = {"fold": job.fold_index, "n_fit": 10 + job.seed}
        block = Block(frame, info, model=_FakeModel(), baselines={"class_prior": np.full((2, 3), 1 / 3)})
        write_block(block, job.stem, seed=job.seed)
        self.stem = str(job.stem)

    def result(self) -> str:
        return self.stem


class _FakeModel:
    class model_:  # noqa: N801 - stands in for the attribute of LSTMClassifier
        @staticmethod
        def save(path: Path) -> None:
            Path(path).write_bytes(b"PK weights")


def test_jobs_carry_the_plan_and_name_their_files(tmp_path: Path):
    backtest = _backtest(tmp_path / "data")
    jobs = backtest.jobs(4, run_id="r1", out_dir=tmp_path / "run")
    assert [j.fold_index for j in jobs] == [0, 1]
    planned = (4, PRICES["date"].max().date(), backtest.data_fingerprint)
    assert {(j.seed, j.end, j.data_fingerprint) for j in jobs} == {planned}
    assert jobs[1].stem == tmp_path / "run" / "folds" / "seed=4" / "fold=1"
    assert jobs[1].model_id == "r1-s4-f1"
    assert jobs[0].initial_weights is None
    assert dataclasses.replace(jobs[0], fold_index=1) == jobs[1]  # a value object


def test_a_too_short_range_fails_before_any_job(tmp_path: Path):
    PriceStore(tmp_path).write(PRICES[PRICES["date"] < "2010-03-01"])
    with pytest.raises(ValueError, match="no labeled samples: the date range is shorter"):
        Backtest.prepare(tmp_path, ["SYN00"], dataset=DATASET, walk_forward=WalkForwardConfig(),
                         model=TINY_MODEL, training=TINY_TRAIN)  # fmt: skip


def test_prepare_adapts_the_default_features_to_a_close_only_ticker_and_jobs_carry_them(tmp_path: Path):
    prices = PRICES.copy()
    prices.loc[prices["ticker"] == "SYN01", ["open", "high", "low", "volume"]] = np.nan
    PriceStore(tmp_path).write(prices)
    backtest = Backtest.prepare(
        tmp_path, ["SYN00", "SYN01"], dataset=DATASET, walk_forward=WalkForwardConfig(blocks=2),
        model=TINY_MODEL, training=TINY_TRAIN,
    )  # fmt: skip
    kept = tuple(n for n in DATASET.features if n not in {"atr_14", "dvol_chg_5", "vol_gk_20", "volume_z_20"})
    assert backtest.dataset.features == kept
    assert {job.dataset.features for job in backtest.jobs(0, run_id="r", out_dir=tmp_path / "out")} == {kept}
    with pytest.raises(ValueError, match=r"atr_14 needs high/low \(high, low NaN throughout for \['SYN01'\]"):
        Backtest.prepare(
            tmp_path, ["SYN00", "SYN01"], dataset=DATASET.model_copy(update={"features": ("ret_1", "atr_14")}),
            walk_forward=WalkForwardConfig(blocks=2), model=TINY_MODEL, training=TINY_TRAIN,
        )  # fmt: skip


def test_independent_blocks_are_all_submitted_then_collected_with_progress(tmp_path: Path):
    backtest = _backtest(tmp_path / "data", seeds=(0, 1))
    submitted: list[FoldJob] = []
    progress: list[tuple[int, int]] = []
    result = backtest.run("r1", tmp_path / "run", submit=lambda job: _Written(job, submitted),
                          on_block_done=lambda k, n: progress.append((k, n)))  # fmt: skip
    assert [(j.seed, j.fold_index, j.initial_weights) for j in submitted] == [
        (0, 0, None), (0, 1, None), (1, 0, None), (1, 1, None),
    ]  # fmt: skip
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    # the ensemble averages the seeds' probabilities and is named for them
    assert list(result.predictions["model_id"]) == ["r1-ensemble-f0"] * 2 + ["r1-ensemble-f1"] * 2
    np.testing.assert_allclose(result.predictions["p_up"], [0.55, 0.55, 0.56, 0.56])
    assert set(result.per_seed[1]["model_id"]) == {"r1-s1-f0", "r1-s1-f1"}
    assert [f["model_id"] for f in result.folds] == ["r1-s0-f0", "r1-s0-f1"]  # the first seed's summaries
    assert result.extra["seeds"]["seeds"] == [0, 1]
    assert tuple(result.predictions.columns) == BACKTEST_COLUMNS


def test_warm_start_chains_each_block_to_the_previous_model(tmp_path: Path):
    backtest = _backtest(tmp_path / "data", warm_start=True)
    submitted: list[FoldJob] = []
    progress: list[tuple[int, int]] = []
    backtest.run("r2", tmp_path / "run", submit=lambda job: _Written(job, submitted),
                 on_block_done=lambda k, n: progress.append((k, n)))  # fmt: skip
    assert [j.initial_weights for j in submitted] == [None, f"{submitted[0].stem}.keras"]
    assert progress == [(1, 2), (2, 2)]


def test_ensemble_of_one_seed_is_that_seed():
    frame = pd.DataFrame(
        {"p_down": [0.2], "p_flat": [0.3], "p_up": [0.5], "predicted": ["up"], "model_id": ["r-s0-f0"]}
    )
    assert ensemble([frame]) is frame
    other = frame.assign(p_down=0.8, p_flat=0.1, p_up=0.1, predicted="down", model_id="r-s1-f0")
    both = ensemble([frame, other])
    np.testing.assert_allclose(both[["p_down", "p_flat", "p_up"]].to_numpy(), [[0.5, 0.2, 0.3]])
    assert (both.at[0, "predicted"], both.at[0, "model_id"]) == ("down", "r-ensemble-f0")


def test_fit_block_fits_the_model_and_all_six_baselines_on_the_fold(tmp_path: Path):
    panel = build_panel(PRICES, DATASET)
    fold = plan_folds(panel, WalkForwardConfig(blocks=2))[0]
    adj_close = PRICES["adj_close"].to_numpy(dtype="float64")
    with pytest.raises(ValueError, match="adj_close must have one price per panel row"):
        fit_block(panel, fold, TINY_MODEL, TINY_TRAIN, adj_close=adj_close[:-1])
    block = fit_block(panel, fold, TINY_MODEL, TINY_TRAIN, adj_close=adj_close, verbose=0)
    n = len(fold.test_rows)
    assert len(block.predictions) == n
    assert sorted(block.baselines) == sorted(
        ["class_prior", "majority_class", "label_persistence", "logistic_regression", "gradient_boosting", "momentum"]
    )
    assert all(p.shape == (n, 3) for p in block.baselines.values())
    np.testing.assert_array_equal(
        block.predictions[["p_down", "p_flat", "p_up"]].to_numpy(), block.model.predict_proba(panel, fold.test_rows)
    )
    assert block.info["train_labels_end_max"] < str(fold.test_start.date())
    assert block.info["n_fit"] == len(block.model.fit_rows_)


def test_a_cross_sectional_backtest_runs_with_alpha360_and_cs_norm(tmp_path: Path):
    from features.labels import LabelConfig

    prices = SyntheticMarket(tickers=6, days=260, seed=5, signal=0.5).fetch()
    PriceStore(tmp_path).write(prices)
    dataset = DatasetConfig(
        features=("alpha360", "ret_5"), timesteps=8, cs_norm="zscore", label=LabelConfig(scheme="cross_section")
    )
    backtest = Backtest.prepare(
        tmp_path, sorted(prices["ticker"].unique()), dataset=dataset, walk_forward=WalkForwardConfig(blocks=2),
        model=TINY_MODEL, training=TINY_TRAIN.model_copy(update={"epochs": 1}), use_cache=False,
    )  # fmt: skip
    result = backtest.run("cs", tmp_path / "run")
    out = result.predictions
    assert len(out) > 0
    assert out["ticker"].nunique() == 6
    np.testing.assert_allclose(out[["p_down", "p_flat", "p_up"]].sum(axis=1), 1.0, atol=1e-9)
    # cross-sectional terciles of 6 tickers: every test date holds 2 down, 2 flat, 2 up
    per_date = out.groupby("date")["label"].value_counts().unstack(fill_value=0)
    assert (per_date[["down", "flat", "up"]] == 2).all().all()
    assert set(result.baselines) >= {"class_prior", "momentum"}
