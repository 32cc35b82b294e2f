"""Corrupt files are moved aside, never deleted: one bad file must not block every later run.

A file that cannot be read as what it should be (a truncated Parquet file, garbage bytes) is
moved to ``<root>/quarantine/<its path under the root>.<UTC time>.corrupt``
(:meth:`features.storage.layout.DataRoot.quarantine_file`) and a warning names both paths. The
reader then treats it as absent: a price file is fetched afresh by the next update, a report
partition is published or settled again. The quarantine folder is outside ``prices/`` and
``reports/``, its files do not end in ``.parquet`` (DuckDB's and pyarrow's globs skip them) and it
is never synced to a remote root. Inspect or delete it by hand.

When the move itself fails (a read-only root, another process moved it first), the file is
skipped with a warning and left where it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from features.storage.atomic import fsync_dir
from features.storage.errors import CorruptDataError
from features.storage.layout import DataRoot

_log = logging.getLogger("updown")


class CorruptFileError(CorruptDataError, ValueError):
    """A stored file cannot be read (truncated, garbage, foreign) or is unsafe (a symlinked lock).

    The message names the file and, when it was moved aside, where to (:func:`quarantine`). A
    :class:`~features.storage.errors.CorruptDataError` (``updown`` exits with ``flows.exits.CORRUPT``),
    and a ``ValueError`` for callers that catch bad input.
    """


def quarantine(root: DataRoot, path: Path, *, reason: str, now: dt.datetime | None = None) -> Path | None:
    """Move the corrupt ``path`` (under ``root``) into the quarantine folder and warn, naming both.

    Args:
        root: the data root ``path`` is under.
        path: the corrupt file.
        reason: why it is corrupt (the reader's error), for the warning.
        now: the time stamped on the quarantined name (default: now, UTC).

    Returns:
        Where the file went, or None when it could not be moved (it is then only skipped).
    """
    target = root.quarantine_file(path, now=now or dt.datetime.now(dt.UTC))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        fsync_dir(target.parent)
        fsync_dir(path.parent)
    except OSError as exc:
        _log.warning("corrupt file %s skipped (%s); it could not be moved to quarantine: %s", path, reason, exc)
        return None
    _log.warning("corrupt file %s moved to %s and treated as absent: %s", path, target, reason)
    return target


def quarantined(root: DataRoot, path: Path) -> list[Path]:
    """The quarantined copies of ``path``, oldest first (empty when none)."""
    folder = root.quarantine_file(path, now=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).parent
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{path.name}.*.corrupt"))
