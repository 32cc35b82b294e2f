"""The model registry under ``<data root>/models/`` (paths: :class:`features.storage.layout.DataRoot`).

One folder per model id holding ``model.keras`` (Keras 3 format, loaded with ``safe_mode=True``;
no Lambda layers, no pickle) and ``metadata.json`` (everything needed to use the model on new
prices: features, timesteps, label timing and band, class order, the fitted scaler, the
training range and tickers, library versions, validation metrics). ``champion.json`` names the
model the daily flow scores with. Folders are written under a temporary name and renamed into
place, so a reader never sees half a model.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import keras

from features.indicators import FEATURES
from features.labels import CLASSES
from features.storage.atomic import current_umask, fsync_dir, write_json
from features.storage.errors import CorruptDataError
from features.storage.layout import CARD_FILE, MODEL_FILE, DataRoot, validate_id
from models.learn.classifier import LSTMClassifier

FORMAT_VERSION = 1
SCALER_KEYS = ("mean", "scale")  # the fitted scaler's arrays a card must hold, one value per feature


class RegistryError(RuntimeError):
    """A model or its metadata is missing, corrupt or does not fit the running code."""


class CorruptModelError(RegistryError, CorruptDataError):
    """A stored model, its metadata or the champion pointer is corrupt or unreadable; the message names the file."""


def models_dir(root: Path) -> Path:
    """``<root>/models`` (:attr:`features.storage.layout.DataRoot.models_dir`)."""
    return DataRoot(root).models_dir


def new_model_id(now: dt.datetime | None = None) -> str:
    """A sortable unique id: ``YYYYMMDD-HHMMSS-xxxxxx`` (UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def _check_id(model_id: str) -> str:
    return validate_id(model_id, name="model_id")


def save_model(
    root: Path, model: LSTMClassifier | keras.Model, metadata: dict[str, Any], *, model_id: str | None = None
) -> str:
    """Store a fitted ``model`` (its ``.keras`` and JSON card, plus ``metadata``) in a new id folder; return the id.

    A bare ``keras.Model`` is stored with ``metadata`` alone as its card (:func:`load_model` then
    needs that metadata to describe the model fully).
    """
    model_id = _check_id(model_id or new_model_id())
    base = models_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    final = DataRoot(root).model_dir(model_id)
    if final.exists():
        raise RegistryError(f"model {model_id} already exists at {final}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_id}.", dir=base))
    try:
        card = {**metadata, "model_id": model_id, "format_version": FORMAT_VERSION}
        if isinstance(model, LSTMClassifier):
            model.save(tmp, metadata=card)
        else:
            model.save(tmp / MODEL_FILE)
            write_json(card, tmp / CARD_FILE)
        os.chmod(tmp / MODEL_FILE, 0o666 & ~current_umask())
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700
        os.rename(tmp, final)
        fsync_dir(base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model_id


def list_models(root: Path) -> list[dict[str, Any]]:
    """Metadata of every stored model, oldest first (unreadable folders are skipped: :func:`unreadable_models`)."""
    return [meta for meta in _cards(root).values() if isinstance(meta, dict)]


def unreadable_models(root: Path) -> dict[str, str]:
    """``{model id: problem}`` of the model folders whose metadata is not a readable JSON object."""
    return {model_id: meta for model_id, meta in _cards(root).items() if isinstance(meta, str)}


def _cards(root: Path) -> dict[str, dict[str, Any] | str]:
    """Each model folder's card, or the sentence saying why it cannot be read, oldest first."""
    out: dict[str, dict[str, Any] | str] = {}
    base = models_dir(root)
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            out[folder.name] = load_metadata(root, folder.name)
        except CorruptModelError as exc:
            out[folder.name] = str(exc)
        except (RegistryError, ValueError):  # no card (not a model folder) or a name that is no model id
            continue
    return out


def champion_id(root: Path) -> str | None:
    """The id the champion pointer names, or None when there is none yet."""
    pointer = DataRoot(root).champion
    if not pointer.is_file():
        return None
    try:
        return _check_id(json.loads(pointer.read_text(encoding="utf-8"))["model_id"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CorruptModelError(f"champion pointer {pointer} is corrupt: {exc}") from exc


def set_champion(root: Path, model_id: str, *, reason: str) -> None:
    """Point ``champion.json`` at ``model_id`` (atomically), recording why."""
    if not DataRoot(root).model_file(model_id).is_file():
        raise RegistryError(f"cannot promote {model_id}: no such model under {models_dir(root)}")
    write_json(
        {"model_id": model_id, "reason": reason, "promoted_at": dt.datetime.now(dt.UTC).isoformat()},
        DataRoot(root).champion,
    )


def load_metadata(root: Path, model_id: str) -> dict[str, Any]:
    """The metadata of a stored model, as stored.

    Raises:
        RegistryError: naming the file when it is missing.
        CorruptModelError: naming the file when it is not a JSON object (truncated, tampered).
    """
    path = DataRoot(root).model_card(model_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RegistryError(f"no model {model_id!r}: {path} does not exist") from exc
    try:
        card = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptModelError(f"model metadata {path} is corrupt (not JSON: {exc})") from exc
    if not isinstance(card, dict):
        raise CorruptModelError(f"model metadata {path} is corrupt: a JSON {type(card).__name__}, not an object")
    return card


def load_model(root: Path, model_id: str | None = None) -> LSTMClassifier:
    """Load a model (default: the champion) and check it against the running code.

    Returns:
        The fitted :class:`models.learn.classifier.LSTMClassifier`, its registry id in ``model_id_`` and its
        stored metadata in ``card_``.

    Raises:
        RegistryError: naming the file when the model or metadata is missing, from an incompatible
            format version, or uses features/classes this code does not have; a
            :class:`CorruptModelError` when a file is corrupt (truncated, not JSON, keys missing).
    """
    model_id = model_id or champion_id(root)
    if model_id is None:
        raise RegistryError(f"no champion model under {models_dir(root)}; run `updown train` first")
    folder = DataRoot(root).model_dir(model_id)
    _check_metadata(load_metadata(root, model_id), folder / CARD_FILE)
    try:
        model = LSTMClassifier.load(folder)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise CorruptModelError(str(exc)) from exc
    model.model_id_ = model_id
    return model


def _check_metadata(metadata: dict[str, Any], path: Path) -> None:
    if metadata.get("format_version") != FORMAT_VERSION:
        raise RegistryError(
            f"{path}: format_version={metadata.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
    try:
        features = list(metadata["dataset"]["features"])
        classes = list(metadata["classes"])
        scaler_names = list(metadata["scaler"]["feature_names"])
        for key in SCALER_KEYS:
            if len(metadata["scaler"][key]) != len(scaler_names):
                raise CorruptModelError(f"{path} is corrupt: scaler.{key} and scaler.feature_names differ in length")
    except (KeyError, TypeError) as exc:
        raise CorruptModelError(f"{path} is corrupt: the metadata lacks {exc}") from exc
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise RegistryError(f"{path}: features {unknown} are not known to this code")
    if classes != list(CLASSES):
        raise RegistryError(f"{path}: class order {classes} differs from this code's {list(CLASSES)}")
    if scaler_names != features:
        raise RegistryError(f"{path}: scaler features {scaler_names} differ from model features {features}")
