"""Real flow runs through one session-wide Prefect test harness, on a tiny synthetic market."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.labels import LabelConfig, make_labels
from features.prices.sources import get_source
from features.prices.sources.synthetic import SyntheticMarket
from flows.cli.commands import main
from flows.daily import daily_flow
from models.evaluation.metrics import classification_metrics, label_codes
from models.serving.predictions import BACKTEST_COLUMNS, read_daily

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

SOURCE = "synthetic:tickers=4,days=450,seed=2,signal=1.0"
FAST = ["--epochs", "2", "--units", "8,4", "--timesteps", "8", "--seed", "1"]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_backtest_writes_a_truthful_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["backtest", "--source", SOURCE, "--data-root", str(tmp_path), "--cost-bps", "7", "--borrow-bps", "25",
            "--portfolio", "topk_dropout", "--topk", "2", "--n-drop", "1"]  # fmt: skip
    run_dir = Path(_cli([*argv, *FAST], capsys))
    assert run_dir.parent == tmp_path / "reports" / "backtest"
    assert run_dir.is_dir()
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    metrics = json.loads((run_dir / "metrics.json").read_text())

    assert tuple(preds.columns) == BACKTEST_COLUMNS
    assert not preds.duplicated(["date", "ticker"]).any()
    # the trading settings given on the command line are the ones the P&L used and the run records
    assert metrics["config"]["strategy"] == {
        "cost_bps": 7.0,
        "borrow_bps": 25.0,
        "risk_free": 0.0,
        "neutral": "demean",
        "portfolio": "topk_dropout",
        "topk": 2,
        "n_drop": 1,
        "quantiles": 5,
    }
    assert metrics["cross_section"]["book"]["rule"] == "topk_dropout"
    assert metrics["cross_section"]["meaningful"] is True  # 4 tickers: shown, with the few-tickers warning
    assert (metrics["strategy"]["settings"]["cost_bps"], metrics["strategy"]["settings"]["borrow_bps"]) == (7.0, 25.0)
    np.testing.assert_allclose(preds[["p_down", "p_flat", "p_up"]].sum(axis=1), 1.0, atol=1e-9)
    assert (preds["predicted"] == preds[["p_down", "p_flat", "p_up"]].idxmax(axis=1).str[2:]).all()
    assert sorted(preds["fold"].unique()) == [0, 1, 2]

    # forward returns and labels are the real ones of the synthetic prices
    prices = get_source(SOURCE).fetch()
    truth = make_labels(prices, LabelConfig())
    truth = truth[truth["ticker"].isin(preds["ticker"].unique())]
    joined = preds.merge(truth, on=["date", "ticker"], how="left", suffixes=("", "_true"))
    np.testing.assert_allclose(joined["forward_return"], joined["forward_return_true"], rtol=1e-12)
    assert (label_codes(joined["label"]) == joined["label_true"]).all()

    # walk-forward: blocks are chronological and no training label ends inside a test block.
    # Independent check: every labeled row up to the fold's last training decision date (all tickers,
    # from make_labels on the source's prices) has its label window end before the test block.
    folds = metrics["folds"]
    for f in folds:
        in_fold = preds[preds["fold"] == f["fold"]]
        test_start = pd.Timestamp(f["test_start"])
        assert in_fold["date"].min() >= test_start
        assert in_fold["date"].max() <= pd.Timestamp(f["test_end"])
        trained_on = truth[(truth["date"] <= pd.Timestamp(f["val_end"])) & (truth["label"] >= 0)]
        assert trained_on["label_end"].max() < test_start
        assert pd.Timestamp(f["train_labels_end_max"]) < test_start
    assert [f["test_start"] for f in folds] == sorted(f["test_start"] for f in folds)

    # the headline numbers are measurements of this very file
    recomputed = classification_metrics(label_codes(preds["label"]), preds[["p_down", "p_flat", "p_up"]].to_numpy())
    assert metrics["model"]["accuracy"] == pytest.approx(recomputed["accuracy"])
    assert metrics["model"]["log_loss"] == pytest.approx(recomputed["log_loss"])
    assert metrics["model"]["n"] == len(preds)
    assert "class_prior" in metrics["baselines"]
    headline = "Edge:" if metrics["has_edge"] else "No significant edge"
    assert metrics["verdict"].startswith(headline)
    # leak alarm: nobody beats the Bayes-optimal accuracy of the generator by more than sampling noise
    bayes = SyntheticMarket.from_spec(SOURCE.split(":", 1)[1]).bayes_accuracy(horizon=5, lag=1, band=0.01)
    assert metrics["model"]["accuracy"] < bayes + 3 * np.sqrt(0.25 / len(preds))
    assert metrics["config"]["training"]["epochs"] == 2


def test_train_then_daily_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root = str(tmp_path)
    model_id = _cli(["train", "--source", SOURCE, "--end", "2011-06-30", "--data-root", root, *FAST], capsys)
    assert (tmp_path / "models" / model_id / "model.keras").is_file()
    assert json.loads((tmp_path / "models" / "champion.json").read_text())["model_id"] == model_id
    assert main(["models", "list", "--data-root", root]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].startswith(f"* {model_id}")
    assert main(["models", "show", "--data-root", root]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model_id"] == model_id
    assert shown["promotion"]["reason"] == "no champion yet"
    assert shown["dataset"]["timesteps"] == 8

    out = _cli(["daily", "--as-of", "2011-09-01", "--source", SOURCE, "--data-root", root], capsys)
    partition = tmp_path / "reports" / "daily" / "date=2011-09-01" / "predictions.parquet"
    assert Path(out) == partition
    first = read_daily(tmp_path)
    assert list(first["ticker"]) == ["SYN00", "SYN01", "SYN02", "SYN03"]
    assert (first["date"] == pd.Timestamp("2011-09-01")).all()
    assert (first["model_id"] == model_id).all()

    # idempotent: a re-run for the same date leaves one identical partition
    _cli(["daily", "--as-of", "2011-09-01", "--source", SOURCE, "--data-root", root], capsys)
    assert [p.name for p in partition.parent.iterdir()] == ["predictions.parquet"]
    pd.testing.assert_frame_equal(read_daily(tmp_path), first)

    table = _cli(["report", "--data-root", root, "--ticker", "SYN01"], capsys)
    assert "SYN01" in table


def test_daily_publishes_nothing_on_a_day_without_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root = str(tmp_path)
    _cli(["train", "--source", SOURCE, "--end", "2011-06-30", "--data-root", root, *FAST], capsys)
    saturday = "2011-09-03"
    state = daily_flow.fn(as_of=saturday, source=SOURCE, data_root_dir=root)
    assert (state.type.value, state.name) == ("COMPLETED", "Skipped")
    assert (
        state.message
        == "nothing published: no ticker has a price on 2011-09-03 (market closed or data not yet published)"
    )
    assert not (tmp_path / "reports" / "daily").exists()
    # the CLI prints the reason the run was skipped, and exits 0
    out = _cli(["daily", "--as-of", saturday, "--source", SOURCE, "--data-root", root], capsys)
    assert out == state.message


def test_backtest_with_seeds_warm_start_and_retrain_every(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["backtest", "--source", SOURCE, "--data-root", str(tmp_path), *FAST]
    run_dir = Path(_cli([*argv, "--seeds", "1,2", "--warm-start", "--retrain-every", "60"], capsys))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    n_folds = len(metrics["folds"])
    assert n_folds >= 2
    assert metrics["seeds"]["seeds"] == [1, 2]
    assert set(metrics["seeds"]["mean"]) >= {"accuracy", "log_loss"}
    per_seed = [metrics["seeds"]["per_seed"][s]["accuracy"] for s in ("1", "2")]
    assert metrics["seeds"]["mean"]["accuracy"] == pytest.approx(np.mean(per_seed))
    # the report holds the seed ensemble: its probabilities are the mean of the two seeds' folds
    folds = run_dir / "folds"
    one = pd.concat([pd.read_parquet(folds / "seed=1" / f"fold={k}.parquet") for k in range(n_folds)])
    two = pd.concat([pd.read_parquet(folds / "seed=2" / f"fold={k}.parquet") for k in range(n_folds)])
    np.testing.assert_allclose(preds["p_up"].to_numpy(), (one["p_up"].to_numpy() + two["p_up"].to_numpy()) / 2)
    assert (preds["model_id"].str.contains("-ensemble-")).all()
    assert (folds / "seed=2" / "fold=1.keras").is_file()
