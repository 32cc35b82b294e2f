"""Flows on a remote (fsspec) data root: two "machines" sharing one ``memory://`` root.

Each machine is a mirror folder (``UPDOWN_MIRROR_DIR``); the remote is fsspec's in-process
memory filesystem, so the test needs no network and no credentials. The S3 protocol itself is
checked in tests/features/storage/test_remote.py against moto.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from flows.cli.commands import main
from flows.daily import StalePricesError, daily_flow
from flows.train import train_flow
from models.serving.predictions import read_predictions
from models.serving.registry import champion_id
from tests.support import SYNTHETIC, train_champion

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A remote root holding a tiny champion (uploaded from a local root), removed afterwards."""
    local = tmp_path_factory.mktemp("seed-root")
    train_champion(local)
    fs = fsspec.filesystem("memory")
    base = f"/updown-{uuid.uuid4().hex[:8]}"
    for path in local.rglob("*"):
        if path.is_file():
            fs.pipe(f"{base}/{path.relative_to(local).as_posix()}", path.read_bytes())
    yield f"memory://{base}"
    fs.rm(base, recursive=True)


def _on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, machine: str) -> Path:
    mirrors = tmp_path / machine
    monkeypatch.setenv("UPDOWN_MIRROR_DIR", str(mirrors))
    return mirrors


def _remote_files(url: str) -> dict[str, bytes]:
    fs = fsspec.filesystem("memory")
    base = url.removeprefix("memory://")
    return {name.removeprefix(base + "/"): fs.cat(name) for name in fs.find(base)}


def test_daily_flow_publishes_to_a_remote_root_that_another_machine_reads(
    remote: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    _on(monkeypatch, tmp_path, "machine-a")
    out = daily_flow.fn(as_of="2011-09-01", source=SYNTHETIC, data_root_dir=remote)
    assert out == f"{remote}/reports/daily/date=2011-09-01/predictions.parquet"
    stored = _remote_files(remote)
    assert "reports/daily/date=2011-09-01/predictions.parquet" in stored
    assert {f"prices/SYN0{i}.parquet" for i in range(4)} <= set(stored)
    assert not any(name.startswith(("cache/", ".")) or "/." in name for name in stored)

    # machine B has never seen the root: it reads the signal, publishes the next day, and A sees both
    _on(monkeypatch, tmp_path, "machine-b")
    first = read_predictions(remote)
    assert list(first["date"].unique()) == [pd.Timestamp("2011-09-01")]
    assert len(first) == 4
    daily_flow.fn(as_of="2011-09-02", source=SYNTHETIC, data_root_dir=remote)
    _on(monkeypatch, tmp_path, "machine-a")
    both = read_predictions(remote)
    assert sorted(both["date"].unique()) == [pd.Timestamp("2011-09-01"), pd.Timestamp("2011-09-02")]
    pd.testing.assert_frame_equal(both[both["date"] == "2011-09-01"].reset_index(drop=True), first)

    # the CLI reads the same root
    assert main(["report", "--data-root", remote, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["ticker"] for r in rows} == {f"SYN0{i}" for i in range(4)}

    # a refused run pushes nothing: the remote is exactly as it was
    before = _remote_files(remote)
    with pytest.raises(StalePricesError):
        daily_flow.fn(source=SYNTHETIC, data_root_dir=remote, max_staleness_days=3, settle=False)
    assert _remote_files(remote) == before


def test_train_flow_registers_and_promotes_on_a_remote_root(
    remote: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from features.dataset import DatasetConfig
    from tests.support import TINY_MODEL, TINY_TRAIN

    mirror = _on(monkeypatch, tmp_path, "trainer")
    old = json.loads(_remote_files(remote)["models/champion.json"])["model_id"]
    model_id = train_flow.fn(
        source=SYNTHETIC, end="2011-08-31", dataset=DatasetConfig(timesteps=8),
        model=TINY_MODEL, training=TINY_TRAIN, force=True, data_root_dir=remote,
    )  # fmt: skip
    stored = _remote_files(remote)
    assert {f"models/{model_id}/model.keras", f"models/{model_id}/metadata.json"} <= set(stored)
    assert json.loads(stored["models/champion.json"])["model_id"] == model_id != old
    assert champion_id(next(mirror.iterdir())) == model_id  # the trainer's mirror agrees

    # a fresh machine scoring the day downloads the champion's model, not every model ever trained
    scorer = _on(monkeypatch, tmp_path, "scorer")
    daily_flow.fn(as_of="2011-09-01", source=SYNTHETIC, data_root_dir=remote)
    models = next(scorer.iterdir()) / "models"
    assert (models / model_id / "model.keras").is_file()
    assert (models / old / "metadata.json").is_file()
    assert not (models / old / "model.keras").exists()

    _on(monkeypatch, tmp_path, "reader")
    assert main(["models", "list", "--data-root", remote]) == 0
    listing = capsys.readouterr().out
    assert f"* {model_id}" in listing
    assert old in listing


def test_backtest_flow_publishes_a_finished_run_to_a_remote_root(remote: str, tmp_path: Path, monkeypatch):
    from features.dataset import DatasetConfig
    from flows.backtest import backtest_flow
    from models.backtest.walkforward import WalkForwardConfig
    from tests.support import TINY_MODEL, TINY_TRAIN

    _on(monkeypatch, tmp_path, "backtester")
    out = backtest_flow(
        source=SYNTHETIC, dataset=DatasetConfig(timesteps=8), model=TINY_MODEL, training=TINY_TRAIN,
        walk_forward=WalkForwardConfig(blocks=2), data_root_dir=remote,
    )  # fmt: skip
    run_id = out.rsplit("/", 1)[-1]
    assert out == f"{remote}/reports/backtest/{run_id}"
    stored = _remote_files(remote)
    for name in ("predictions.parquet", "metrics.json", "report.html"):
        assert f"reports/backtest/{run_id}/{name}" in stored
    assert "reports/backtest/trials.json" in stored
    assert not any(name.startswith("cache/") for name in stored)  # the block cache stays on the machine

    _on(monkeypatch, tmp_path, "analyst")
    frame = read_predictions(remote, kind="backtest")
    assert set(frame["fold"]) == {0, 1}
    assert frame["model_id"].str.startswith(run_id).all()


def test_backtest_refuses_a_remote_root_with_workers_on_other_machines(monkeypatch: pytest.MonkeyPatch):
    import flows.backtest
    from flows.runners import task_runner_from

    monkeypatch.setattr(flows.backtest, "_task_runner", lambda: task_runner_from("dask:tcp://10.0.0.5:8786"))
    with pytest.raises(ValueError, match=r"data_root_dir='memory://nowhere' is a URL.*other machines"):
        flows.backtest.backtest_flow.fn(source=SYNTHETIC, data_root_dir="memory://nowhere")
    assert not fsspec.filesystem("memory").exists("/nowhere")
