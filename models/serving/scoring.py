"""Training the production model and scoring the latest day with it (plain functions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import DatasetConfig, Panel, build_panel
from features.frame import fingerprint
from features.indicators import resolve_features
from features.labels import class_balance
from models.evaluation.metrics import classification_metrics
from models.learn.classifier import LSTMClassifier
from models.learn.config import ModelConfig, TrainConfig
from models.learn.training import chronological_holdout
from models.serving.predictions import prediction_frame
from models.versions import library_versions


def train_production_model(
    prices: pd.DataFrame,
    dataset_config: DatasetConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    verbose: int | str = "auto",
    callbacks: list[Any] | None = None,
) -> tuple[LSTMClassifier, dict[str, Any]]:
    """Fit on every labeled sample of ``prices`` and describe the result for the registry.

    The last ``train_config.holdout_fraction`` of the sample dates are held out first (purged and
    embargoed by the label horizon, :func:`models.learn.training.chronological_holdout`): the fit,
    early stopping and the temperature use only the rows before them, and the metadata's ``holdout``
    block (metrics on the held-out rows) is what promotion compares and the live scorecard expects.

    Returns:
        (the fitted classifier with :meth:`~LSTMClassifier.hold_out` applied, JSON-ready metadata for
        :func:`models.serving.registry.save_model`: the classifier's card plus the training data, fit,
        validation and holdout).
    """
    dataset_config = dataset_config.model_copy(update={"features": resolve_features(dataset_config.features, prices)})
    samples = (base := build_panel(prices, dataset_config)).samples(labeled=True)
    rows, held = chronological_holdout(
        base, samples, holdout_fraction=train_config.holdout_fraction, embargo=dataset_config.label.horizon
    )
    panel = base.fit_labels(rows)  # quantile cut points from the training rows; a no-op otherwise
    fitted = LSTMClassifier(dataset_config, model_config, train_config)
    fitted.fit(panel, rows, callbacks=callbacks or [], verbose=verbose)
    fitted.hold_out(panel, held)
    card = fitted.card()
    meta = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        **{k: v for k, v in card.items() if k != "calibration"},
        "tickers": sorted(prices["ticker"].unique().tolist()),
        "data_start": str(prices["date"].min().date()),
        "data_end": str(prices["date"].max().date()),
        "data_fingerprint": fingerprint(prices),
        "fit": fitted.fit_summary_,
        "validation": classification_metrics(fitted.val_labels_, fitted.val_probs_),
        "calibration": {
            **card["calibration"],
            "uncalibrated_val_log_loss": classification_metrics(fitted.val_labels_, fitted.raw_val_probs_)["log_loss"],
        },
        "holdout": holdout_summary(fitted, panel),
        "class_balance": class_balance(panel.label[rows]),
        "label_state": panel.label_state,
        "versions": library_versions(),
    }
    return fitted, meta


def holdout_summary(fitted: LSTMClassifier, panel: Panel) -> dict[str, Any] | None:
    """Metrics of the held-out rows with their count and dates; None when nothing was held out."""
    rows = fitted.holdout_rows_
    if not len(rows):
        return None
    dates = panel.dates[rows]
    return {
        **classification_metrics(fitted.holdout_labels_, fitted.holdout_probs_),
        "n": len(rows),
        "start": str(pd.Timestamp(dates.min()).date()),
        "end": str(pd.Timestamp(dates.max()).date()),
    }


def score_keys(model: LSTMClassifier, prices: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Predict for the given ``(date, ticker)`` keys where the model has a full window.

    Args:
        model: a fitted classifier with a registry id (:func:`models.serving.registry.load_model`).
        prices: Canonical prices with enough history before every key's date.
        keys: Frame with ``date, ticker`` columns.

    Returns:
        Report rows (see :mod:`models.serving.predictions`) for the keys that could be scored, in price order.
    """
    config = model.dataset
    panel = build_panel(prices[prices["date"] <= keys["date"].max()].reset_index(drop=True), config)
    wanted = pd.MultiIndex.from_frame(keys.loc[:, ["date", "ticker"]])
    have = pd.MultiIndex.from_frame(panel.keys.loc[:, ["date", "ticker"]])
    rows = np.flatnonzero(have.isin(wanted) & panel.window_ok)
    probs = model.predict_proba(panel, rows)
    return prediction_frame(panel.keys.iloc[rows], probs, horizon=config.label.horizon, model_id=model.model_id_)


def universe_warning(config: DatasetConfig, trained_on: list[str], scoring: list[str]) -> str | None:
    """Why scoring ``scoring`` with a model trained on ``trained_on`` is not what was validated, or None.

    A model whose inputs are ranked or normalised across tickers on each date (``cs_norm``, the ``xs_*``
    features) sees other inputs when the set of tickers changes: the same ticker on the same day gets another
    value. None when the inputs are per ticker or the sets are equal.
    """
    across = [f for f in config.features if f.startswith("xs_")]
    if config.cs_norm == "none" and not across:
        return None
    extra, missing = sorted(set(scoring) - set(trained_on)), sorted(set(trained_on) - set(scoring))
    if not extra and not missing:
        return None
    what = f"cs_norm={config.cs_norm}" if config.cs_norm != "none" else "cross-sectional features " + ", ".join(across)
    changes = "; ".join(
        part for part in (f"{len(extra)} new ({', '.join(extra[:5])})" if extra else "",
                          f"{len(missing)} left out ({', '.join(missing[:5])})" if missing else "") if part
    )  # fmt: skip
    return (
        f"the model's inputs ({what}) are relative to its training universe of {len(trained_on)} tickers; scoring "
        f"another set ({changes}) changes every ticker's inputs: its validation figures do not hold for it"
    )


def score(model: LSTMClassifier, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Predict down/flat/up for every ticker with a full window ending on ``as_of``.

    Only prices up to ``as_of`` are used; labels are not needed.
    """
    tickers = prices.loc[prices["date"] == as_of, "ticker"].unique()
    keys = pd.DataFrame({"date": pd.Series(as_of, index=range(len(tickers))), "ticker": tickers})
    return score_keys(model, prices, keys)
