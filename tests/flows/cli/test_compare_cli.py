"""``updown report --compare``: refusals exit 2 naming the id; a page is written and its path printed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.storage.layout import RUN_PREDICTIONS, DataRoot
from flows.cli.commands import main


def _run(root: DataRoot, run_id: str, units: int) -> None:
    """A finished run folder with the files the comparison reads (hand-written, tiny)."""
    folder = root.backtest_run(run_id)
    folder.mkdir(parents=True)
    (folder / RUN_PREDICTIONS).write_bytes(b"")  # marks the run finished; the page never reads it
    metrics = {
        "run_id": run_id, "config": {"model": {"units": [units]}}, "trials": {"n_trials": 2},
        "model": {"accuracy": 0.4, "log_loss": 1.05},
        "baselines": {"class_prior": {"accuracy": 0.38, "log_loss": 1.09}},
    }  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    dates = pd.bdate_range("2024-01-01", periods=30)
    pd.DataFrame({"date": dates, "long_short_net": [0.001 * units / 8] * 30}).to_parquet(folder / "equity.parquet")


def test_compare_writes_one_page_and_prints_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root = DataRoot(tmp_path)
    _run(root, "run-a", 8)
    _run(root, "run-b", 16)
    assert main(["report", "--data-root", str(tmp_path), "--compare", "run-a", "run-b"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.parent == root.backtest_dir
    assert path.name.startswith("compare-")
    text = path.read_text(encoding="utf-8")
    assert "<tr><td>model.units</td><td>[8]</td><td>[16]</td></tr>" in text
    assert "<tr><td>model log-loss</td><td>1.050</td><td>1.050</td></tr>" in text
    assert root.finished_runs() == ["run-a", "run-b"]
    out = tmp_path / "elsewhere.html"
    assert main(["report", "--data-root", str(tmp_path), "--compare", "run-b", "run-a", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert "<th>run-b</th><th>run-a</th>" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("ids", "message"),
    [(["run-a", "nope"], "run_id='nope'"), (["run-a"], "two or more"), (["run-a", "Bad/Id"], "run_id='Bad/Id'")],
)
def test_compare_refuses_unknown_or_single_ids_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ids: list[str], message: str
):
    _run(DataRoot(tmp_path), "run-a", 8)
    assert main(["report", "--data-root", str(tmp_path), "--compare", *ids]) == 2
    err = capsys.readouterr().err
    assert err.startswith("updown report: error:")
    assert message in err
    assert not list((tmp_path / "reports" / "backtest").glob("compare-*"))
