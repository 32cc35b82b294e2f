"""A hard kill of ``updown`` leaves no Prefect server behind (issue 19, point 5).

The CLI runs a tiny backtest against Prefect's temporary server; once that server answers on its
port, the CLI gets SIGKILL (no ``atexit`` hook runs, as with the OOM killer). The server must be
gone within a few seconds. Processes are found by a marker in their environment, which the server
inherits from the CLI. Linux only (it reads ``/proc``). About 10 s: the CLI's start-up and the
server's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flows.server_guard import guarded_command

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")

MARKER = "UPDOWN_ORPHAN_TEST"


def _marked(token: str) -> dict[int, list[str]]:
    """``{pid: command line}`` of every live process whose environment holds ``MARKER=token``."""
    needle = f"{MARKER}={token}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State"))
                if "Z" not in state.split()[1]:  # a zombie is dead, only not yet reaped
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, StopIteration):
            continue
    return found


def _port(cmdline: list[str]) -> int | None:
    return int(cmdline[cmdline.index("--port") + 1]) if "--port" in cmdline else None


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None


def test_guarded_command_prefixes_only_prefects_uvicorn_command():
    uvicorn = [sys.executable, "-m", "uvicorn", "--port", "8123"]
    assert guarded_command(uvicorn, parent=42) == [
        sys.executable,
        "-m",
        "flows.server_guard",
        "42",
        "uvicorn",
        "--port",
        "8123",
    ]
    assert guarded_command(["git", "status"], parent=42) == ["git", "status"]


@pytest.mark.slow
def test_sigkill_of_the_cli_leaves_no_prefect_server(tmp_path):
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({MARKER: token, "PREFECT_HOME": str(tmp_path / "prefect"), "UPDOWN_DATA_ROOT": str(tmp_path / "data")})
    cli = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "backtest", "--source", "synthetic:tickers=2,days=300,seed=1",
         "--epochs", "1", "--units", "4", "--timesteps", "5"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def serving() -> int | None:
            servers = [c for pid, c in _marked(token).items() if pid != cli.pid and "uvicorn" in c]
            port = _port(servers[0]) if servers else None
            return port if port is not None and _answers(port) else None

        port = _wait(serving, timeout=120)
        assert port is not None, "the temporary Prefect server never answered"
        assert cli.poll() is None, "the CLI ended before it could be killed"
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=10)
        gone = _wait(lambda: not _marked(token), timeout=10)
        left = _marked(token)
        assert gone, f"processes outlived the killed CLI: {left}"
        assert not left
        assert not _answers(port)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        for pid in _marked(token):  # never leak a server, even when the test fails
            os.kill(pid, signal.SIGKILL)
