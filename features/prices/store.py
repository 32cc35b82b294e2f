"""The price store: one Parquet file per ticker under ``<data root>/prices/``.

Layout (spelled by :class:`features.storage.layout.DataRoot`)::

    <root>/prices/<TICKER>.parquet        canonical prices of one ticker (features.frame), by date
    <root>/prices/.locks/<TICKER>.lock    write lock of that ticker (fcntl.flock)
    <root>/events/<TICKER>.parquet        its dividends and splits: date, dividend, split_ratio

File names come from validated tickers, so a name never escapes its folder. Every write holds
the ticker's lock, merges with (or replaces) what is stored, validates the result and
replaces the file atomically (:mod:`features.storage.atomic`): a reader sees the old file or the new one,
and a write that would change nothing leaves the file untouched.

A stored file that cannot be read (truncated, garbage) is named, moved to the root's quarantine
folder (:mod:`features.storage.quarantine`) under the ticker's lock and treated as absent, so the
other tickers are read and the next update fetches that ticker afresh; :attr:`PriceStore.quarantined`
says which. Reads go through
``pyarrow.dataset`` over the requested files with column selection and a date filter, which
prunes row groups by their statistics; files are written in row groups of
:data:`ROW_GROUP_ROWS` rows so that a recent window reads only the last group of each file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import itertools
import logging
import operator
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.dates import DateLike, check_range, parse_date
from features.frame import COLUMNS, PriceDataError, canonicalize, empty_frame, validate_prices
from features.prices.sources.base import canonical_events, empty_events
from features.storage.atomic import atomic_path
from features.storage.layout import DataRoot
from features.storage.quarantine import CorruptFileError, quarantine

_log = logging.getLogger("updown")

# About 16 years of trading days per row group: a recent window (the daily flow's) reads only
# each file's last group, and a full read decodes few groups (measured in docs/prices.md).
ROW_GROUP_ROWS = 4096

PRICE_SCHEMA = pa.schema(
    [
        ("date", pa.timestamp("ns")),
        ("ticker", pa.string()),
        *[(c, pa.float64()) for c in COLUMNS[2:]],
    ]
)
EVENT_FILE_SCHEMA = pa.schema([("date", pa.timestamp("ns")), ("dividend", pa.float64()), ("split_ratio", pa.float64())])


class StoreLockedError(TimeoutError):
    """Another update held a ticker's lock for longer than the caller would wait."""


