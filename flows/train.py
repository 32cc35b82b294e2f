"""The train flow: fit an LSTM classifier on a date range, store it, promote it only if better."""

from __future__ import annotations

import datetime as dt
import logging

from prefect import flow

from features.dataset import DatasetConfig
from features.prices.store import PriceStore
from flows.artifacts import publish_train_artifacts
from flows.common import (
    DEFAULT_SOURCE,
    TRAIN_STATE,
    RunLoggerCallback,
    code_version,
    date_range,
    require_complete,
    run_logger,
    run_name,
    update_prices,
    working_root,
)
from models.learn.config import ModelConfig, TrainConfig
from models.serving.promotion import decide_promotion, promotion_samples
from models.serving.registry import new_model_id, save_model, set_champion
from models.serving.scoring import train_production_model


@flow(name="train", flow_run_name=run_name("train", date_parameter="end"))
def train_flow(
    source: str = DEFAULT_SOURCE,
    tickers: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    dataset: DatasetConfig = DatasetConfig(),
    model: ModelConfig = ModelConfig(),
    training: TrainConfig = TrainConfig(),
    force: bool = False,
    data_root_dir: str | None = None,
    allow_partial: bool = False,
) -> str:
    """Train on every labeled sample in ``[start, end]``, store the model and return its id.

    The new model becomes the champion only if its holdout log-loss beats the current
    champion's on the same samples (:mod:`models.serving.promotion`), or with ``force``; the decision
    and both numbers are logged and stored in the model's metadata.

    Args:
        source: price source spec (``sample``, ``yahoo``, ``dir:PATH``, ``synthetic:...``).
        tickers: symbols (None = everything the source has; required for ``yahoo``).
        start: first price date used (inclusive).
        end: last price date used (inclusive).
        dataset: features, timesteps and label definition.
        model: architecture and optimiser.
        training: epochs, batch size, validation share, seed, schedule, calibration.
        force: promote even if the new model is not better (or not comparable).
        data_root_dir: data root (default ``$UPDOWN_DATA_ROOT`` or ``./data``).
        allow_partial: train on the tickers that could be priced when some failed (else nothing
            is trained: :func:`flows.common.require_complete`).

    Raises:
        PartialFailureError: some tickers failed and ``allow_partial`` is false; nothing trained.
    """
    logger = run_logger()
    lo, hi = date_range(start, end)
    with working_root(data_root_dir, pull=TRAIN_STATE) as root:
        stored = update_prices(source, tickers, lo, hi, str(root))
        prices = PriceStore(root).read(require_complete(stored, allow_partial=allow_partial), lo, hi)
        fitted, meta = train_production_model(
            prices, dataset, model, training, callbacks=[RunLoggerCallback()], verbose=0
        )
        keys, labels, probs, compared_on = promotion_samples(fitted)
        decision = decide_promotion(root, prices, meta, keys, labels, probs, force=force, on=compared_on)
        stored_meta = {**meta, "source": source, "code_version": code_version(), "promotion": decision.to_dict()}
        model_id = save_model(root, fitted, stored_meta, model_id=new_model_id())
        # a champion that cannot be used (corrupt pointer or model) is replaced: say so loudly
        logger.log(
            logging.WARNING if decision.unusable_champion else logging.INFO, "model %s: %s", model_id, decision.reason
        )
        if decision.promote:
            set_champion(root, model_id, reason=decision.reason)
            logger.info("model %s is the champion now", model_id)
        else:
            logger.warning("model %s stored but NOT promoted; champion stays %s", model_id, decision.champion_id)
        publish_train_artifacts(stored_meta, model_id)
        return model_id
