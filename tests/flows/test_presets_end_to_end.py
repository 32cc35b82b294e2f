"""``updown backtest --preset ...`` on the bundled 20-stock close-only sample, at a tiny size."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import flows.backtest  # noqa: F401  # Prefect's console log handler binds stderr on import: at collection, not under capsys
from flows.cli.commands import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

# Tiny overrides of the presets' sizes: 2022 of the sample, one epoch of a 4-unit LSTM.
TINY = ["--source", "sample:sp500", "--start", "2022-01-01", "--epochs", "1", "--timesteps", "5", "--units", "4"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[pd.DataFrame, dict, str]:
    status, out = main(["backtest", *argv]), capsys.readouterr()
    assert status == 0, out.err[-2000:]
    run_dir = Path(out.out.strip().splitlines()[-1])
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    return preds, json.loads((run_dir / "metrics.json").read_text()), (run_dir / "report.html").read_text()


def test_fischer_krauss_on_a_dated_universe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    universe = tmp_path / "members.csv"
    tickers = ["AAPL", "BAC", "CVX", "GE", "HD", "JNJ", "JPM", "KO", "MSFT", "PFE", "WMT", "XOM"]
    rows = [f"{t},," for t in tickers if t not in ("GE", "JPM")] + ["GE,,2022-10-31", "JPM,2022-09-01,"]
    universe.write_text("ticker,start,end\n" + "\n".join(rows) + "\n")
    argv = [*TINY, "--data-root", str(tmp_path), "--preset", "fischer-krauss", "--universe", str(universe)]
    argv += ["--retrain-every", "60", "--topk", "3"]

    preds, metrics, html = _run(argv, capsys)

    config = metrics["config"]
    assert metrics["preset"] == "fischer-krauss"
    assert config["model"] == {"units": [4], "dropout": 0.16, "bidirectional": False, "optimizer": "rmsprop",
                               "learning_rate": 0.001}  # fmt: skip
    label = config["dataset"]["label"]
    assert (label["scheme"], label["cs_split"], label.get("cs_band", 0.0), label["lag"], label["horizon"]) == (
        "cross_section", "median_band", 0.0, 0, 1,
    )  # fmt: skip
    assert config["dataset"]["features"] == ["ret_1"]
    assert config["dataset"]["timesteps"] == 5
    assert (config["walk_forward"]["window"], config["walk_forward"]["train_days"]) == ("rolling", 750)
    assert config["strategy"]["portfolio"] == "topk"
    assert config["strategy"]["topk"] == 3
    assert config["training"]["epochs"] == 1
    assert config["training"]["class_weight"] is False
    # only members are predicted: GE until 2022-10-31, JPM from 2022-09-01, nobody outside the file
    assert set(preds["ticker"]) <= set(tickers)
    assert preds.loc[preds["ticker"] == "GE", "date"].max() <= pd.Timestamp("2022-10-31")
    assert preds.loc[preds["ticker"] == "JPM", "date"].min() >= pd.Timestamp("2022-09-01")
    per_date = preds.groupby("date")["ticker"].nunique()
    expected = 10 + (per_date.index <= "2022-10-31").astype(int) + (per_date.index >= "2022-09-01").astype(int)
    assert (per_date.to_numpy() == expected).all()
    # the Qlib-style table, overall and per year; a dated universe gives no survivorship warning
    assert metrics["cross_section"]["meaningful"] is True
    assert set(metrics["cross_section"]["by_year"]) == {str(y) for y in preds["date"].dt.year.unique()}
    assert "survivorship_warning" not in metrics
    assert "Survivorship" not in html


def test_qlib_lstm_adapts_to_close_only_data_and_warns_of_survivors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds, metrics, html = _run([*TINY, "--data-root", str(tmp_path), "--preset", "qlib-lstm"], capsys)

    config = metrics["config"]
    assert metrics["preset"] == "qlib-lstm"
    assert config["dataset"]["features"] == ["rel_close"]  # alpha360_close: the sample has closes only
    assert config["model"]["units"] == [4]
    assert config["model"]["dropout"] == 0.0
    assert (config["training"]["batch_size"], config["training"]["patience"]) == (800, 20)
    assert config["dataset"]["label"].get("cs_split", "quantiles") == "quantiles"
    assert config["dataset"]["label"]["lag"] == 1
    assert (config["strategy"]["portfolio"], config["strategy"]["topk"], config["strategy"]["n_drop"]) == (
        "topk_dropout", 3, 1,
    )  # fmt: skip  # 50 / 300 and 5 / 50 of 20 stocks
    assert config["strategy"]["cost_bps"] == 10.0
    assert preds["ticker"].nunique() == 20
    assert metrics["cross_section"]["book"]["rule"] == "topk_dropout"
    assert set(metrics["cross_section"]["by_year"]) == {str(y) for y in preds["date"].dt.year.unique()}
    assert "today's survivors" in metrics["survivorship_warning"]
    assert "Survivorship bias: sample:sp500" in html
    assert "<td>preset</td><td>qlib-lstm (docs/presets.md" in html
    assert "1 feature x" in html  # alpha360_close is the close alone
