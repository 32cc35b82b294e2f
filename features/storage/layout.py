"""The layout of a data root: every path under it, spelled here and nowhere else.

::

    <root>/prices/<TICKER>.parquet                          canonical prices of one ticker (PriceStore)
    <root>/prices/.locks/<TICKER>.lock                      its write lock
    <root>/events/<TICKER>.parquet                          its dividends and splits
    <root>/models/<model id>/model.keras, metadata.json     one stored model and its card (the registry)
    <root>/models/.<model id>.<random>/                     a model being written (renamed into place)
    <root>/models/champion.json                             the model the daily flow scores with
    <root>/reports/daily/date=YYYY-MM-DD/predictions.parquet   one published day (hive partition)
    <root>/reports/settled/date=YYYY-MM-DD/settled.parquet     the same rows once their horizon elapsed
    <root>/reports/scorecard.parquet                        the live scorecard, one row per model
    <root>/reports/backtest/<run id>/                       one finished backtest run (predictions.parquet...)
    <root>/reports/backtest/.<run id>.partial/              a run still being written (renamed into place)
    <root>/reports/backtest/trials.json                     the trials ledger (configurations tried per data)
    <root>/cache/folds/<key[:2]>/<key>/                     one fold cache entry (per machine, never synced)
    <root>/cache/yfinance/                                  yfinance's own caches (time zones, cookie)
    <root>/quarantine/<path>.<UTC time>.corrupt             a corrupt file moved aside (features.storage.quarantine)

Inside a backtest run folder, each walk-forward block leaves ``folds/seed=<s>/fold=<k>.*``
(:func:`block_stem`).

Every name that becomes a path part is validated first, so no argument can point outside the root:
tickers by :func:`features.frame.validate_ticker`, model and run ids by :func:`validate_id`, fold
cache keys by :func:`validate_key`. The relative forms (:data:`PRICES`, :data:`MODEL_CARDS`,
:func:`model_folder`...) are what a remote root's mirror pulls and pushes
(:mod:`features.storage.remote`). Imports only :mod:`features.frame`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from features.frame import validate_ticker

# Paths relative to the root (POSIX, as a remote root's pull/push take them); ``*`` stays in one folder.
PRICES = "prices"
EVENTS = "events"
MODELS = "models"
MODEL_CARDS = "models/*/metadata.json"
CHAMPION = "models/champion.json"
REPORTS = "reports"
DAILY = "reports/daily"
SETTLED = "reports/settled"
SCORECARD = "reports/scorecard.parquet"
BACKTEST = "reports/backtest"
TRIALS_FILE = "trials.json"
TRIAL_LOSSES_DIR = "trial_losses"  # beside the ledger: per-date loss differences of each trial
TRIALS = f"{BACKTEST}/{TRIALS_FILE}"
FINISHED_RUNS = "reports/backtest/*/predictions.parquet"
CACHE = "cache"
FOLD_CACHE = "cache/folds"
YFINANCE_CACHE = "cache/yfinance"
QUARANTINE = "quarantine"

MODEL_FILE = "model.keras"
"""A stored model's weights and architecture (Keras 3 format)."""
CARD_FILE = "metadata.json"
"""A stored model's JSON card."""
RUN_PREDICTIONS = "predictions.parquet"
"""A backtest run's stitched predictions: the file whose presence marks the run finished."""
LOCKS = ".locks"

ReportKind = Literal["daily", "settled"]
PARTITION_FILES: dict[str, str] = {"daily": "predictions.parquet", "settled": "settled.parquet"}
_PARTITION_DIRS: dict[str, str] = {"daily": DAILY, "settled": SETTLED}
_DATE_PREFIX = "date="
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_HEX = frozenset("0123456789abcdef")


def validate_id(value: str, *, name: str = "model_id") -> str:
    """Return a model or run id unchanged if it is safe as a folder name, else raise ``ValueError``.

    Safe: 1-64 lowercase letters, digits and ``-``, not starting with ``-`` (``20240102-030405-ab12cd``).

    Raises:
        ValueError: naming ``name`` and echoing the value (``run_id='../../x'``).
    """
    if (
        not isinstance(value, str)
        or not value
        or not set(value) <= _ID_CHARS
        or value.startswith("-")
        or len(value) > 64
    ):
        raise ValueError(f"{name} must be lowercase letters, digits and '-', got {name}={value!r}")
    return value


def validate_key(key: str) -> str:
    """Return a fold cache key (64 lowercase hex digits, a sha256) unchanged, else raise ``ValueError``."""
    if not isinstance(key, str) or len(key) != 64 or not set(key) <= _HEX:
        raise ValueError(f"key must be 64 lowercase hex digits (a sha256), got key={key!r}")
    return key


def model_folder(model_id: str) -> str:
    """``models/<model id>``, relative to the root (validated)."""
    return f"{MODELS}/{validate_id(model_id)}"


def run_predictions(run_id: str | None = None) -> str:
    """``reports/backtest/<run id>/predictions.parquet`` relative to the root; every finished run's when None."""
    return FINISHED_RUNS if run_id is None else f"{BACKTEST}/{validate_id(run_id, name='run_id')}/{RUN_PREDICTIONS}"


def block_stem(run_dir: str | Path, *, seed: int, fold: int) -> Path:
    """``<run_dir>/folds/seed=<seed>/fold=<fold>``: a walk-forward block's files are this stem plus a suffix."""
    return Path(run_dir) / "folds" / f"seed={int(seed)}" / f"fold={int(fold)}"


