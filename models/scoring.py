"""Training the production model and scoring the latest day with it (plain functions)."""

from __future__ import annotations

import datetime as dt
from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import DatasetConfig, Panel, build_panel
from features.frame import fingerprint
from features.labels import CLASSES, class_balance
from features.windows import WindowSet
from models.evaluation import classification_metrics
from models.lstm import ModelConfig
from models.registry import LoadedModel
from models.reports import prediction_frame
from models.training import (
    FittedModel,
    TrainConfig,
    describe_fit,
    fit_model,
    normalised_data,
    predict_proba,
)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a stored model or report depends on."""
    out = {}
    for name in ("updown", "keras", "tensorflow", "numpy", "pandas", "pyarrow", "prefect"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def train_production_model(
    prices: pd.DataFrame,
    dataset_config: DatasetConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    verbose: int | str = "auto",
    callbacks: list[Any] | None = None,
) -> tuple[FittedModel, dict[str, Any]]:
    """Fit on every labeled sample of ``prices`` and describe the result for the registry.

    Returns:
        (the fitted model, JSON-ready metadata for :func:`models.registry.save_model`).
    """
    panel = build_panel(prices, dataset_config)
    rows = panel.samples(labeled=True)
    fitted = fit_model(panel, rows, model_config, train_config, callbacks=callbacks or [], verbose=verbose)
    val_y = panel.label[fitted.val_rows].astype("int64")
    assert fitted.val_probs is not None
    meta = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "architecture": model_config.model_dump(mode="json"),
        "dataset": dataset_config.model_dump(mode="json"),
        "training": train_config.model_dump(mode="json"),
        "classes": list(CLASSES),
        "scaler": fitted.scaler.to_dict(),
        "tickers": sorted(prices["ticker"].unique().tolist()),
        "data_start": str(prices["date"].min().date()),
        "data_end": str(prices["date"].max().date()),
        "data_fingerprint": fingerprint(prices),
        "fit": describe_fit(panel, fitted),
        "validation": classification_metrics(val_y, fitted.val_probs),
        "class_balance": class_balance(panel.label[rows]),
        "versions": library_versions(),
    }
    return fitted, meta


def latest_rows(panel: Panel, as_of: pd.Timestamp) -> np.ndarray:
    """Rows dated ``as_of`` where a full window ends (labels are not needed to score)."""
    return np.flatnonzero((panel.dates == np.datetime64(as_of)) & panel.window_ok)


def score(loaded: LoadedModel, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Predict down/flat/up for every ticker with a full window ending on ``as_of``.

    Args:
        loaded: A registry model (its features, timesteps and scaler are used).
        prices: Canonical prices up to ``as_of`` with enough history for the windows.
        as_of: The decision date.

    Returns:
        Report rows (see :mod:`models.reports`), possibly empty.
    """
    config = DatasetConfig.model_validate(loaded.metadata["dataset"])
    panel = build_panel(prices[prices["date"] <= as_of].reset_index(drop=True), config)
    rows = latest_rows(panel, as_of)
    data = normalised_data(panel, loaded.scaler)
    probs = predict_proba(loaded.model, WindowSet(data, rows, timesteps=config.timesteps))
    return prediction_frame(panel.keys.iloc[rows], probs, horizon=config.label.horizon, model_id=loaded.model_id)
