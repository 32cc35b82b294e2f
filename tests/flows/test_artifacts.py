"""What the Prefect artifacts say, from hand-built metrics, predictions and model cards.

Outside a flow run the publishers do nothing (the pure functions below are what they publish).
"""

from __future__ import annotations

import pandas as pd

from flows.artifacts import (
    backtest_markdown,
    config_lines,
    cross_section_rows,
    headline_rows,
    model_card,
    publish_backtest_artifacts,
    scorecard_markdown,
    signal_rows,
)

METRICS = {
    "run_id": "r1",
    "verdict": "the model beats every baseline",
    "verdict_lines": ["the model beats every baseline", "log-loss 0.9 vs 1.0"],
    "model": {"accuracy": 0.41234, "balanced_accuracy": 0.4, "macro_f1": 0.39, "log_loss": 1.0, "brier": 0.6},
    "baselines": {"prior": {"accuracy": 0.35, "log_loss": 1.1}, "momentum": {"accuracy": 0.33}},
    "comparisons": {"prior": {"loss": "log_loss", "p_value": 0.01234}, "momentum": {"loss": "zero_one"}},
    "config": {
        "dataset": {"timesteps": 30, "label": {"scheme": "fixed", "horizon": 5, "lag": 1, "band": 0.01}},
        "walk_forward": {"blocks": 3, "seeds": [0, 1]},
        "model": {"units": [128, 64], "dropout": 0.2, "bidirectional": False, "optimizer": "adam"},
        "training": {"epochs": 8, "batch_size": 256, "patience": 2, "seed": 0},
    },
    "folds": [{}, {}, {}],
    "source": "sample",
    "tickers": ["A", "B"],
    "data_start": "2010-01-04",
    "data_end": "2012-12-31",
}


def test_headline_rows_compare_the_model_with_each_baseline() -> None:
    rows = headline_rows(METRICS)
    assert rows[0] == {
        "subject": "model",
        "accuracy": "0.4123",
        "balanced_accuracy": "0.4000",
        "macro_f1": "0.3900",
        "log_loss": "1.0000",
        "brier": "0.6000",
        "dm_p_value": "",
        "dm_loss": "",
    }
    assert rows[1]["subject"] == "prior"
    assert rows[1]["dm_p_value"] == "0.0123"
    assert rows[1]["dm_loss"] == "log-loss (per-date mean)"
    assert rows[1]["brier"] == "n/a"
    assert rows[2]["dm_p_value"] == "n/a"
    assert rows[2]["dm_loss"] == "0-1 loss, i.e. error rate (per-date mean)"


def test_config_lines_and_the_markdown_summary() -> None:
    lines = config_lines(METRICS)
    assert lines[0] == "- source `sample`, tickers A, B, data 2010-01-04..2012-12-31"
    assert lines[1] == "- walk-forward: 3 blocks (blocks: 3), expanding window, seeds [0, 1], warm start False"
    assert lines[4] == "- data: timesteps 30, label fixed horizon 5 lag 1 band 0.01"
    assert config_lines({**METRICS, "config": {"walk_forward": {"retrain_every": 21}}})[1].startswith(
        "- walk-forward: 3 blocks (blocks: every 21 trading days)"
    )

    text = backtest_markdown(METRICS, run_dir="s3://bucket/runs/r1/")
    assert text.startswith("# Backtest r1\n\n**the model beats every baseline**\n\n- log-loss 0.9 vs 1.0")
    assert "- log-loss (per-date mean): prior" in text
    assert text.endswith(
        "Run folder: `s3://bucket/runs/r1/`; full report: [report.html](s3://bucket/runs/r1/report.html)"
    )


