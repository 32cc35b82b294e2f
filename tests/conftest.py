"""Test-session guards and shared fixtures.

* No test may reach the network: connections to anything but loopback raise.
* One Prefect test harness (a temporary local API on loopback) serves the whole session,
  started only by the tests that run real flows.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests call flows through ``.fn()``, where tasks run outside a flow run; Prefect would warn (an
# error under -W error) that their logs have no flow run to go to. Those logs still reach pytest.
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# Mirrors of remote (fsspec) data roots go to a throwaway folder, never to ~/.cache/updown.
os.environ["UPDOWN_MIRROR_DIR"] = tempfile.mkdtemp(prefix="updown-test-mirrors-")

_LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}
_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


class NetworkBlockedError(OSError):
    """Raised when a test tries to reach a non-loopback address."""


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0] if isinstance(address, tuple) else address
        if host not in _LOCAL:
            raise NetworkBlockedError(f"tests must not touch the network (tried {address!r})")
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if host not in _LOCAL and host is not None:
        raise socket.gaierror(socket.EAI_NONAME, f"tests must not touch the network (looked up {host!r})")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def pytest_sessionstart(session: pytest.Session) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API for real flow runs (started once, ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root, also set as ``UPDOWN_DATA_ROOT``."""
    root = tmp_path / "data"
    monkeypatch.setenv("UPDOWN_DATA_ROOT", str(root))
    return root
