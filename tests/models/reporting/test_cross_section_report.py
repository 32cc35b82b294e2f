"""The cross-section in report.html, metrics.json and metrics.parquet: Qlib's table and charts, or why not."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.labels import CLASSES
from features.prices.sources.synthetic import SyntheticMarket
from models.evaluation.config import StrategyConfig
from models.reporting.html_report import CAPTIONS, fmt
from models.reporting.run_folder import write_backtest_report


def _run(tmp_path: Path, tickers: int, config: StrategyConfig | None = None) -> tuple[dict, str, pd.DataFrame]:
    prices = SyntheticMarket(tickers=tickers, days=200, seed=8).fetch()
    rng = np.random.default_rng(0)
    keys = prices.loc[prices["date"] >= prices["date"].iloc[0] + pd.Timedelta(days=120), ["date", "ticker"]]
    keys = keys[keys["date"] <= prices["date"].max() - pd.Timedelta(days=14)].reset_index(drop=True)
    probs = rng.dirichlet([2, 2, 2], size=len(keys))
    frame = keys.assign(
        horizon=np.int32(5), p_down=probs[:, 0], p_flat=probs[:, 1], p_up=probs[:, 2],
        predicted=np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)], model_id="r-s0-f0", fold=np.int32(0),
        forward_return=rng.normal(0, 0.02, len(keys)),
        label=np.asarray(CLASSES, dtype=object)[rng.integers(0, 3, len(keys))],
    )  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    content = write_backtest_report(
        run, frame, {"class_prior": np.tile([0.3, 0.4, 0.3], (len(keys), 1))}, prices, folds=[{"fold": 0}],
        horizon=5, lag=1, run_info={"run_id": "r", "config": {}}, trials_folder=tmp_path, strategy_config=config,
    )  # fmt: skip
    return content, (run / "report.html").read_text(encoding="utf-8"), pd.read_parquet(run / "metrics.parquet")


def test_a_cross_section_gets_qlibs_table_and_charts_in_every_output(tmp_path: Path):
    config = StrategyConfig(portfolio="topk_dropout", topk=3, n_drop=1)
    content, page, table = _run(tmp_path, 8, config)
    cs = content["cross_section"]
    assert cs["meaningful"] is True
    assert cs["book"]["rule"] == "topk_dropout"
    assert cs["book"]["n_drop"] == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["cross_section"] == cs
    assert "<h2>Cross-section, in Qlib's terms</h2>" in page
    section = page.split("Cross-section, in Qlib")[1].split("<h2>")[0]
    for header in ("ICIR", "Rank IC", "Rank ICIR", "excess/yr", "IR", "max DD"):
        assert f"<th>{header}</th>" in section
    overall = cs["overall"]
    assert f"<td>all</td><td>{fmt(overall['ic'], digits=4)}</td><td>{fmt(overall['icir'], digits=3)}</td>" in section
    assert f"<td>{fmt(overall['annualised_excess_return'], 'pct')}</td>" in section
    for year in cs["by_year"]:
        assert f"<td>{year}</td>" in section
    assert "TopkDropout(topk=3, n_drop=1) (equal weight" in section
    assert cs["baselines"]["class_prior"]["n_dates"] == 0  # one score for every ticker ranks nobody
    assert (
        "<tr><td>class prior</td>" + "<td>n/a</td>" * 6 + "<td>0</td></tr>" in section
    )  # 8 tickers hold 3 a side: k as asked
    for key in ("quantile_cumulative", "ic"):
        assert f'alt="{html.escape(CAPTIONS[key])}"' in section
    assert page.count(f'alt="{html.escape(CAPTIONS["ic"])}"') == 1  # the IC chart moved here from the signal section
    assert (tmp_path / "run" / "quantile_cumulative.png").read_bytes().startswith(b"\x89PNG")
    ic = table.loc[
        (table["metric"] == "cs_ic") & (table["scope"] == "all") & (table["subject"] == "topk"), "value"
    ].item()
    assert ic == pytest.approx(overall["ic"])
    assert content["strategy"]["settings"]["portfolio"] == "topk_dropout"


def test_the_caption_says_when_a_date_has_too_few_tickers_for_k_a_side(tmp_path: Path):
    content, page, _ = _run(tmp_path, 8, StrategyConfig(portfolio="topk", topk=10))
    assert content["cross_section"]["book"]["k_per_date_median"] == 4.0
    assert "top 10 (a median of 4 names per date: k is at most half the tickers of a date)" in page


def test_one_ticker_says_the_cross_section_is_not_meaningful(tmp_path: Path):
    content, page, table = _run(tmp_path, 1)
    assert content["cross_section"]["meaningful"] is False
    section = page.split("Cross-section, in Qlib")[1].split("<h2>")[0]
    assert "Not meaningful: a cross-section needs at least 3 tickers per date" in section
    assert "<table" not in section
    assert "n/a" not in section
    assert "nan" not in section.lower()
    assert not table["metric"].str.startswith("cs_").any()
    assert not (tmp_path / "run" / "quantile_cumulative.png").exists()


def test_the_setup_names_the_cross_sectional_book():
    from models.reporting.html_report import setup_rows

    def book(**strategy: object) -> str:
        strat = {"cost_bps": 5.0, "borrow_bps": 0.0, "risk_free": 0.0, "neutral": "demean", **strategy}
        return dict(setup_rows({"config": {"strategy": strat}}))["costs"].split("book ")[1]

    assert book() == "demean"
    assert book(portfolio="topk_dropout", topk=10, n_drop=2) == "topk_dropout (k 10, n_drop 2)"
    assert book(portfolio="topk", topk=10, n_drop=2) == "topk (k 10)"
    assert book(portfolio="quantile", quantiles=5) == "top minus bottom of 5 score quantiles"
