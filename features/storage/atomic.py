"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

Every write goes to a temporary file in the destination folder, is flushed and fsynced, then
renamed over the destination with :func:`os.replace` (atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched. ``suffix``
    is the temporary file's extension, for writers that insist on one (Keras wants ``.keras``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; readers (DuckDB, BI tools) need the usual mode
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def current_umask() -> int:
    """The process umask (read without changing it for more than an instant)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries so a rename into it survives a power loss (no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_with(path: Path, writer: Callable[[Path], object]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return path


def write_parquet(frame: pd.DataFrame, path: Path, *, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``frame`` (without its index) to ``path`` atomically, zstd-compressed.

    Args:
        frame: The data.
        path: Destination file.
        metadata: Extra key-value pairs stored in the Parquet schema metadata.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        merged = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
        table = table.replace_schema_metadata(merged)
    return _write_with(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def json_ready(obj: Any) -> Any:
    """Plain Python types; NaN and infinities become None so the result is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    return _write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_parquet_metadata(path: Path) -> dict[str, str]:
    """The key-value metadata of a Parquet file, without pandas' own entry."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k != b"pandas"}
