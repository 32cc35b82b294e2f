"""A real ``prefect server start`` on a free loopback port, the deployments served against it by
``updown serve``, the daily deployment triggered with the documented ``prefect deployment run``,
``prefect.yaml``'s deployments registered next to the served ones, and the shipped automation
created with the documented commands (docs/operations.md; tests/flows/test_doc_commands.py checks
that each documented command for a real server is run here). Everything stays on 127.0.0.1, in
tmp_path and in the server's own database.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from features.dataset import DatasetConfig
from features.prices.sources import get_source
from models.serving.predictions import read_daily
from models.serving.registry import save_model, set_champion
from models.serving.scoring import train_production_model
from tests.support import TINY_MODEL, TINY_TRAIN

pytestmark = pytest.mark.slow

SOURCE = "synthetic:tickers=4,days=450,seed=2,signal=1.0"
REPO = Path(__file__).resolve().parents[2]
SERVER_START_S = 90
RUN_S = 150


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt the process group (Prefect shuts down cleanly on SIGINT), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``prefect server start`` with its own home and SQLite database; yields (api url, env)."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "UPDOWN_DATA_ROOT": str(tmp_path / "data"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # `updown`, `prefect`
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited with {proc.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after {SERVER_START_S} s:\n{_tail(log)}")
            time.sleep(0.5)
        yield api, env
    finally:
        _stop(proc)


def _sh(line: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    """Run one documented command line in bash; fail with its output unless it exits 0."""
    done = subprocess.run(
        ["bash", "-c", line], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _wait(client: Any, run_id: Any, log: Path) -> Any:
    deadline = time.monotonic() + RUN_S
    while True:
        run = client.read_flow_run(run_id)
        if run.state is not None and run.state.is_final():
            return run
        if time.monotonic() > deadline:
            pytest.fail(f"run {run.name} not finished after {RUN_S} s (state {run.state}):\n{_tail(log)}")
        time.sleep(1)


def _run_documented(client: Any, line: str, env: dict[str, str], cwd: Path, log: Path) -> Any:
    printed = _sh(line, env, cwd)
    match = re.search(r"UUID: ([0-9a-f-]{36})", printed)
    assert match, printed
    return _wait(client, match.group(1), log)


def test_served_deployments_run_documented_commands(server: tuple[str, dict[str, str]], tmp_path: Path):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api, env = server
    root = tmp_path / "data"
    prices = get_source(SOURCE).fetch()
    prices = prices[prices["date"] <= "2011-06-30"].reset_index(drop=True)
    fitted, meta = train_production_model(prices, DatasetConfig(timesteps=8), TINY_MODEL, TINY_TRAIN, verbose=0)
    model_id = save_model(root, fitted, meta)
    set_champion(root, model_id, reason="test")

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serving = subprocess.Popen(
            ["updown", "serve", "--source", SOURCE, "--data-root", str(root)], env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
        )  # fmt: skip
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            deadline = time.monotonic() + RUN_S
            deployments: dict[str, Any] = {}
            while len(deployments) < 3:
                if serving.poll() is not None:
                    pytest.fail(f"serve exited with {serving.returncode}:\n{_tail(log)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"deployments not served after {RUN_S} s:\n{_tail(log)}")
                deployments = {f"{d.name}": d for d in client.read_deployments()}
                time.sleep(1)
            crons = {
                name: [(s.schedule.cron, s.schedule.timezone) for s in d.schedules] for name, d in deployments.items()
            }
            assert crons == {
                "daily": [("30 17 * * 1-5", "America/New_York")],
                "weekly-retrain": [("0 6 * * 6", "America/New_York")],
                "backtest": [],
            }
            limits = {
                n: d.global_concurrency_limit and d.global_concurrency_limit.limit for n, d in deployments.items()
            }
            assert limits == {"daily": 1, "weekly-retrain": 1, "backtest": None}

            # the documented on-demand run, literally (docs/operations.md uses another date)
            run = _run_documented(
                client, "prefect deployment run 'daily/daily' --param as_of=2011-09-01", env, tmp_path, log
            )
            assert run.state.type == StateType.COMPLETED, f"{run.state}\n{_tail(log)}"
            assert run.name == "daily-2011-09-01"
            # a Saturday: nothing published, and the run list says so
            run = _run_documented(
                client, "prefect deployment run 'daily/daily' --param as_of=2011-09-03", env, tmp_path, log
            )
            assert (run.state.type, run.state.name, run.name) == (StateType.COMPLETED, "Skipped", "daily-2011-09-03")

            # prefect.yaml's deployments register next to the served ones without touching them
            _sh("prefect work-pool create updown --type process", env, tmp_path)
            _sh("prefect deploy --all", env, REPO, timeout=300)
            after = {(d.name, str(d.flow_id)): d for d in client.read_deployments()}
            names = sorted(name for name, _ in after)
            assert names == sorted(["daily", "weekly-retrain", "backtest", "daily-worker", "weekly-retrain-worker",
                                    "backtest-worker"])  # fmt: skip
            served_daily = next(d for (name, _), d in after.items() if name == "daily")
            assert served_daily.parameters == deployments["daily"].parameters
            assert served_daily.parameters["data_root_dir"] == str(root)
            worker_daily = next(d for (name, _), d in after.items() if name == "daily-worker")
            assert worker_daily.flow_id == served_daily.flow_id
            assert worker_daily.parameters == {"max_staleness_days": 3}
            assert worker_daily.global_concurrency_limit.limit == 1

            # the shipped automation, created with the documented commands and a real notification block
            hook = CustomWebhookNotificationBlock(name="updown-alerts", url="http://127.0.0.1:9/updown-alerts")
            block_id = hook.save("updown-alerts")
            shutil.copytree(REPO / "flows" / "automations", tmp_path / "flows" / "automations")
            listed = _sh("prefect block ls", {**env, "COLUMNS": "300"}, tmp_path)  # wide: names not cut
            assert str(block_id) in listed
            assert "updown-alerts" in listed
            alert_env = {**env, "BLOCK_ID": str(block_id)}
            _sh('sed "s/NOTIFICATION_BLOCK_ID/$BLOCK_ID/" flows/automations/daily-failed.yaml > daily-failed.yaml',
                alert_env, tmp_path)  # fmt: skip
            _sh("prefect automation create --from-file daily-failed.yaml", alert_env, tmp_path)
            (automation,) = client.read_automations_by_name("updown daily run failed")
            assert automation.enabled
            assert [a.block_document_id for a in automation.actions] == [block_id]
    finally:
        _stop(serving)

    published = read_daily(root)
    assert list(published["ticker"]) == ["SYN00", "SYN01", "SYN02", "SYN03"]
    assert (published["date"] == pd.Timestamp("2011-09-01")).all()
    assert (published["model_id"] == model_id).all()
