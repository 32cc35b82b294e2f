"""A content-addressed cache of walk-forward block results.

Training one block is deterministic (same inputs, same predictions to the bit), so a block whose
inputs have been seen before need not be trained again: its files can be copied from the cache.
An entry is ``<data root>/cache/folds/<key[:2]>/<key>/`` and holds the block's four files
(``block.parquet``, ``block.baselines.parquet``, ``block.json``, ``block.keras``) plus
``manifest.json`` with each file's size and sha256 and the inputs the key was made from.

Entries are immutable. One is written into a hidden temporary sibling folder and renamed into
place, so a reader sees a whole entry or none; when two writers race, the first rename wins and
the second discards its copy. Every read checks the files against the manifest, so an entry
damaged later (a truncated copy of the data root, a disk error) is dropped and recomputed instead
of poisoning runs. Only Parquet, JSON and ``.keras`` files are stored: no pickle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import shutil
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
from pydantic import BaseModel

from features.storage.atomic import atomic_path, fsync_dir, write_json
from features.storage.layout import DataRoot
from models.versions import library_versions

SUFFIXES = (".parquet", ".baselines.parquet", ".json", ".keras")
"""The files of one block, as suffixes of its stem (see :mod:`models.backtest.engine`)."""

NUMERIC_LIBRARIES = ("keras", "tensorflow", "jax", "torch", "numpy", "pandas", "scikit-learn", "scipy", "pyarrow")
"""Libraries whose version can change a block's numbers (absent ones key as "not installed")."""

KEY_FORMAT = "updown-fold-cache/3"
"""Changes when the key's recipe or the entry layout changes, so old entries are never misread.

/3: block files hold no run ids (they are added when a block is read), so entries are copied as they are.
"""

_STEM = "block"
_MANIFEST = "manifest.json"
_CHUNK = 1 << 20

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
_log: Logger = logging.getLogger("updown")


class CorruptEntryError(ValueError):
    """A cache entry whose files do not match its manifest."""


def cache_dir(root: str | Path) -> Path:
    """The folder of all block entries under the data root ``root``."""
    return DataRoot(root).fold_cache_dir


def entry_dir(root: str | Path, key: str) -> Path:
    """Where the entry for ``key`` lives (whether or not it exists); a key that is no sha256 raises ``ValueError``."""
    return DataRoot(root).fold_cache_entry(key)