class PriceStore:
    """Reads and writes canonical prices (and corporate actions) under a data root.

    Args:
        root: The data root (``./data`` by default in the CLI).
        lock_timeout_s: How long a write waits for another update of the same ticker.

    Attributes:
        quarantined: ticker -> what happened to its corrupt price or events file (moved to
            quarantine, or skipped when it could not be moved), for the files this store found.
    """

    def __init__(self, root: str | Path, *, lock_timeout_s: float = 120.0) -> None:
        if not lock_timeout_s >= 0:
            raise ValueError(f"lock_timeout_s must be >= 0 seconds, got lock_timeout_s={lock_timeout_s!r}")
        self.root = Path(root)
        self.layout = DataRoot(self.root)
        self.folder = self.layout.prices_dir
        self.events_folder = self.layout.events_dir
        self.lock_timeout_s = float(lock_timeout_s)
        self.quarantined: dict[str, str] = {}

    # -- paths ------------------------------------------------------------------------------

    def path(self, ticker: str) -> Path:
        """The price file of ``ticker`` (validated)."""
        return self.layout.price_file(ticker)

    def events_path(self, ticker: str) -> Path:
        """The events file of ``ticker`` (validated)."""
        return self.layout.events_file(ticker)

    def lock_path(self, ticker: str) -> Path:
        """The lock file of ``ticker`` (validated)."""
        return self.layout.price_lock(ticker)

    def tickers(self) -> list[str]:
        """Tickers with a stored price file, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.parquet") if not p.name.startswith("."))

    # -- locking ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, ticker: str, *, timeout_s: float | None = None) -> Iterator[None]:
        """Hold ``ticker``'s write lock: exclusive across processes and threads, re-entrant.

        Raises:
            StoreLockedError: when the lock is not free within ``timeout_s`` (default: the
                store's ``lock_timeout_s``), naming the ticker and the lock file.
            CorruptFileError: the lock file or its ``.locks`` folder is a symbolic link (it is
                never followed: it could create or lock a file outside the root).
        """
        wait = self.lock_timeout_s if timeout_s is None else timeout_s
        with _hold(self.lock_path(ticker), ticker=ticker, timeout_s=wait):
            yield

    # -- prices -----------------------------------------------------------------------------

    def write(self, frame: pd.DataFrame) -> dict[str, int]:
        """Merge ``frame`` into the store, ticker by ticker (new rows win on the same date).

        The whole frame is validated before any file is touched; a bad frame raises
        :class:`~features.frame.PriceDataError` and leaves the store as it was.

        Returns:
            Number of rows that were new or changed, per ticker.
        """
        incoming = validate_prices(canonicalize(frame), name="prices to store")
        changed: dict[str, int] = {}
        for ticker, rows in incoming.groupby("ticker", sort=True):
            name = str(ticker)
            with self.lock(name):
                old = self.read([name])
                merged = pd.concat([old, rows], ignore_index=True).drop_duplicates(["ticker", "date"], keep="last")
                changed[name] = self._put(name, canonicalize(merged), old=old, new=rows)
        return changed

    def replace(self, ticker: str, frame: pd.DataFrame) -> int:
        """Make ``frame`` the whole stored history of ``ticker`` (after a full refetch).

        Returns:
            Rows added, changed or removed compared with what was stored (0: file untouched).

        Raises:
            PriceDataError: when ``frame`` breaks the contract or holds another ticker.
        """
        rows = validate_prices(canonicalize(frame), name=f"prices to store for {ticker}")
        others = sorted(set(rows["ticker"]) - {ticker})
        if others:
            raise PriceDataError(f"replace({ticker!r}) got rows of other tickers {others}")
        with self.lock(ticker):
            old = self.read([ticker])
            removed = len(set(old["date"]) - set(rows["date"]))
            return self._put(ticker, rows, old=old, new=rows, removed=removed)

    def _put(self, ticker: str, merged: pd.DataFrame, *, old: pd.DataFrame, new: pd.DataFrame, removed: int = 0) -> int:
        validate_prices(merged, name=str(self.path(ticker)))
        diff = len(new.merge(old, how="left", on=list(COLUMNS), indicator=True).query("_merge == 'left_only'"))
        if diff or removed:
            table = pa.Table.from_pandas(merged, schema=PRICE_SCHEMA, preserve_index=False)
            with atomic_path(self.path(ticker)) as tmp:
                pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        return diff + removed

    def read(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """Canonical prices for ``tickers`` (None = all stored) in an inclusive date range.

        Tickers without a file are skipped; use :meth:`tickers` to see what is stored. A corrupt
        file is quarantined with a warning and skipped (see :attr:`quarantined`).

        Raises:
            ValueError: for a bad ticker or date, or ``start`` after ``end``.
            PriceDataError: when a stored file cannot be read for another reason than its
                content (e.g. permissions), naming the file.
        """
        lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
        check_range(lo, hi)
        names = self.tickers() if tickers is None else tickers
        paths = [p for p in (self.path(t) for t in names) if p.is_file()]
        if not paths:
            return empty_frame()
        table = _in_key_order(self._scan(paths, columns=list(COLUMNS), lo=lo, hi=hi))
        # The schema fixes the canonical dtypes and every file was validated when written, so
        # the frame is canonical as it comes: skipping canonicalize() halves a large read.
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def stored_dates(self, tickers: list[str]) -> dict[str, pd.DatetimeIndex]:
        """The stored dates of each ticker (empty for a ticker without a file), read alone."""
        out = {t: pd.DatetimeIndex([], dtype="datetime64[ns]") for t in tickers}
        paths = [p for p in (self.path(t) for t in tickers) if p.is_file()]
        if paths:
            table = _in_key_order(self._scan(paths, columns=["ticker", "date"], lo=None, hi=None))
            names, dates = table.column("ticker"), table.column("date").to_numpy()
            # Rows come in (ticker, date) order: each ticker is one run, cut where the name changes.
            changes = pc.not_equal(names[1:], names[:-1]).to_numpy(zero_copy_only=False) if len(dates) > 1 else []
            bounds = [0, *(np.flatnonzero(changes) + 1), len(dates)]
            for a, b in itertools.pairwise(bounds):
                out[str(names[a])] = pd.DatetimeIndex(dates[a:b], dtype="datetime64[ns]")
        return out

    def _scan(
        self, paths: list[Path], *, columns: list[str], lo: pd.Timestamp | None, hi: pd.Timestamp | None
    ) -> pa.Table:
        terms = [ds.field("date") >= lo] if lo is not None else []
        terms += [ds.field("date") <= hi] if hi is not None else []
        condition = functools.reduce(operator.and_, terms) if terms else None
        try:
            dataset = ds.dataset([str(p) for p in paths], format="parquet", schema=PRICE_SCHEMA)
            return dataset.to_table(columns=columns, filter=condition)
        except (OSError, pa.ArrowException) as exc:  # corrupt or foreign file: find it and name it
            good = []
            for path in paths:
                problem = _unreadable(path, columns=columns)
                if problem is None:
                    good.append(path)
                elif not _is_corrupt(problem):
                    raise PriceDataError(f"cannot read stored prices {path}: {problem}") from problem
                else:
                    self._set_aside(path.stem, path, problem)
            if len(good) == len(paths):
                raise PriceDataError(f"cannot read stored prices under {self.folder}: {exc}") from exc
        if not good:
            return PRICE_SCHEMA.empty_table().select(columns)
        return self._scan(good, columns=columns, lo=lo, hi=hi)

    def _set_aside(self, ticker: str, path: Path, problem: Exception) -> None:
        """Quarantine ``ticker``'s corrupt ``path`` under its lock if it is still corrupt; else leave it."""
        reason = f"cannot read stored {path}: {problem}"
        try:
            with self.lock(ticker, timeout_s=min(self.lock_timeout_s, 5.0)):
                if not path.is_file() or _unreadable(path, columns=None) is None:
                    return  # replaced (repaired) by a writer meanwhile: nothing to set aside
                moved = quarantine(self.layout, path, reason=reason)
        except (OSError, StoreLockedError, CorruptFileError) as exc:  # read-only root, busy or unsafe lock
            _log.warning("corrupt file %s skipped (%s); not moved to quarantine: %s", path, reason, exc)
            moved = None
        where = f"moved to {moved}" if moved is not None else "skipped (could not be moved to quarantine)"
        self.quarantined[ticker] = f"stored file {path} was corrupt ({problem}); {where}"

    # -- corporate actions ------------------------------------------------------------------

    def read_events(self, ticker: str) -> pd.DataFrame:
        """Stored dividends and splits of ``ticker`` (``EVENT_COLUMNS``); empty if none."""
        path = self.events_path(ticker)
        if not path.is_file():
            return empty_events()
        try:
            table = pq.read_table(path, schema=EVENT_FILE_SCHEMA)
        except Exception as exc:
            if not _is_corrupt(exc):
                raise PriceDataError(f"cannot read stored events {path}: {exc}") from exc
            self._set_aside(ticker, path, exc)
            return empty_events()
        return canonical_events(table.to_pandas().assign(ticker=ticker))

    def write_events(self, ticker: str, events: pd.DataFrame, *, replace: bool = False) -> bool:
        """Merge (or with ``replace``, set) the events of ``ticker``; new rows win on a date.

        Returns:
            Whether the file was written (False: nothing would change, file untouched).
        """
        incoming = canonical_events(events.assign(ticker=ticker))
        with self.lock(ticker):
            old = self.read_events(ticker)
            merged = incoming if replace else canonical_events(pd.concat([old, incoming], ignore_index=True))
            if merged.equals(old) or (merged.empty and not self.events_path(ticker).exists()):
                return False
            table = pa.Table.from_pandas(merged.drop(columns="ticker"), schema=EVENT_FILE_SCHEMA, preserve_index=False)
            with atomic_path(self.events_path(ticker)) as tmp:
                pq.write_table(table, tmp, compression="zstd")
            return True


def _unreadable(path: Path, *, columns: list[str] | None) -> Exception | None:
    """Why ``path`` cannot be read as Parquet (None: it can)."""
    try:
        pq.read_schema(path)
        pq.read_table(path, columns=columns)
    except Exception as exc:
        return exc
    return None


def _is_corrupt(exc: Exception) -> bool:
    """Whether a read error is about the file's content (corrupt, foreign), not the system (I/O, permissions)."""
    return isinstance(exc, pa.ArrowException | ValueError | TypeError) and not isinstance(exc, OSError)


def _in_key_order(table: pa.Table) -> pa.Table:
    """``table`` sorted by (ticker, date); files are read in that order, so usually as is."""
    if table.num_rows < 2:
        return table
    tickers, dates = table.column("ticker"), table.column("date")
    head, tail = slice(0, table.num_rows - 1), slice(1, None)
    t0, t1 = tickers[head], tickers[tail]
    d0, d1 = dates[head], dates[tail]
    ordered = pc.or_(pc.less(t0, t1), pc.and_(pc.equal(t0, t1), pc.less(d0, d1)))
    if pc.all(ordered).as_py():
        return table
    return table.sort_by([("ticker", "ascending"), ("date", "ascending")])


# -- the lock registry: flock for other processes, an RLock for other threads ---------------


@dataclass
class _Held:
    rlock: threading.RLock
    depth: int = 0
    fd: int = -1


_REGISTRY: dict[str, _Held] = {}
_REGISTRY_LOCK = threading.Lock()


@contextlib.contextmanager
def _hold(path: Path, *, ticker: str, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive flock on ``path``; re-entrant in the owning thread."""
    with _REGISTRY_LOCK:
        held = _REGISTRY.setdefault(str(path), _Held(threading.RLock()))
    deadline = time.monotonic() + timeout_s
    if not held.rlock.acquire(timeout=max(timeout_s, 0.0)):
        raise _locked(ticker, path, timeout_s)
    try:
        if held.depth == 0:
            fd = _open_lock(path)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        raise _locked(ticker, path, timeout_s) from None
                    time.sleep(0.02)
            held.fd = fd
        held.depth += 1
    except BaseException:
        held.rlock.release()
        raise
    try:
        yield
    finally:
        held.depth -= 1
        if held.depth == 0:
            fcntl.flock(held.fd, fcntl.LOCK_UN)
            os.close(held.fd)
            held.fd = -1
        held.rlock.release()


def _open_lock(path: Path) -> int:
    """Open (creating) the lock file ``path``, never through a symbolic link.

    Raises:
        CorruptFileError: ``path`` or its folder is a symbolic link, naming it and its target.
    """
    if path.parent.is_symlink():
        raise CorruptFileError(
            f"lock folder {path.parent} is a symbolic link (to {os.readlink(path.parent)}); refusing to lock through "
            "it: remove it (a new one is made)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise CorruptFileError(
                f"lock file {path} is a symbolic link (to {os.readlink(path)}); refusing to follow it: "
                "remove it (a new lock file is made)"
            ) from exc
        raise


def _locked(ticker: str, path: Path, timeout_s: float) -> StoreLockedError:
    return StoreLockedError(
        f"ticker {ticker!r} is being updated by another process or thread (lock {path} still held after "
        f"{timeout_s:g}s); try again when it has finished"
    )
