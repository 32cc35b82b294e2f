"""The comparison page of several backtest runs, from two tiny run folders written by the real report code."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from features.storage.layout import DataRoot
from models.reporting.compare import compare_path, config_differences, flatten, render_comparison, write_comparison
from models.reporting.html_tables import fmt, label
from models.reporting.run_folder import write_backtest_report
from tests.models.reporting.test_run_folder import PRICES, _predictions

IDS = ("20240102-030405-aaaaaa", "20240103-030405-bbbbbb")


def _run_info(run_id: str, units: list[int]) -> dict[str, Any]:
    return {
        "run_id": run_id, "data_fingerprint": "abc", "source": "synthetic:tickers=3,days=200,seed=8",
        "config": {"model": {"units": units, "dropout": 0.2},
                   "dataset": {"label": {"scheme": "fixed", "band": 0.01, "horizon": 5, "lag": 1}}},
    }  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataRoot, dict[str, dict[str, Any]]]:
    """Two finished runs of one search under a data root (the second knows both ids from the ledger)."""
    root = DataRoot(tmp_path_factory.mktemp("root"))
    metrics = {}
    for seed, (run_id, units) in enumerate(zip(IDS, ([8], [16]), strict=True)):
        predictions, baselines = _predictions(seed=seed)
        folder = root.backtest_run(run_id)
        folder.mkdir(parents=True)
        metrics[run_id] = write_backtest_report(
            folder, predictions, baselines, PRICES, folds=[], horizon=5, lag=1,
            run_info=_run_info(run_id, units), trials_folder=root.backtest_dir,
        )  # fmt: skip
    return root, metrics


def test_flatten_joins_nested_keys_and_keeps_lists_as_values():
    assert flatten({"a": {"b": {"c": 1}, "d": [1, 2]}, "e": {}, "f": None}) == {
        "a.b.c": 1, "a.d": [1, 2], "e": {}, "f": None,
    }  # fmt: skip


def test_only_the_differing_keys_are_listed_one_column_per_run():
    runs = {
        "r1": {"source": "s", "config": {"model": {"units": [8], "dropout": 0.2}, "training": {"epochs": 3}}},
        "r2": {"source": "s", "config": {"model": {"units": [16], "dropout": 0.2}}},
        "r3": {"source": "s", "config": {"model": {"units": [8], "dropout": 0.2}, "training": {"epochs": 3}}},
    }
    assert config_differences(runs) == [["model.units", "[8]", "[16]", "[8]"], ["training.epochs", "3", "-", "3"]]
    assert config_differences({"r1": runs["r1"], "r3": runs["r3"]}) == []


def test_the_page_shows_every_section_with_each_runs_numbers_and_nothing_external(runs, tmp_path: Path):
    root, metrics = runs
    path = write_comparison(root, list(IDS))
    assert path == compare_path(root, list(IDS))
    assert path.parent == root.backtest_dir
    assert path.name.startswith("compare-")
    assert path.suffix == ".html"
    assert root.finished_runs() == sorted(IDS)  # the page is a file beside the runs, never taken for one
    text = path.read_text(encoding="utf-8")
    for section in ("Configuration that differs", "Headline metrics", "Equity curves"):
        assert f">{section}</h2>" in text, section
    # only the key that differs: units; dropout, horizon and source are shared
    assert "<tr><td>model.units</td><td>[8]</td><td>[16]</td></tr>" in text
    for shared in ("model.dropout", "dataset.label.horizon", "<td>source</td>", "data_fingerprint"):
        assert shared not in text
    a, b = (metrics[i] for i in IDS)

    def row(name: str, value: Any) -> None:
        assert f"<tr><td>{name}</td><td>{value(a)}</td><td>{value(b)}</td></tr>" in text, name

    def ls(m: dict[str, Any], key: str) -> Any:
        return m["strategy"]["metrics"]["long_short"][key]

    def best(m: dict[str, Any]) -> str:
        return min(m["baselines"], key=lambda n: m["baselines"][n]["log_loss"])

    row("N trials", lambda m: fmt(m["trials"]["n_trials"], "int"))
    row("model accuracy", lambda m: fmt(m["model"]["accuracy"], "pct"))
    row("model log-loss", lambda m: fmt(m["model"]["log_loss"]))
    row("model rank IC", lambda m: fmt(m["verdicts"]["directional"]["rank_ic"]["model_mean"], digits=4))
    row("best baseline", lambda m: label(best(m)))
    row("best baseline log-loss", lambda m: fmt(m["baselines"][best(m)]["log_loss"]))
    row("long/short net return/yr", lambda m: fmt(ls(m, "annualised_return"), "pct"))
    row("long/short Sharpe", lambda m: fmt(ls(m, "sharpe"), digits=2))
    row("long/short max drawdown", lambda m: fmt(ls(m, "max_drawdown"), "pct"))
    row("long/short alpha", lambda m: fmt(ls(m, "alpha"), "pct"))
    row("long/short DSR", lambda m: fmt(ls(m, "dsr"), "pct"))
    assert [a["trials"]["n_trials"], b["trials"]["n_trials"]] == [1, 2]
    for m in (a, b):
        for kind in ("probabilistic", "directional"):
            verdict = m["verdicts"][kind]
            edge = "edge: " if verdict["has_edge"] else "no edge: "
            assert f"<td>{html.escape(edge + verdict['verdict_lines'][0])}</td>" in text
    assert text.count('src="data:image/png;base64,') == 1
    for external in ("http://", "https://", "<script", "<link"):
        assert external not in text
    # --out writes the same page elsewhere
    out = write_comparison(root, list(IDS), out=tmp_path / "cmp.html")
    assert out == tmp_path / "cmp.html"
    assert out.read_text(encoding="utf-8").count("<h2>") == 3


def test_report_html_gives_the_compare_command_for_the_runs_of_its_search(runs):
    root, _ = runs
    first = (root.backtest_run(IDS[0]) / "report.html").read_text(encoding="utf-8")
    second = (root.backtest_run(IDS[1]) / "report.html").read_text(encoding="utf-8")
    assert "updown report --compare" not in first  # alone in its search when it ran
    assert f"<pre>updown report --compare {IDS[0]} {IDS[1]}</pre>" in second
    ledger = json.loads(root.trials_ledger.read_text(encoding="utf-8"))
    assert [e["run_id"] for e in ledger] == list(IDS)


def test_unknown_single_or_repeated_ids_are_refused_by_name(runs):
    root, _ = runs
    before = sorted(root.backtest_dir.glob("compare-*.html"))
    with pytest.raises(FileNotFoundError, match="run_id='nope'"):
        write_comparison(root, [IDS[0], "nope"])
    with pytest.raises(ValueError, match="two or more"):
        write_comparison(root, [IDS[0]])
    with pytest.raises(ValueError, match="distinct"):
        write_comparison(root, [IDS[0], IDS[0]])
    with pytest.raises(ValueError, match=re.escape("run_id='../x'")):
        write_comparison(root, [IDS[0], "../x"])
    assert sorted(root.backtest_dir.glob("compare-*.html")) == before  # a refusal writes nothing


def test_an_empty_configuration_difference_says_so():
    metrics = {"model": {"accuracy": 0.5, "log_loss": 1.0}, "config": {"a": 1}}
    text = render_comparison({"r1": metrics, "r2": metrics})
    assert "The runs share one configuration." in text
    assert "Equity curves" not in text
