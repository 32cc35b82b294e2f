"""Settings shared by the CLI and the flows, importable without Prefect or Keras (fast).

The ``UPDOWN_*`` variables are read by :class:`features.settings.Settings`; the paths a flow pulls
from a remote root are spelled by :mod:`features.storage.layout`. This module adds what only the
flows need: which of those paths each flow reads, and the Prefect variables the CLI sets.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from features.settings import DEFAULT_DATA_ROOT, DEFAULT_SOURCE, Settings
from features.storage import layout
from features.storage.remote import is_url

__all__ = [
    "BACKTEST_STATE",
    "CHAMPION_POINTER",
    "DAILY_STATE",
    "DEFAULT_DATA_ROOT",
    "DEFAULT_SOURCE",
    "MODELS_STATE",
    "PREFECT_DEFAULTS",
    "PRICES_STATE",
    "SERVER_STARTUP_TIMEOUT_S",
    "SERVER_STARTUP_TIMEOUT_VAR",
    "TRAIN_STATE",
    "apply_prefect_defaults",
    "code_version",
    "default_source",
    "default_task_runner",
    "root_spec",
]

# What each flow reads from a remote data root (folders, files or globs relative to the root, as
# features.storage.layout spells them). Of the registry only the metadata and the champion pointer;
# flows.common.pull_root adds the champion's own folder, so a fresh machine does not download every
# model ever trained.
PRICES_STATE = (layout.PRICES, layout.EVENTS)
CHAMPION_POINTER = layout.CHAMPION
MODELS_STATE = (layout.MODEL_CARDS, CHAMPION_POINTER)
TRAIN_STATE = (*PRICES_STATE, *MODELS_STATE)
DAILY_STATE = (*TRAIN_STATE, layout.DAILY, layout.SETTLED, layout.SCORECARD)
BACKTEST_STATE = (*PRICES_STATE, layout.TRIALS)

# Prefect's temporary server (used when PREFECT_API_URL is unset) must answer within this many
# seconds; Prefect's own default, 20 s, is too short on a busy 2-core machine.
SERVER_STARTUP_TIMEOUT_VAR = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
SERVER_STARTUP_TIMEOUT_S = 180
PREFECT_DEFAULTS: dict[str, str] = {
    # the temporary server would try to send usage telemetry, which fails offline
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    SERVER_STARTUP_TIMEOUT_VAR: str(SERVER_STARTUP_TIMEOUT_S),
}
"""Prefect variables the ``updown`` command sets unless the environment already does (docs/operations.md)."""


def apply_prefect_defaults() -> None:
    """Set :data:`PREFECT_DEFAULTS` where the environment leaves them unset.

    Prefect reads them once, when it is first imported (only by commands that run a flow), so this runs before.
    """
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def root_spec(value: str | Path | None = None) -> str:
    """The data root as given: the argument, else ``$UPDOWN_DATA_ROOT``, else ``./data``.

    A URL (``s3://bucket/prefix``: see :mod:`features.storage.remote`) is returned as it is; a local path
    is made absolute, so a deployment pins it independently of the serving process's directory.
    """
    text = str(value or Settings.from_env().data_root)
    if is_url(text):
        return text.rstrip("/")
    _, sep, rest = text.partition("://")
    return str(Path(rest if sep else text).expanduser().resolve())


def default_source() -> str:
    """``$UPDOWN_SOURCE`` or ``sample``."""
    return Settings.from_env().source


def default_task_runner() -> str:
    """``$UPDOWN_TASK_RUNNER`` or ``local``: the backtest flow's task runner spec when none is given."""
    return Settings.from_env().task_runner


def code_version() -> str:
    """The git commit of the code when run from a checkout, else the package version."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        return version("updown")
