"""Settings shared by the CLI and the flows, importable without Prefect or Keras (fast)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from features.storage.remote import is_url

DEFAULT_DATA_ROOT = "data"
DEFAULT_SOURCE = "sample"

# What each flow reads from a remote data root (folders, files or globs relative to the root). Of
# the registry only the metadata and the champion pointer; flows.common.pull_root adds the
# champion's own folder, so a fresh machine does not download every model ever trained.
PRICES_STATE = ("prices", "events")
CHAMPION_POINTER = "models/champion.json"
TRAIN_STATE = (*PRICES_STATE, "models/*/metadata.json", CHAMPION_POINTER)
DAILY_STATE = (*TRAIN_STATE, "reports/daily", "reports/settled", "reports/scorecard.parquet")
BACKTEST_STATE = (*PRICES_STATE, "reports/backtest/trials.json")


def root_spec(value: str | Path | None = None) -> str:
    """The data root as given: the argument, else ``$UPDOWN_DATA_ROOT``, else ``./data``.

    A URL (``s3://bucket/prefix``: see :mod:`features.storage.remote`) is returned as it is; a local path
    is made absolute, so a deployment pins it independently of the serving process's directory.
    """
    text = str(value or os.environ.get("UPDOWN_DATA_ROOT") or DEFAULT_DATA_ROOT)
    if is_url(text):
        return text.rstrip("/")
    _, sep, rest = text.partition("://")
    return str(Path(rest if sep else text).expanduser().resolve())


def default_source() -> str:
    """``$UPDOWN_SOURCE`` or ``sample``."""
    return os.environ.get("UPDOWN_SOURCE") or DEFAULT_SOURCE


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