def file_digest(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_digest(path: str | Path) -> str:
    """The sha256 of a ``.keras`` file's architecture and weights, without its save time.

    A ``.keras`` file is a zip of ``config.json``, ``model.weights.h5`` and ``metadata.json``; the
    last records when it was saved, so the same weights saved twice differ in bytes. Hashing every
    member but that one (name and bytes, in name order) keys a warm start on the weights alone, so
    the blocks after a retrained block still hit. A file that is not a zip is hashed whole.
    """
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return file_digest(path)
    digest = hashlib.sha256()
    with archive:
        for name in sorted(n for n in archive.namelist() if n != "metadata.json"):
            digest.update(f"{name}\0".encode())
            digest.update(archive.read(name))
    return digest.hexdigest()


def source_digest(*paths: str | Path) -> str:
    """The sha256 of every ``.py`` file under ``paths`` (relative name and bytes, in sorted order).

    A git commit does not change when a checkout has uncommitted edits, so keying on it alone
    would serve results of the old code to someone editing ``models/learn/training.py``; hashing the
    source that runs catches that.
    """
    digest = hashlib.sha256()
    for base in map(Path, paths):
        for file in [base] if base.is_file() else sorted(base.rglob("*.py")):
            digest.update(f"{file.relative_to(base.parent).as_posix()}\0".encode())
            digest.update(file.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def numeric_environment() -> dict[str, str]:
    """What, besides the code and inputs, decides a block's numbers: library versions, backend, CPU.

    The machine architecture is there because float results may differ across instruction sets.
    """
    return {
        **library_versions(NUMERIC_LIBRARIES),
        "keras_backend": keras.backend.backend(),
        "machine": platform.machine(),
    }


def fold_inputs(
    *,
    data_fingerprint: str,
    tickers: Sequence[str],
    start: dt.date | None,
    end: dt.date | None,
    dataset: BaseModel,
    walk_forward: BaseModel,
    model: BaseModel,
    training: BaseModel,
    fold_index: int,
    seed: int,
    initial_weights: str | Path | None,
    code_version: str,
    code_digest: str,
    environment: Mapping[str, str],
) -> dict[str, Any]:
    """Everything one block's output depends on, as JSON-ready values.

    ``walk_forward.seeds`` and ``training.seed`` are left out: the block is trained with ``seed``
    alone, whatever other seeds the run has, so ``--seeds 0,1`` reuses the blocks of ``--seeds 0``.
    The warm-start model counts by its architecture and weights (:func:`model_digest`), not by its
    path, which differs per run, nor by its save time.

    Raises:
        ValueError: for a negative ``fold_index`` or ``seed``.
    """
    if fold_index < 0 or seed < 0:
        raise ValueError(f"fold_index and seed must be >= 0, got fold_index={fold_index}, seed={seed}")
    return {
        "format": KEY_FORMAT,
        "data_fingerprint": data_fingerprint,
        "tickers": list(tickers),
        "start": None if start is None else start.isoformat(),
        "end": None if end is None else end.isoformat(),
        "dataset": dataset.model_dump(mode="json"),
        "walk_forward": walk_forward.model_dump(mode="json", exclude={"seeds"}),
        "model": model.model_dump(mode="json"),
        "training": training.model_dump(mode="json", exclude={"seed"}),
        "fold_index": fold_index,
        "seed": seed,
        "initial_weights_sha256": None if initial_weights is None else model_digest(initial_weights),
        "code_version": code_version,
        "code_digest": code_digest,
        "environment": dict(environment),
    }


def fold_key(inputs: Mapping[str, Any]) -> str:
    """The cache key of a block: sha256 hex of the canonical JSON of :func:`fold_inputs`.

    Canonical means sorted keys, no whitespace, ASCII only and no NaN, so equal inputs give the
    same key in every process (nothing depends on dict order or on Python's salted ``hash``).
    """
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def lookup(root: str | Path, key: str, *, log: Logger = _log) -> Path | None:
    """The entry folder for ``key`` if it exists and every file matches its manifest, else None.

    A damaged entry is discarded, with a warning on ``log``, so the caller recomputes the block
    and can store a good entry in its place.
    """
    folder = entry_dir(root, key)
    if not folder.is_dir():
        return None
    try:
        manifest = _read_manifest(folder, key)
        for name, expected in manifest["files"].items():
            _check_file(folder / name, expected)
    except (OSError, ValueError) as exc:
        discard(folder, reason=str(exc), log=log)
        return None
    return folder


def store(root: str | Path, key: str, src_stem: str | Path, *, inputs: Mapping[str, Any]) -> Path:
    """Copy a block's four files into a new entry for ``key``; return the entry folder.

    The entry is assembled in a hidden temporary sibling folder, fsynced and renamed into place.
    If an entry for ``key`` already exists (a concurrent writer published first) it is kept and
    this copy is thrown away: both hold the same results.

    Raises:
        FileNotFoundError: when one of the block's files is missing.
    """
    folder = entry_dir(root, key)
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    try:
        files = {}
        for suffix in SUFFIXES:
            dst = tmp / f"{_STEM}{suffix}"
            shutil.copyfile(f"{src_stem}{suffix}", dst)
            with open(dst, "rb+") as fh:
                os.fsync(fh.fileno())
            files[dst.name] = {"bytes": dst.stat().st_size, "sha256": file_digest(dst)}
        write_json({"key": key, "inputs": dict(inputs), "files": files}, tmp / _MANIFEST)
        fsync_dir(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():
                raise
            return folder  # another writer published the same key first
        fsync_dir(folder.parent)
        return folder
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def restore(folder: str | Path, dst_stem: str | Path) -> None:
    """Copy an entry's files to ``<dst_stem><suffix>``, each one atomically.

    Block files hold no run ids (:mod:`models.backtest.engine` adds them when it reads a block), so the
    copies equal, byte for byte, what training the block in this run would have written. Every file
    is checked against the manifest as it is read, so an entry damaged since :func:`lookup` is never
    copied.

    Raises:
        CorruptEntryError: when a file does not match the manifest (that file is not written).
    """
    folder, dst = Path(folder), Path(dst_stem)
    files = _read_manifest(folder, folder.name)["files"]
    for suffix in SUFFIXES:
        data = _check_file(folder / f"{_STEM}{suffix}", files[f"{_STEM}{suffix}"])
        with atomic_path(Path(f"{dst}{suffix}"), suffix=suffix) as tmp:
            tmp.write_bytes(data)


def discard(folder: str | Path, *, reason: str, log: Logger = _log) -> None:
    """Remove a damaged entry: rename it aside first (atomic for readers), then delete it."""
    folder = Path(folder)
    log.warning("fold cache: dropping damaged entry %s: %s", folder, reason)
    aside = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.corrupt")
    try:
        os.rename(folder, aside)
    except OSError:
        return  # already gone: another reader dropped it
    shutil.rmtree(aside, ignore_errors=True)


def _read_manifest(folder: Path, key: str) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptEntryError(f"unreadable {folder / _MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("key") != key or not isinstance(manifest.get("files"), dict):
        raise CorruptEntryError(f"{folder / _MANIFEST} does not describe key={key!r}")
    files, names = manifest["files"], {f"{_STEM}{s}" for s in SUFFIXES}
    if set(files) != names:
        raise CorruptEntryError(f"{folder / _MANIFEST} lists {sorted(files)}, expected {sorted(names)}")
    for name, entry in files.items():
        well_formed = isinstance(entry, dict) and isinstance(entry.get("bytes"), int)
        if not (well_formed and isinstance(entry.get("sha256"), str)):
            raise CorruptEntryError(f"{folder / _MANIFEST}: bad record for {name}: {entry!r}")
    return manifest


def _check_file(path: Path, expected: Mapping[str, Any]) -> bytes:
    """The file's bytes, if their size and sha256 are the manifest's."""
    data = path.read_bytes()
    if len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise CorruptEntryError(
            f"{path} does not match the manifest ({len(data)} bytes, expected {expected['bytes']}, or another sha256)"
        )
    return data
