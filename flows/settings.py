"""Settings shared by the CLI and the flows, importable without Prefect or Keras (fast)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEFAULT_DATA_ROOT = "data"
DEFAULT_SOURCE = "sample"


def data_root(value: str | Path | None = None) -> Path:
    """The data root: the argument, else ``$UPDOWN_DATA_ROOT``, else ``./data``."""
    return Path(value or os.environ.get("UPDOWN_DATA_ROOT") or DEFAULT_DATA_ROOT).expanduser().resolve()


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
