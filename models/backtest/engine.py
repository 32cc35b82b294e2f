"""The walk-forward engine: plan the blocks, fit each one, ensemble the seeds, stitch, report.

One engine, whoever drives it. :meth:`Backtest.prepare` reads the prices, pins the date range and
plans the folds (:func:`models.backtest.walkforward.plan_folds`), failing before any training when the range
is too short. :meth:`Backtest.run` turns every (seed, fold) into a :class:`FoldJob` and hands it to
``submit``: by default :func:`run_here` runs it in this process; the backtest flow passes a Prefect
task's ``submit`` instead, so blocks run on its task runner (threads, a Dask cluster). Blocks of one
seed are independent unless ``warm_start`` is set, when each starts from the previous block's model.

A job (:func:`run_block`) reads the prices again (a job may run on another machine), checks they are
those the plan was made from, then either restores the block from the fold cache
(:mod:`models.backtest.foldcache`) or fits it (:func:`fit_block`): an :class:`models.learn.classifier.LSTMClassifier`
and all six baselines (:mod:`models.learn.baselines`) on the fold's training rows, predicting its test rows.
It leaves four files under ``<out_dir>/folds/seed=<s>/fold=<k>`` (:mod:`models.backtest.foldfiles`), which hold no
run id: reading a block adds the model id ``<run id>-s<seed>-f<fold>``, so a cached block is a plain copy.

Nothing here imports Prefect.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np
import pandas as pd

import features
from features.dataset import DatasetConfig, Panel, build_panel
from features.frame import fingerprint, missing_columns
from features.indicators import resolve_features
from features.labels import CLASSES, PROB_COLUMNS, class_balance, cut_label_windows, holding_days
from features.prices.store import PriceStore
from features.storage.layout import block_stem
from features.universe import survivorship_warning
from models.backtest import foldcache
from models.backtest.foldfiles import Block, read_block, write_block
from models.backtest.walkforward import Fold, plan_folds, seed_summary, stitch
from models.evaluation.config import StrategyConfig
from models.evaluation.metrics import evaluate_predictions, prior_probs
from models.learn.baselines import BaselineData, fit_baselines
from models.learn.classifier import LSTMClassifier
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig
from models.learn.training import sample_weights_of
from models.presets import Configs, apply_preset
from models.reporting.run_folder import write_backtest_report
from models.serving.predictions import prediction_frame
from models.versions import library_versions

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
_log: Logger = logging.getLogger("updown")
BASELINE_LAGS = 5
"""Days of features the gradient-boosting baseline sees."""


@dataclass(frozen=True)
class FoldJob:
    """Everything one block of a walk-forward needs: picklable, so it can travel to another machine.

    Attributes:
        root: the data root holding the prices (and the fold cache).
        tickers: the symbols of the backtest.
        start: first price date read (None = the store's first).
        end: last price date read, pinned by the plan so a growing store cannot shift it.
        dataset, walk_forward, model, training: the run's configs.
        run_id: the run this block belongs to (names the model ``<run id>-s<seed>-f<fold>``).
        out_dir: the run folder the block's files go under (``folds/seed=<s>/fold=<k>``).
        data_fingerprint: :func:`features.frame.fingerprint` of the prices the plan was made from.
        fold_index: which block of the plan.
        seed: the seed this block is trained with (replaces ``training.seed``).
        initial_weights: a ``.keras`` file to warm-start from (None = fresh weights).
        use_cache: restore the block from the fold cache when it was trained before, and store it there.
    """

    root: str
    tickers: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    dataset: DatasetConfig
    walk_forward: WalkForwardConfig
    model: ModelConfig
    training: TrainConfig
    run_id: str
    out_dir: str
    data_fingerprint: str
    fold_index: int = 0
    seed: int = 0
    initial_weights: str | None = None
    use_cache: bool = True

    @property
    def stem(self) -> Path:
        """The block's files are ``<stem>.parquet``, ``.baselines.parquet``, ``.json`` and ``.keras``."""
        return block_stem(self.out_dir, seed=self.seed, fold=self.fold_index)

    @property
    def model_id(self) -> str:
        return f"{self.run_id}-s{self.seed}-f{self.fold_index}"

    def cache_inputs(self, code: tuple[str, str]) -> dict[str, Any]:
        """What the block's output depends on (:func:`.foldcache.fold_inputs`); ``code`` is (commit, digest)."""
        return foldcache.fold_inputs(
            data_fingerprint=self.data_fingerprint, tickers=self.tickers, start=self.start, end=self.end,
            dataset=self.dataset, walk_forward=self.walk_forward, model=self.model, training=self.training,
            fold_index=self.fold_index, seed=self.seed, initial_weights=self.initial_weights,
            code_version=code[0], code_digest=code[1], environment=foldcache.numeric_environment(),
        )  # fmt: skip


@dataclass(frozen=True)
class BlockDone:
    """A finished job: the stem of its files, and the fold cache key it was restored from (None = trained)."""

    stem: str
    cached: str | None = None


class Handle(Protocol):
    """What ``submit`` returns: ``result()`` waits for the job and gives the stem of its files."""

    def result(self) -> Any: ...


Submit = Callable[[FoldJob], Handle]


def fit_block(
    panel: Panel,
    fold: Fold,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    adj_close: np.ndarray,
    initial_weights: str | None = None,
    hold_days: np.ndarray | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> Block:
    """Fit the classifier and every baseline on the fold's training rows; predict its test rows.

    Label schemes with fitted cut points (quantile) are fitted here, on the fold's training rows.

    Args:
        panel: the universe's features and labels.
        fold: the block (training and test rows).
        model_config: architecture and optimiser.
        train_config: epochs, batch size, seed...
        adj_close: float (n_rows,), the prices' ``adj_close`` row-aligned with the panel (baselines need it).
        initial_weights: a ``.keras`` file to warm-start from.
        hold_days: int (n_rows,) days each position is held (:func:`features.labels.holding_days`),
            added to the predictions as ``hold_days`` for the strategy's barrier exits; None = ``horizon``.
        callbacks: extra Keras callbacks.
        verbose: Keras verbosity.

    Raises:
        ValueError: when ``adj_close`` is not row-aligned with the panel.
    """
    if len(adj_close) != len(panel.keys):
        raise ValueError(f"adj_close must have one price per panel row ({len(panel.keys)}), got {len(adj_close)}")
    panel = panel.fit_labels(fold.train_rows)
    model = LSTMClassifier(panel.config, model_config, train_config).fit(
        panel, fold.train_rows, embargo=fold.embargo, initial_weights=initial_weights,
        callbacks=callbacks, verbose=verbose,
    )  # fmt: skip
    rows = fold.test_rows
    frame = prediction_frame(
        panel.keys.iloc[rows], model.predict_proba(panel, rows), horizon=panel.config.label.horizon, model_id=""
    ).assign(
        fold=np.int32(fold.index),
        forward_return=panel.forward_return[rows],
        label=np.asarray(CLASSES, dtype=object)[panel.label[rows]],
    )
    if hold_days is not None:
        frame = frame.assign(hold_days=np.asarray(hold_days, dtype="int64")[rows])
    used = np.concatenate([model.fit_rows_, model.val_rows_])
    info = {
        **fold.describe(),
        **model.fit_summary_,
        "test_class_balance": class_balance(panel.label[rows]),
        "train_class_prior": prior_probs(panel.label[model.fit_rows_]).tolist(),
        "train_labels_end_max": str(pd.Timestamp(panel.label_end[used].max()).date()),
        "label_state": panel.label_state,
    }
    inputs = BaselineData.from_panel(panel, adj_close=adj_close, lags=BASELINE_LAGS)
    baselines = fit_baselines(
        inputs.take(fold.train_rows),
        inputs.take(rows),
        seed=train_config.seed,
        history=inputs.take(panel.samples()),
        sample_weight=sample_weights_of(panel, fold.train_rows, train_config),
    )
    return Block(predictions=frame, info=info, model=model, baselines=baselines)


def run_block(
    job: FoldJob,
    *,
    code: tuple[str, str],
    log: Logger = _log,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> BlockDone:
    """Do one job: restore the block from the fold cache, or fit it and write (and cache) its files.

    Args:
        job: the block.
        code: (git commit, source digest) of the running code, part of the cache key.
        log: where progress goes.
        callbacks: extra Keras callbacks for training.

    Raises:
        RuntimeError: when the prices changed since the plan was made.
    """
    prices = PriceStore(job.root).read(list(job.tickers), job.start, job.end)
    if fingerprint(prices) != job.data_fingerprint:
        raise RuntimeError(
            f"prices in {job.root} changed while the backtest ran (fold {job.fold_index}); rerun the backtest"
        )
    inputs = job.cache_inputs(code)
    key = foldcache.fold_key(inputs)
    if job.use_cache and _restored(job.root, key, job.stem, log):
        log.info("seed %d fold %d: cached result %s", job.seed, job.fold_index, key[:12])
        return BlockDone(str(job.stem), cached=key)
    panel = build_panel(prices, job.dataset)
    fold = plan_folds(panel, job.walk_forward)[job.fold_index]
    log.info(
        "seed %d fold %d: train on %d samples, test %s..%s (%d samples)%s",
        job.seed, fold.index, len(fold.train_rows), fold.test_start.date(), fold.test_end.date(), len(fold.test_rows),
        " (warm start)" if job.initial_weights else "",
    )  # fmt: skip
    label = job.dataset.label
    barrier_exits = label.scheme == "triple_barrier"
    block = fit_block(
        panel, fold, job.model, job.training.model_copy(update={"seed": job.seed}),
        adj_close=prices["adj_close"].to_numpy(dtype="float64"), initial_weights=job.initial_weights,
        hold_days=holding_days(prices, label, max_gap=job.dataset.max_gap) if barrier_exits else None,
        callbacks=callbacks, verbose=0,
    )  # fmt: skip
    write_block(block, job.stem, seed=job.seed)
    if job.use_cache:
        try:
            foldcache.store(job.root, key, job.stem, inputs=inputs)
        except OSError as exc:  # the block is done; a cache that cannot be written only costs a rerun
            log.warning("seed %d fold %d: could not store in the fold cache: %s", job.seed, job.fold_index, exc)
    return BlockDone(str(job.stem))


def _restored(root: str, key: str, stem: Path, log: Logger) -> bool:
    """Copy the cached block for ``key`` to ``stem``; False (recompute) on a miss or a damaged entry."""
    entry = foldcache.lookup(root, key, log=log)
    if entry is None:
        return False
    try:
        foldcache.restore(entry, stem)
    except (OSError, ValueError) as exc:
        foldcache.discard(entry, reason=str(exc), log=log)
        return False
    return True


class _Done:
    def __init__(self, value: BlockDone) -> None:
        self._value = value

    def result(self) -> str:
        return self._value.stem


@functools.cache
def code_identity() -> tuple[str, str]:
    """("local", sha256 of the ``features`` and ``models`` sources) of this process, for fold cache keys.

    The flow keys on its git commit and its own source too; run in plain Python the sources are enough
    to keep an edited checkout from restoring blocks of the old code.
    """
    return "local", foldcache.source_digest(Path(features.__file__).parent, Path(__file__).parent)


def run_here(job: FoldJob) -> Handle:
    """Run a job now, in this process (the default ``submit`` of :meth:`Backtest.run`)."""
    return _Done(run_block(job, code=code_identity()))


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


@dataclass(frozen=True)
class WalkForwardResult:
    """Stitched out-of-sample results of every seed.

    Attributes:
        predictions: the seeds' ensemble (one seed: its predictions), report schema plus fold/label.
        baselines: name -> float64 (n, 3), row-aligned with ``predictions`` (the first seed's).
        folds: the first seed's block summaries, in fold order.
        per_seed: seed -> its stitched predictions.
        extra: more ``metrics.json`` entries (``seeds``: mean ± std across seeds, with several).
    """

    predictions: pd.DataFrame
    baselines: dict[str, np.ndarray]
    folds: list[dict[str, Any]]
    per_seed: dict[int, pd.DataFrame]
    extra: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Backtest:
    """A planned walk-forward backtest: the prices it runs on, its folds and its settings.

    Build it with :meth:`prepare`; :meth:`run` fits every block; :meth:`write_report` writes the run folder,
    trading the predictions as ``strategy`` (costs, borrow, risk-free rate, neutrality) says.
    """

    root: str
    tickers: tuple[str, ...]
    start: dt.date | None
    end: dt.date
    dataset: DatasetConfig
    walk_forward: WalkForwardConfig
    model: ModelConfig
    training: TrainConfig
    prices: pd.DataFrame
    folds: tuple[Fold, ...]
    data_fingerprint: str
    use_cache: bool = True
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    preset: str | None = None

    @classmethod
    def prepare(
        cls,
        root: str | Path,
        tickers: Sequence[str],
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        dataset: DatasetConfig,
        walk_forward: WalkForwardConfig,
        model: ModelConfig,
        training: TrainConfig,
        use_cache: bool = True,
        strategy: StrategyConfig | None = None,
        preset: str | None = None,
    ) -> Backtest:
        """Read the prices under ``root`` and plan the folds.

        With ``preset`` (:mod:`models.presets`), every config field not set explicitly (not in its
        ``model_fields_set``) takes the preset's value, settled for these prices: the universe's
        size scales its book, close-only data picks its close-only feature set.

        Raises:
            ValueError: when the range cannot give a walk-forward (before any training), or for an
                unknown preset.
        """
        prices = PriceStore(root).read(list(tickers), start, end)
        configs = apply_preset(
            preset, Configs(dataset, model, training, walk_forward, strategy or StrategyConfig()),
            n_tickers=cross_section_size(prices, dataset), missing=missing_columns(prices),
        )  # fmt: skip
        dataset, model, training, walk_forward, strategy = configs
        dataset = dataset.model_copy(update={"features": resolve_features(dataset.features, prices)})
        folds = plan_folds(build_panel(prices, dataset), walk_forward)
        return cls(
            root=str(root), tickers=tuple(tickers), start=start, end=prices["date"].max().date(),
            dataset=dataset, walk_forward=walk_forward, model=model, training=training, prices=prices,
            folds=tuple(folds), data_fingerprint=fingerprint(prices), use_cache=use_cache,
            strategy=strategy, preset=preset,
        )  # fmt: skip

    def jobs(self, seed: int, *, run_id: str, out_dir: str | Path) -> list[FoldJob]:
        """One job per fold, for ``seed`` (no warm start: :meth:`run` chains those)."""
        base = FoldJob(
            root=self.root, tickers=self.tickers, start=self.start, end=self.end, dataset=self.dataset,
            walk_forward=self.walk_forward, model=self.model, training=self.training, run_id=run_id,
            out_dir=str(out_dir), data_fingerprint=self.data_fingerprint, seed=seed, use_cache=self.use_cache,
        )  # fmt: skip
        return [dataclasses.replace(base, fold_index=f.index) for f in self.folds]

    def run(
        self,
        run_id: str,
        out_dir: str | Path,
        *,
        submit: Submit = run_here,
        on_block_done: Callable[[int, int], None] | None = None,
    ) -> WalkForwardResult:
        """Fit every block of every seed and stitch them.

        Args:
            run_id: names the models.
            out_dir: the run folder the blocks' files go under.
            submit: starts a job and returns a handle whose ``result()`` waits for its stem.
            on_block_done: called with (blocks done, blocks in all) as each block's result arrives.
        """
        total, done = len(self.walk_forward.seeds) * len(self.folds), 0
        finished: dict[int, list[tuple[FoldJob, str]]] = {s: [] for s in self.walk_forward.seeds}
        pending: list[tuple[FoldJob, Handle]] = []
        for seed in self.walk_forward.seeds:
            jobs = self.jobs(seed, run_id=run_id, out_dir=out_dir)
            if not self.walk_forward.warm_start:  # independent: all in flight at once
                pending += [(job, submit(job)) for job in jobs]
                continue
            warm: str | None = None
            for job in jobs:
                job = dataclasses.replace(job, initial_weights=warm)
                stem = _stem(submit(job))
                finished[seed].append((job, stem))
                warm = f"{stem}.keras"
                done += 1
                if on_block_done is not None:
                    on_block_done(done, total)
        for job, handle in pending:
            finished[job.seed].append((job, _stem(handle)))
            done += 1
            if on_block_done is not None:
                on_block_done(done, total)
        return self._collect(finished)

    def _collect(self, finished: dict[int, list[tuple[FoldJob, str]]]) -> WalkForwardResult:
        stitched = {
            seed: stitch([read_block(stem, model_id=job.model_id) for job, stem in blocks])
            for seed, blocks in finished.items()
        }
        _, baselines, folds = next(iter(stitched.values()))
        extra = {}
        if len(stitched) > 1:
            horizon = self.dataset.label.horizon
            extra["seeds"] = seed_summary(
                {s: evaluate_predictions(p, b, horizon=horizon)["model"] for s, (p, b, _) in stitched.items()}
            )
        per_seed = {s: p for s, (p, _, _) in stitched.items()}
        extra["cut_label_windows"] = self.cut_label_windows()
        return WalkForwardResult(ensemble(list(per_seed.values())), baselines, folds, per_seed, extra)

    def cut_label_windows(self) -> dict[str, Any]:
        """Samples dropped because a halt or delisting cut their label window (``features.labels``).

        Counts rows with a full feature window whose label window was cut, over the whole panel and
        over the test region (decision dates of the blocks): ``metrics.json``'s ``cut_label_windows``.
        """
        label = self.dataset.label
        panel = build_panel(self.prices, self.dataset)
        cut = cut_label_windows(self.prices, horizon=label.horizon, lag=label.lag, max_gap=self.dataset.max_gap)
        cut &= panel.window_ok
        dates = panel.dates
        in_test = (dates >= np.datetime64(self.folds[0].test_start)) & (dates <= np.datetime64(self.folds[-1].test_end))
        return {
            "n": int(cut.sum()),
            "n_test": int((cut & in_test).sum()),
            "tickers": sorted(set(panel.keys["ticker"].astype(str).to_numpy()[cut & in_test].tolist())),
            "policy": "dropped: a window cut by a gap or the end of a ticker's data has no label",
        }

    def run_info(self, run_id: str, *, source: str, code_version: str) -> dict[str, Any]:
        """The run's identity for ``metrics.json``: id, time, code, versions, data and configs.

        Adds ``preset`` when the run used one and ``survivorship_warning`` when its tickers were
        likely chosen with hindsight (:func:`features.universe.survivorship_warning`).
        """
        extra: dict[str, Any] = {}
        if self.preset is not None:
            extra["preset"] = self.preset
        if warning := survivorship_warning(self.dataset.universe, source=source):
            extra["survivorship_warning"] = warning
        return {
            "run_id": run_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "code_version": code_version,
            "versions": library_versions(),
            "source": source,
            "tickers": list(self.tickers),
            "data_start": str(self.prices["date"].min().date()),
            "data_end": str(self.prices["date"].max().date()),
            "data_fingerprint": self.data_fingerprint,
            "config": {
                "dataset": self.dataset.model_dump(mode="json"),
                "walk_forward": self.walk_forward.model_dump(mode="json"),
                "model": self.model.model_dump(mode="json"),
                "training": self.training.model_dump(mode="json"),
                "strategy": self.strategy.model_dump(mode="json"),
            },
            **extra,
        }

    def write_report(
        self,
        out_dir: Path,
        result: WalkForwardResult,
        *,
        run_info: dict[str, Any],
        trials_folder: Path,
        started: float | None = None,
    ) -> dict[str, Any]:
        """Evaluate ``result`` and write every artefact into ``out_dir`` (:func:`write_backtest_report`)."""
        return write_backtest_report(
            out_dir, result.predictions, result.baselines, self.prices,
            folds=result.folds, horizon=self.dataset.label.horizon, lag=self.dataset.label.lag, run_info=run_info,
            trials_folder=trials_folder, seed=self.walk_forward.seeds[0], extra=result.extra, started=started,
            strategy_config=self.strategy,
        )  # fmt: skip


def cross_section_size(prices: pd.DataFrame, dataset: DatasetConfig) -> int:
    """Typical number of tickers on a date: the median over dates of the members (all tickers without a universe)."""
    if dataset.universe is None:
        return int(prices["ticker"].nunique())
    members = dataset.universe.mask(prices["ticker"].to_numpy(), prices["date"].to_numpy())
    per_date = pd.Series(members).groupby(prices["date"].to_numpy()).sum()
    return max(1, int(per_date.median())) if len(per_date) else 1


def _stem(handle: Handle) -> str:
    """The stem a job resolved to."""
    stem = handle.result()
    if not isinstance(stem, str):
        raise TypeError(f"a fold job resolved to {stem!r}, not the stem of its files")
    return stem
