"""Every ``UPDOWN_*`` environment variable, read in one place into one frozen :class:`Settings`.

It lives at the bottom of the import graph (``features``, a leaf: it imports nothing from the project)
because the lowest readers are there: the remote root's mirror folder and storage options
(:mod:`features.storage.remote`) and the bundled sample's path (:mod:`features.prices.sources.sample`)
are needed by code that ``models`` calls too (``read_predictions`` on an ``s3://`` root). Passing them
down from ``flows`` instead would thread three arguments through every reader for values nobody sets
per call. The variables are read when a caller asks (:meth:`Settings.from_env`), never at import time,
so a test's ``monkeypatch.setenv`` and a long-lived process's environment are always seen.

================================ ============================ ====================================================
variable                         default                      meaning
================================ ============================ ====================================================
``UPDOWN_DATA_ROOT``             ``./data``                   data root: a folder or an fsspec URL (``s3://...``)
``UPDOWN_SOURCE``                ``sample``                   default price source spec of every command and flow
``UPDOWN_TASK_RUNNER``           ``local``                    where the backtest flow's blocks run, when the flow
                                                              starts (``threads:N``, ``dask``, ``dask:N``,
                                                              ``dask:tcp://host:port``; ``--task-runner`` wins)
``UPDOWN_MIRROR_DIR``            ``~/.cache/updown/mirrors``  where local mirrors of remote data roots live
``UPDOWN_STORAGE_OPTIONS``       ``{}``                       JSON object passed to the fsspec filesystem
``UPDOWN_SAMPLE_PATH``           ``data/sample/prices.parquet``  the ``sample`` source's file
                                 next to the source tree
================================ ============================ ====================================================

An empty variable counts as unset. docs/operations.md ("Environment") lists these with the variables
updown sets for Prefect and TensorFlow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_DATA_ROOT = "data"
DEFAULT_SOURCE = "sample"
DEFAULT_TASK_RUNNER = "local"
DEFAULT_MIRROR_DIR = Path("~/.cache/updown/mirrors")
DEFAULT_SAMPLE_PATH = Path(__file__).resolve().parents[1] / "data" / "sample" / "prices.parquet"

VARIABLES: dict[str, str] = {
    "UPDOWN_DATA_ROOT": "data_root",
    "UPDOWN_SOURCE": "source",
    "UPDOWN_TASK_RUNNER": "task_runner",
    "UPDOWN_MIRROR_DIR": "mirror_dir",
    "UPDOWN_STORAGE_OPTIONS": "storage_options",
    "UPDOWN_SAMPLE_PATH": "sample_path",
}
"""Each variable and the :class:`Settings` field it sets."""


class SettingsError(ValueError):
    """An environment variable holds a value updown cannot use; the message names the variable."""


def _storage_options(text: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"UPDOWN_STORAGE_OPTIONS must be a JSON object, got {text!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise SettingsError(f"UPDOWN_STORAGE_OPTIONS must be a JSON object, got {text!r}")
    return MappingProxyType(value)


@dataclass(frozen=True)
class Settings:
    """What the environment configures (see the module docstring for the variables and defaults).

    Attributes:
        data_root: the data root as given (``UPDOWN_DATA_ROOT``): a path or a URL, not yet resolved.
        source: the default price source spec (``UPDOWN_SOURCE``).
        task_runner: the backtest flow's default task runner spec (``UPDOWN_TASK_RUNNER``).
        mirror_dir: the folder of remote roots' mirrors, ``~`` expanded (``UPDOWN_MIRROR_DIR``).
        storage_options: fsspec filesystem options, read-only (``UPDOWN_STORAGE_OPTIONS``).
        sample_path: the ``sample`` source's Parquet file (``UPDOWN_SAMPLE_PATH``).
    """

    data_root: str = DEFAULT_DATA_ROOT
    source: str = DEFAULT_SOURCE
    task_runner: str = DEFAULT_TASK_RUNNER
    mirror_dir: Path = field(default_factory=lambda: DEFAULT_MIRROR_DIR.expanduser())
    storage_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sample_path: Path = DEFAULT_SAMPLE_PATH

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ``UPDOWN_*`` variable now (from ``environ``, default ``os.environ``).

        Raises:
            SettingsError: naming the variable and echoing its value when it cannot be used.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        defaults = cls()
        storage = get("UPDOWN_STORAGE_OPTIONS")
        mirror, sample = get("UPDOWN_MIRROR_DIR"), get("UPDOWN_SAMPLE_PATH")
        return cls(
            data_root=get("UPDOWN_DATA_ROOT") or defaults.data_root,
            source=get("UPDOWN_SOURCE") or defaults.source,
            task_runner=get("UPDOWN_TASK_RUNNER") or defaults.task_runner,
            mirror_dir=Path(mirror).expanduser() if mirror else defaults.mirror_dir,
            storage_options=_storage_options(storage) if storage else defaults.storage_options,
            sample_path=Path(sample).expanduser() if sample else defaults.sample_path,
        )