def test_signals_strongest_first_and_the_scorecard_table() -> None:
    frame = pd.DataFrame(
        {
            "ticker": ["A", "B"],
            "predicted": ["down", "up"],
            "p_down": [0.5, 0.1],
            "p_flat": [0.3, 0.3],
            "p_up": [0.2, 0.6],
            "model_id": ["m", "m"],
        }
    )
    rows = signal_rows(frame)
    assert [r["ticker"] for r in rows] == ["B", "A"]
    assert rows[0]["score"] == "0.5000"
    assert rows[1]["score"] == "-0.3000"

    card = [
        {"model_id": "m", "n": 40, "window_accuracy": 0.5, "expected_accuracy": 0.45, "accuracy_lower": 0.3,
         "accuracy_upper": 0.6, "window_log_loss": 1.0, "expected_log_loss": 1.05, "status": "ok"}
    ]  # fmt: skip
    assert scorecard_markdown(card).splitlines()[2] == (
        "| m | 40 | 0.5000 | 0.4500 [0.3000..0.6000] | 1.0000 | 1.0500 | ok |"
    )


def test_model_card() -> None:
    card = model_card(
        {
            "model_id": "m1",
            "tickers": ["A"],
            "data_start": "2010-01-04",
            "data_end": "2011-01-03",
            "architecture": {"units": [8], "dropout": 0.0, "bidirectional": True, "optimizer": "rmsprop"},
            "validation": {"accuracy": 0.5, "log_loss": 1.0, "n": 12},
            "promotion": {"reason": "first model"},
        }
    ).splitlines()
    assert card[0] == "# Model m1"
    assert card[3] == "- architecture: units [8], dropout 0.0, bidirectional True, optimiser rmsprop"
    assert card[5] == "- validation: accuracy 0.5000, log-loss 1.0000, balanced accuracy n/a on 12 samples"
    assert card[6] == "- promotion: first model"


def test_publishing_outside_a_flow_run_does_nothing() -> None:
    assert publish_backtest_artifacts(METRICS, "r1") is None


CROSS_SECTION = {
    "meaningful": True, "note": "Cross-section of a median 20 tickers per date over 250 dates.", "median_tickers": 20.0,
    "book": {"topk": 5, "n_drop": 2, "rule": "topk_dropout", "cost_bps": 5.0, "k_per_date_median": 5.0},
    "overall": {"ic": 0.0448, "icir": 0.35, "ic_t_stat": 2.51, "rank_ic": 0.055, "rank_icir": 0.41,
                "rank_ic_t_stat": 3.0, "annualised_excess_return": 0.065, "information_ratio": 0.9,
                "max_drawdown": -0.088, "n_dates": 250},
    "by_year": {"2021": {"ic": 0.05, "icir": 0.4, "ic_t_stat": None, "rank_ic": 0.06, "rank_icir": 0.5,
                         "rank_ic_t_stat": 1.9, "annualised_excess_return": 0.07, "information_ratio": 1.1,
                         "max_drawdown": -0.05, "n_dates": 120}},
}  # fmt: skip


def test_the_cross_section_in_qlibs_terms_in_the_summary_and_its_table() -> None:
    text = backtest_markdown({**METRICS, "cross_section": CROSS_SECTION})
    assert "## Cross-section (Qlib's terms)" in text
    assert "- IC 0.0448, ICIR 0.350 (t 2.51); Rank IC 0.0550, Rank ICIR 0.410 (t 3.00), over 250 dates" in text
    assert (
        "- TopkDropout(topk=5, n_drop=2) long book against the equal-weight universe: annualised excess return "
        "0.0650, IR 0.90, max drawdown -0.0880" in text
    )
    rows = cross_section_rows({"cross_section": CROSS_SECTION})
    assert [r["period"] for r in rows] == ["all", "2021"]
    assert rows[0]["icir"] == "0.350"
    assert rows[0]["n_dates"] == "250"
    assert rows[1]["ic_t_stat"] == "n/a"
    assert rows[1]["information_ratio"] == "1.10"


def test_a_one_ticker_run_says_the_cross_section_is_not_meaningful() -> None:
    note = "Not meaningful: a cross-section needs at least 3 tickers per date, this run has a median of 1"
    metrics = {**METRICS, "cross_section": {"meaningful": False, "note": note, "median_tickers": 1.0}}
    text = backtest_markdown(metrics)
    assert f"Cross-section: {note}" in text
    assert "ICIR" not in text
    assert cross_section_rows(metrics) == []
    assert "Cross-section" not in backtest_markdown(METRICS)  # runs from before the cross-section: nothing