@dataclass(frozen=True)
class DataRoot:
    """A local data root (a folder; a remote root's local mirror) and every path under it.

    Only builds paths and lists what is there; creates nothing.

    Args:
        path: the root folder.
    """

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def _at(self, relative: str) -> Path:
        return self.path.joinpath(*relative.split("/"))

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` (under the root) relative to it, POSIX style, as a remote root names it."""
        return Path(path).relative_to(self.path).as_posix()

    # -- prices ---------------------------------------------------------------------------

    @property
    def prices_dir(self) -> Path:
        return self._at(PRICES)

    @property
    def events_dir(self) -> Path:
        return self._at(EVENTS)

    def price_file(self, ticker: str) -> Path:
        """``prices/<TICKER>.parquet`` (ticker validated)."""
        return self.prices_dir / f"{validate_ticker(ticker)}.parquet"

    def price_lock(self, ticker: str) -> Path:
        """``prices/.locks/<TICKER>.lock`` (ticker validated)."""
        return self.prices_dir / LOCKS / f"{validate_ticker(ticker)}.lock"

    def events_file(self, ticker: str) -> Path:
        """``events/<TICKER>.parquet`` (ticker validated)."""
        return self.events_dir / f"{validate_ticker(ticker)}.parquet"

    # -- the model registry ---------------------------------------------------------------

    @property
    def models_dir(self) -> Path:
        return self._at(MODELS)

    @property
    def champion(self) -> Path:
        """``models/champion.json``, the pointer to the champion model."""
        return self._at(CHAMPION)

    def model_dir(self, model_id: str) -> Path:
        """``models/<model id>`` (id validated)."""
        return self._at(model_folder(model_id))

    def model_file(self, model_id: str) -> Path:
        return self.model_dir(model_id) / MODEL_FILE

    def model_card(self, model_id: str) -> Path:
        return self.model_dir(model_id) / CARD_FILE

    # -- daily and settled reports ----------------------------------------------------------

    def partitions_dir(self, kind: ReportKind) -> Path:
        """``reports/daily`` or ``reports/settled``."""
        if kind not in _PARTITION_DIRS:
            raise ValueError(f"kind must be one of {sorted(_PARTITION_DIRS)} for a partition, got kind={kind!r}")
        return self._at(_PARTITION_DIRS[kind])

    def partition(self, kind: ReportKind, day: dt.date) -> Path:
        """``reports/<kind>/date=YYYY-MM-DD/<predictions|settled>.parquet``."""
        return self.partitions_dir(kind) / f"{_DATE_PREFIX}{day:%Y-%m-%d}" / PARTITION_FILES[kind]

    def partition_days(self, kind: ReportKind) -> list[str]:
        """The ``YYYY-MM-DD`` of every partition file of ``kind`` present, unparsed and unsorted.

        A ``date=`` folder without the partition file (empty, or holding only a killed writer's
        hidden temp file) is no partition: it is not listed.
        """
        folder = self.partitions_dir(kind)
        if not folder.is_dir():
            return []
        return [
            p.parent.name.removeprefix(_DATE_PREFIX)
            for p in folder.glob(f"{_DATE_PREFIX}*/{PARTITION_FILES[kind]}")
            if p.is_file()
        ]

    @property
    def scorecard(self) -> Path:
        return self._at(SCORECARD)

    # -- backtest runs --------------------------------------------------------------------

    @property
    def backtest_dir(self) -> Path:
        """``reports/backtest``, the folder of all runs (and of the trials ledger)."""
        return self._at(BACKTEST)

    def backtest_run(self, run_id: str) -> Path:
        """``reports/backtest/<run id>`` (id validated)."""
        return self.backtest_dir / validate_id(run_id, name="run_id")

    def backtest_partial(self, run_id: str) -> Path:
        """``reports/backtest/.<run id>.partial``: the run folder while it is written (hidden: never synced)."""
        return self.backtest_dir / f".{validate_id(run_id, name='run_id')}.partial"

    def backtest_predictions(self, run_id: str) -> Path:
        return self._at(run_predictions(run_id))

    def finished_runs(self) -> list[str]:
        """Ids of the finished runs (those holding ``predictions.parquet``), sorted (oldest first)."""
        folder = self.backtest_dir
        if not folder.is_dir():
            return []
        return sorted(
            p.name for p in folder.iterdir() if not p.name.startswith(".") and (p / RUN_PREDICTIONS).is_file()
        )

    @property
    def trials_ledger(self) -> Path:
        return self._at(TRIALS)

    # -- caches (per machine) -------------------------------------------------------------

    @property
    def fold_cache_dir(self) -> Path:
        return self._at(FOLD_CACHE)

    def fold_cache_entry(self, key: str) -> Path:
        """``cache/folds/<key[:2]>/<key>`` (key validated)."""
        return self.fold_cache_dir / validate_key(key)[:2] / key

    @property
    def yfinance_cache(self) -> Path:
        return self._at(YFINANCE_CACHE)

    # -- quarantine (per machine) ---------------------------------------------------------

    @property
    def quarantine_dir(self) -> Path:
        return self._at(QUARANTINE)

    def quarantine_file(self, path: str | os.PathLike[str], *, now: dt.datetime) -> Path:
        """``quarantine/<path under the root>.<UTC time>.corrupt``: where a corrupt ``path`` is moved.

        Raises:
            ValueError: ``path`` is not under the root.
        """
        rel = self.relative(path)
        stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return self.quarantine_dir.joinpath(*rel.split("/")).with_name(f"{Path(rel).name}.{stamp}.corrupt")
