"""A real ``prefect server start`` on a free loopback port, the deployments served against it,
the daily deployment triggered through the API. Everything stays on 127.0.0.1 and in tmp_path.
"""

from __future__ import annotations

import os
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
from support import TINY_MODEL, TINY_TRAIN

from features.dataset import DatasetConfig
from features.sources import get_source
from models.registry import save_model, set_champion
from models.reports import read_daily
from models.scoring import train_production_model

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


def test_served_daily_deployment_publishes_a_partition(server: tuple[str, dict[str, str]], tmp_path: Path):
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
    code = f"from flows.deployments import serve; serve(source={SOURCE!r}, data_root_dir={str(root)!r})"
    with open(log, "wb") as out:
        serving = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=REPO,
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

            daily = deployments["daily"]
            run = client.create_flow_run_from_deployment(daily.id, parameters={"as_of": "2011-09-01"})
            while True:
                state = client.read_flow_run(run.id).state
                if state is not None and state.is_final():
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"daily run not finished after {RUN_S} s (state {state}):\n{_tail(log)}")
                time.sleep(1)
            assert state.type == StateType.COMPLETED, f"{state}\n{_tail(log)}"
    finally:
        _stop(serving)

    published = read_daily(root)
    assert list(published["ticker"]) == ["SYN00", "SYN01", "SYN02", "SYN03"]
    assert (published["date"] == pd.Timestamp("2011-09-01")).all()
    assert (published["model_id"] == model_id).all()
