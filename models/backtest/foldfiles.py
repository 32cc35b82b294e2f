"""The files of one walk-forward block, and reading them back under a run's model id.

A block is ``<stem>.parquet`` (test predictions: the backtest schema of :mod:`models.serving.predictions` without
``model_id``), ``<stem>.baselines.parquet`` (one ``<baseline>:<class>`` probability column per baseline and
class, row-aligned with the predictions), ``<stem>.json`` (the block's summary and seed) and ``<stem>.keras``
(the block's network, for a warm start). The files hold no run id, so the fold cache
(:mod:`models.backtest.foldcache`) stores and restores them as plain copies; :func:`read_block` names the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.labels import CLASSES
from features.storage.atomic import atomic_path, write_json, write_parquet
from models.learn.classifier import LSTMClassifier
from models.serving.predictions import PREDICTION_COLUMNS, check_predictions

_MODEL_ID_AT = PREDICTION_COLUMNS.index("model_id")


@dataclass
class Block:
    """One fitted block: test predictions (no model id yet), summary, the classifier, baseline probabilities."""

    predictions: pd.DataFrame
    info: dict[str, Any]
    model: LSTMClassifier
    baselines: dict[str, np.ndarray]


def write_block(block: Block, stem: Path, *, seed: int) -> None:
    """Write a block's four files (no run id in them), each atomically."""
    predictions = check_predictions(block.predictions, backtest=True).drop(columns="model_id")
    write_parquet(predictions, stem.with_suffix(".parquet"))
    columns = {f"{name}:{cls}": p[:, k] for name, p in block.baselines.items() for k, cls in enumerate(CLASSES)}
    write_parquet(pd.DataFrame(columns), stem.with_suffix(".baselines.parquet"))
    write_json({**block.info, "seed": seed}, stem.with_suffix(".json"))
    with atomic_path(stem.with_suffix(".keras"), suffix=".keras") as tmp:
        block.model.model_.save(tmp)


def read_block(stem: str | Path, *, model_id: str) -> tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]:
    """(predictions, summary, baseline probabilities) of a block's files, named ``model_id``."""
    path = Path(stem)
    wide = pq.read_table(path.with_suffix(".baselines.parquet")).to_pandas()
    names = dict.fromkeys(c.split(":")[0] for c in wide.columns)
    baselines = {n: wide.loc[:, [f"{n}:{c}" for c in CLASSES]].to_numpy(dtype="float64") for n in names}
    predictions = pq.read_table(path.with_suffix(".parquet")).to_pandas()
    predictions.insert(_MODEL_ID_AT, "model_id", model_id)
    info = {**json.loads(path.with_suffix(".json").read_text(encoding="utf-8")), "model_id": model_id}
    return predictions, info, baselines
