import base64
import html
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.prices.sources.synthetic import SyntheticMarket
from models.evaluation.metrics import evaluate_predictions
from models.evaluation.strategy import backtest_strategy
from models.reporting.html_report import fmt, png_data_uri, render_report, write_report
from models.reporting.plots import plot_confusion_matrix


class Collector(HTMLParser):
    """Tags with their attributes, and the text of every table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    prices = SyntheticMarket(tickers=3, days=160, seed=4).fetch()
    rng = np.random.default_rng(1)
    preds = prices.loc[prices["date"] < prices["date"].iloc[140], ["date", "ticker"]].reset_index(drop=True)
    n = len(preds)
    probs = rng.dirichlet([3, 3, 3], n)
    codes = rng.integers(0, 3, n)
    preds = preds.assign(
        p_down=probs[:, 0],
        p_flat=probs[:, 1],
        p_up=probs[:, 2],
        predicted=np.array(["down", "flat", "up"], dtype=object)[probs.argmax(axis=1)],
        label=np.array(["down", "flat", "up"], dtype=object)[codes],
        forward_return=rng.normal(0, 0.02, n),
        fold=np.repeat([0, 1], [n // 2, n - n // 2]).astype("int32"),
    )
    baselines = {
        "class_prior": np.tile([0.3, 0.4, 0.3], (n, 1)),
        "<script>alert(1)</script>": np.tile([0.0, 1.0, 0.0], (n, 1)),
    }
    evaluation = evaluate_predictions(preds, baselines, horizon=5)
    strategy = backtest_strategy(preds, prices, lag=1, horizon=5, n_boot=50).to_json()
    png = plot_confusion_matrix(evaluation["model"]["confusion_matrix"], tmp_path_factory.mktemp("img") / "cm.png")
    folds = [
        {"fold": 0, "test_start": "2010-01-04", "test_end": "2010-03-31"},
        {"fold": 1, "test_start": "2010-04-01", "test_end": "2010-06-30"},
    ]
    html_text = render_report(
        evaluation,
        strategy=strategy,
        folds=folds,
        images={"confusion": png},
        title="Backtest <run 1>",
        run_info={"run_id": "abc", "tickers": ["SYN00", "SYN01", "SYN02"], "versions": {"numpy": "9.9"}},
    )
    return evaluation, strategy, png, html_text


def test_report_is_self_contained_with_embedded_png(run):
    _, _, png, html_text = run
    parsed = Collector()
    parsed.feed(html_text)
    assert html_text.startswith("<!DOCTYPE html>")
    names = [t for t, _ in parsed.tags]
    assert "script" not in names
    assert "link" not in names
    assert "http://" not in html_text
    assert "https://" not in html_text
    images = [a for t, a in parsed.tags if t == "img"]
    assert len(images) == 1
    src = images[0]["src"] or ""
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) == png.read_bytes()
    assert "&lt;script&gt;" in html_text  # names are escaped, never injected
    assert "<title>Backtest &lt;run 1&gt;</title>" in html_text


def test_report_shows_the_verdict_headline_strategy_and_folds(run):
    evaluation, strategy, _, html_text = run
    parsed = Collector()
    parsed.feed(html_text)
    assert evaluation["has_edge"] is False
    assert 'class="verdict noedge"' in html_text
    assert "No significant edge" in html_text
    cells = parsed.cells
    model_row = cells.index("model", cells.index("balanced acc."))
    assert cells[model_row + 1] == f"{100 * evaluation['model']['accuracy']:.1f}%"
    assert cells[model_row + 5] == f"{evaluation['model']['log_loss']:.3f}"
    hard_row = cells.index("<script>alert(1)</script>")
    assert cells[hard_row + 5] == "n/a"  # a hard baseline has no log-loss
    assert cells[hard_row + 8] == "DM on accuracy"
    assert "2010-01-04 to 2010-03-31" in cells
    sharpe_row = cells.index("Sharpe (annualised)")
    assert cells[sharpe_row + 1] == f"{strategy['metrics']['long_short']['sharpe']:.3f}"
    assert cells[cells.index("cost (bps)") :].count("20.0") == 1
    assert "Too few tickers for a meaningful IC" in html_text
    assert cells[cells.index("run") + 1] == "abc"
    assert cells[cells.index("universe") + 1] == "3 tickers: SYN00, SYN01, SYN02"
    assert "<details><summary>full configuration and versions</summary>" in html_text
    assert cells[cells.index("class prior") + 9] == fmt(evaluation["comparisons"]["class_prior"]["p_value"], "p")


def test_format_and_write(tmp_path: Path):
    assert fmt(None) == "n/a"
    assert fmt(float("nan"), "pct") == "n/a"
    assert fmt(0.1234, "pct") == "12.3%"
    assert fmt(1234, "int") == "1,234"
    assert fmt(True) == "yes"
    assert fmt(2e-9, "p") == "<0.001"
    assert fmt(0.0412, "p") == "0.041"
    target = write_report("<!DOCTYPE html><p>x</p>\n", tmp_path / "report.html")
    assert target.read_text(encoding="utf-8") == "<!DOCTYPE html><p>x</p>\n"
    (tmp_path / "fake.png").write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="PNG"):
        png_data_uri(tmp_path / "fake.png")
    assert pd.Series([p.name for p in tmp_path.iterdir()]).isin(["report.html", "fake.png"]).all()


def test_report_shows_both_verdicts_side_by_side_with_the_trials(run):
    evaluation, strategy, _, _ = run
    verdicts = evaluation["verdicts"]
    trials = {"n_trials": 7, "spa_p_value": 0.31, "reality_check_p_value": 0.52, "spa_dates": 120,
              "spa_configurations": 7}  # fmt: skip
    with_trials = {
        **evaluation,
        "verdicts": {k: {**v, "trials": trials} for k, v in verdicts.items()},
    }
    html_text = render_report(with_trials, strategy=strategy)
    parsed = Collector()
    parsed.feed(html_text)
    assert html_text.index("Probabilistic verdict (log-loss)") < html_text.index("Directional verdict")
    assert html_text.count("7 configurations tried on this universe") == 2
    assert "SPA p=0.310, Reality Check p=0.520 (120 shared dates)" in html_text
    assert html.escape(verdicts["directional"]["verdict_lines"][0]) in html_text
    cells = parsed.cells
    hit = cells.index("DM p") - 1
    model_row = cells.index("model", hit)
    assert cells[model_row + 1] == fmt(verdicts["directional"]["model_hit_rate"], "pct")
    prior_row = cells.index("class prior", hit)
    comparison = verdicts["directional"]["comparisons"]["class_prior"]
    assert cells[prior_row + 2 : prior_row + 4] == [fmt(comparison["p_value"], "p"), fmt(comparison["p_holm"], "p")]
    assert cells[cells.index("beta to buy and hold") + 1] == fmt(strategy["metrics"]["long_short"]["beta"])
    assert "DSR deflates for 1 configuration(s)" in html_text


def test_samples_dropped_for_cut_label_windows_are_said_at_the_top(run):
    from models.reporting.run_folder import _notes

    evaluation = run[0]
    notes = _notes({"cut_label_windows": {"n": 9, "n_test": 4, "tickers": ["AAA", "BBB"], "policy": "dropped"}})
    assert notes == [
        "4 test samples were dropped because a halt or the end of a ticker's data cut their label window "
        "(AAA, BBB): the figures below leave them out."
    ]
    page = render_report(evaluation, notes=notes)
    assert page.index('<p class="note">4 test samples were dropped') < page.index("At a glance")
    assert _notes({"cut_label_windows": {"n": 3, "n_test": 0, "tickers": []}}) == []
    assert _notes(None) == []
