"""The backtest run folder: every artefact, metrics.json written once, the strategy P&L computed once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import models.reporting.run_folder as backtest_report
from features.labels import CLASSES
from features.prices.sources.synthetic import SyntheticMarket
from models.evaluation.metrics import evaluate_predictions
from models.evaluation.strategy import backtest_strategy
from models.reporting.html_report import fmt
from models.reporting.run_folder import record_trial, search_spa, write_backtest_report
from models.reporting.trials import trial_entry

PRICES = SyntheticMarket(tickers=3, days=200, seed=8).fetch()


def _predictions(seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    keys = PRICES.loc[PRICES["date"] >= PRICES["date"].iloc[120], ["date", "ticker"]].reset_index(drop=True)
    keys = keys[keys["date"] <= PRICES["date"].max() - pd.Timedelta(days=14)].reset_index(drop=True)
    probs = rng.dirichlet([2, 2, 2], size=len(keys))
    labels = np.asarray(CLASSES, dtype=object)[rng.integers(0, 3, len(keys))]
    frame = keys.assign(
        horizon=np.int32(5), p_down=probs[:, 0], p_flat=probs[:, 1], p_up=probs[:, 2],
        predicted=np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)], model_id="r-s0-f0",
        fold=np.int32((np.arange(len(keys)) >= len(keys) // 2).astype("int32")),
        forward_return=rng.normal(0, 0.02, len(keys)), label=labels,
    )  # fmt: skip
    prior = np.tile([0.3, 0.4, 0.3], (len(keys), 1))
    return frame, {"class_prior": prior, "noise": rng.dirichlet([5, 5, 5], size=len(keys))}


RUN_INFO = {"run_id": "r", "data_fingerprint": "abc", "config": {"model": {"units": [8]}}}


def test_the_run_folder_holds_every_artefact_and_metrics_json_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    predictions, baselines = _predictions()
    calls: dict[str, int] = {"returns": 0, "metrics.json": 0}
    real_returns, real_write = backtest_report.strategy_returns, backtest_report.write_json

    def count_returns(*args: Any, **kwargs: Any) -> Any:
        calls["returns"] += 1
        return real_returns(*args, **kwargs)

    def count_writes(content: Any, path: Path) -> Any:
        calls["metrics.json"] += Path(path).name == "metrics.json"
        return real_write(content, path)

    monkeypatch.setattr(backtest_report, "strategy_returns", count_returns)
    monkeypatch.setattr(backtest_report, "write_json", count_writes)
    run = tmp_path / "run"
    run.mkdir()
    content = write_backtest_report(
        run, predictions, baselines, PRICES, folds=[{"fold": 0}, {"fold": 1}], horizon=5, lag=1,
        run_info=RUN_INFO, trials_folder=tmp_path, seed=3, extra={"seeds": {"seeds": [0]}},
        started=time.perf_counter() - 2.0,
    )  # fmt: skip
    assert calls == {"returns": 1, "metrics.json": 1}
    assert sorted(p.name for p in run.iterdir()) == sorted([
        "predictions.parquet", "metrics.json", "metrics.parquet", "equity.parquet", "equity.png", "confusion.png",
        "reliability.png", "rolling_accuracy.png", "report.html", "monthly.png", "rolling_risk.png",
        "distribution.png", "exposure.png", "cost.png", "ic.png", "quintiles.png", "autocorrelation.png",
        "quantile_cumulative.png",
    ])  # fmt: skip
    assert json.loads((run / "metrics.json").read_text()) == json.loads(json.dumps(content))
    assert content["wall_seconds"] >= 2.0
    assert content["run_id"] == "r"
    assert content["folds"] == [{"fold": 0}, {"fold": 1}]
    assert content["seeds"] == {"seeds": [0]}
    assert content["trials"]["n_trials"] == 1
    # the numbers are those of the evaluation and the strategy on the same predictions
    evaluation = evaluate_predictions(predictions, baselines, horizon=5)
    assert content["model"]["log_loss"] == evaluation["model"]["log_loss"]
    assert set(content["baselines"]) == {"class_prior", "noise"}
    strategy = backtest_strategy(predictions, PRICES, lag=1, horizon=5, n_trials=1, trial_sharpe_variance=0.0, seed=3)
    assert content["strategy"] == strategy.to_json()
    stored = pd.read_parquet(run / "predictions.parquet")
    pd.testing.assert_frame_equal(stored, predictions, check_exact=True)


def test_without_a_start_time_no_wall_seconds(tmp_path: Path):
    predictions, baselines = _predictions()
    content = write_backtest_report(
        tmp_path, predictions, baselines, PRICES, folds=[], horizon=5, lag=1, run_info=RUN_INFO,
        trials_folder=tmp_path,
    )  # fmt: skip
    assert "wall_seconds" not in content


def _entry(config: str, start: str, end: str, *, universe: str = "A,B", sharpe: float = 0.1) -> dict[str, Any]:
    return trial_entry(
        universe=universe,
        test_start=start,
        test_end=end,
        config_key=config,
        data_fingerprint=f"{start}-{end}",
        daily_sharpe={"long_short": sharpe, "long_only": -sharpe},
    )


def _losses(seed: int, days: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=days)
    return pd.DataFrame(
        {"date": dates, "log_loss_diff": rng.normal(0, 0.01, days), "sign_loss_diff": rng.normal(0, 0.1, days)}
    )


def test_the_trials_ledger_counts_configurations_by_universe_and_overlapping_period(tmp_path: Path):
    first = record_trial(tmp_path, _entry("a", "2020-01-01", "2020-06-30"), _losses(0))
    assert first["n_trials"] == 1
    assert first["daily_sharpe_variance"] == {"long_only": 0.0, "long_short": 0.0}
    # --end moved by a day: a new data fingerprint, the same search; the same configuration replaces its trial
    moved = record_trial(tmp_path, _entry("a", "2020-01-02", "2020-07-01", sharpe=0.3), _losses(1))
    assert moved["n_trials"] == 1
    assert sorted(p.name for p in (tmp_path / "trial_losses").iterdir()) == [moved["members"][0]["losses"]]
    other = record_trial(tmp_path, _entry("b", "2020-03-01", "2020-09-30", sharpe=0.1), _losses(2))
    assert other["n_trials"] == 2
    assert other["daily_sharpe_variance"]["long_short"] == pytest.approx(np.var([0.3, 0.1], ddof=1))
    assert other["daily_sharpe_variance"]["long_only"] == pytest.approx(np.var([-0.3, -0.1], ddof=1))
    assert record_trial(tmp_path, _entry("c", "2021-01-01", "2021-06-30"), _losses(3))["n_trials"] == 1  # later
    assert record_trial(tmp_path, _entry("a", "2020-01-01", "2020-06-30", universe="A"), _losses(4))["n_trials"] == 1
    ledger = json.loads((tmp_path / "trials.json").read_text())
    assert len(ledger) == 4
    # an entry of the old format (keyed on the fingerprint only) is kept but not counted
    (tmp_path / "trials.json").write_text(json.dumps([*ledger, {"data": "x", "config": "z", "daily_sharpe": 0.2}]))
    again = record_trial(tmp_path, _entry("d", "2020-02-01", "2020-05-01"), _losses(5))
    assert again["n_trials"] == 3
    assert len(json.loads((tmp_path / "trials.json").read_text())) == 6


def test_the_search_spa_runs_on_the_dates_every_member_shares(tmp_path: Path):
    record_trial(tmp_path, _entry("a", "2020-01-01", "2020-06-30"), _losses(0))
    good = _losses(1).assign(log_loss_diff=lambda f: f["log_loss_diff"] - 0.02)  # clearly better than its baseline
    search = record_trial(tmp_path, _entry("b", "2020-01-01", "2020-06-30"), good.iloc[5:])
    spa = search_spa(search, n_boot=500, seed=1)
    assert spa["members_with_losses"] == 2
    assert spa["log_loss_diff"]["k"] == 2
    assert spa["log_loss_diff"]["T"] == 55
    assert spa["log_loss_diff"]["consistent"] < 0.01  # the best of two is far beyond luck
    assert spa["log_loss_diff"]["best"] == 1
    assert spa["sign_loss_diff"]["consistent"] > 0.05  # pure noise


def test_a_second_configuration_is_counted_beside_the_verdicts(tmp_path: Path):
    predictions, baselines = _predictions()
    first = write_backtest_report(
        tmp_path / "r1", predictions, baselines, PRICES, folds=[], horizon=5, lag=1, run_info=RUN_INFO,
        trials_folder=tmp_path,
    )  # fmt: skip
    assert first["verdicts"]["probabilistic"]["trials"]["n_trials"] == 1
    info = {**RUN_INFO, "data_fingerprint": "other", "config": {"model": {"units": [16]}}}
    shifted, other_baselines = _predictions(seed=1)
    second = write_backtest_report(
        tmp_path / "r2", shifted, other_baselines, PRICES, folds=[], horizon=5, lag=1, run_info=info,
        trials_folder=tmp_path,
    )  # fmt: skip
    for kind in ("probabilistic", "directional"):
        trials = second["verdicts"][kind]["trials"]
        assert trials["n_trials"] == 2
        assert trials["spa_configurations"] == 2
        assert 0 <= trials["spa_p_value"] <= trials["reality_check_p_value"] <= 1
    assert second["trials"]["n_trials"] == 2
    ls = second["strategy"]["metrics"]["long_short"]
    assert ls["dsr"] < ls["psr"]  # deflated for two configurations with different active Sharpe ratios
    html_text = (tmp_path / "r2" / "report.html").read_text()
    assert "2 configurations" in html_text
    table = pd.read_parquet(tmp_path / "r2" / "metrics.parquet")
    assert table.loc[table["metric"] == "n_trials", "value"].tolist() == [2.0]


def test_report_html_shows_every_section_with_the_numbers_of_metrics_json(tmp_path: Path):
    predictions, baselines = _predictions()
    content = write_backtest_report(
        tmp_path, predictions, baselines, PRICES, folds=[{"fold": 0}, {"fold": 1}], horizon=5, lag=1,
        run_info={**RUN_INFO, "source": "synthetic:tickers=3,days=200,seed=8",
                  "config": {"dataset": {"label": {"scheme": "fixed", "band": 0.01, "horizon": 5, "lag": 1}}}},
        trials_folder=tmp_path,
    )  # fmt: skip
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    sections = ("At a glance", "Model against baselines, same samples", "Strategy", "Cost sensitivity", "Returns",
                "Trading", "Signal", "Against the Bayes-optimal forecaster", "Cross-section, in Qlib's terms",
                "Classification", "Per walk-forward block", "Glossary")  # fmt: skip
    for section in sections:
        assert f">{section}</h" in text, section
    assert "http://" not in text
    assert "https://" not in text
    assert "<script" not in text
    assert "<link" not in text
    assert text.count('src="data:image/png;base64,') == 13  # with the cumulative quintile returns
    sheet = content["tearsheet"]
    ls = sheet["returns"]["long_short"]
    for year, value in ls["yearly"].items():
        assert f"<td>{year}</td><td>{fmt(value, 'pct')}</td>" in text
    worst = ls["drawdowns"][0]
    assert f"<td>1</td><td>{worst['start']}</td><td>{worst['trough']}</td>" in text
    assert f"<td>{fmt(worst['depth'], 'pct')}</td><td>{fmt(worst['length'], 'int')}</td>" in text
    trading = sheet["trading"]
    assert f"<td>profit factor</td><td>{fmt(trading['long_short']['profit_factor'])}</td>" in text
    quintile = sheet["signal"]["quintile_returns"]["5"]
    assert f"<td>5</td><td>{fmt(quintile['mean_return'], 'pct', 4)}</td>" in text
    bayes = sheet["bayes"]
    assert 0.3 < bayes["accuracy"] < 1
    assert bayes["rows"] == len(predictions)
    assert f"<td>{fmt(bayes['accuracy'], 'pct')}</td>" in text
    assert f"<td>{fmt(content['model']['log_loss'])}</td>" in text
    # the same numbers, tidy, in metrics.parquet
    table = pd.read_parquet(tmp_path / "metrics.parquet")
    row = table[(table["metric"] == "profit_factor") & (table["subject"] == "long_short")]
    assert row["value"].iloc[0] == pytest.approx(trading["long_short"]["profit_factor"])
    first_year = next(iter(ls["yearly"]))
    row = table[(table["metric"] == "yearly_return") & (table["scope"] == f"year={first_year}")
                & (table["subject"] == "long_short")]  # fmt: skip
    assert row["value"].iloc[0] == pytest.approx(ls["yearly"][first_year])
