"""Training the production model and scoring the latest day with it (plain functions)."""

from __future__ import annotations

import datetime as dt
from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import DatasetConfig, build_panel
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

VERSIONED = ("updown", "keras", "tensorflow", "numpy", "pandas", "pyarrow", "prefect", "scikit-learn")


def library_versions(names: tuple[str, ...] = VERSIONED) -> dict[str, str]:
    """Versions of the libraries a stored model or report depends on ("not installed" when absent)."""
    out = {}
    for name in names:
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
    rows = (base := build_panel(prices, dataset_config)).samples(labeled=True)
    panel = base.fit_labels(rows)  # quantile cut points from these training rows; a no-op otherwise
    fitted = fit_model(panel, rows, model_config, train_config, callbacks=callbacks or [], verbose=verbose)
    val_y = panel.label[fitted.val_rows].astype("int64")
    assert fitted.val_probs is not None
    assert fitted.raw_val_probs is not None
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
        "calibration": {
            "method": "temperature" if train_config.calibrate else "none",
            "temperature": fitted.temperature,
            "class_weights": None if fitted.class_weights is None else fitted.class_weights.tolist(),
            "uncalibrated_val_log_loss": classification_metrics(val_y, fitted.raw_val_probs)["log_loss"],
        },
        "class_balance": class_balance(panel.label[rows]),
        "label_state": panel.label_state,
        "versions": library_versions(),
    }
    return fitted, meta


def score_keys(loaded: LoadedModel, prices: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Predict for the given ``(date, ticker)`` keys where the model has a full window.

    Args:
        loaded: A registry model (its features, timesteps, scaler and temperature are used).
        prices: Canonical prices with enough history before every key's date.
        keys: Frame with ``date, ticker`` columns.

    Returns:
        Report rows (see :mod:`models.reports`) for the keys that could be scored, in price order.
    """
    config = DatasetConfig.model_validate(loaded.metadata["dataset"])
    last = keys["date"].max()
    panel = build_panel(prices[prices["date"] <= last].reset_index(drop=True), config)
    wanted = pd.MultiIndex.from_frame(keys.loc[:, ["date", "ticker"]])
    have = pd.MultiIndex.from_frame(panel.keys.loc[:, ["date", "ticker"]])
    rows = np.flatnonzero(have.isin(wanted) & panel.window_ok)
    data = normalised_data(panel, loaded.scaler)
    windows = WindowSet(data, rows, timesteps=config.timesteps)
    probs = predict_proba(loaded.model, windows, temperature=loaded.temperature, class_weights=loaded.class_weights)
    return prediction_frame(panel.keys.iloc[rows], probs, horizon=config.label.horizon, model_id=loaded.model_id)


def score(loaded: LoadedModel, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Predict down/flat/up for every ticker with a full window ending on ``as_of``.

    Only prices up to ``as_of`` are used; labels are not needed.
    """
    tickers = prices.loc[prices["date"] == as_of, "ticker"].unique()
    keys = pd.DataFrame({"date": pd.Series(as_of, index=range(len(tickers))), "ticker": tickers})
    return score_keys(loaded, prices, keys)
