"""The train flow: fit the stacked LSTM on a date range and store it in the model registry."""

from __future__ import annotations

import datetime as dt

from prefect import flow

from features.dataset import DatasetConfig
from features.labels import LabelConfig
from features.store import PriceStore
from flows.common import (
    DEFAULT_SOURCE,
    RunLoggerCallback,
    code_version,
    data_root,
    date_range,
    run_logger,
    update_prices,
)
from models.lstm import ModelConfig
from models.registry import save_model, set_champion
from models.scoring import train_production_model
from models.training import TrainConfig


@flow(name="train")
def train_flow(
    source: str = DEFAULT_SOURCE,
    tickers: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    epochs: int = 8,
    timesteps: int = 30,
    horizon: int = 5,
    band: float = 0.01,
    units: tuple[int, ...] = (128, 64),
    seed: int = 0,
    data_root_dir: str | None = None,
) -> str:
    """Train on every labeled sample in ``[start, end]`` and make it the champion; return its id.

    The newest model becomes the champion; comparing against the current champion before
    promotion is the model registry's next step (see ``docs/roadmap.md``).
    """
    logger = run_logger()
    lo, hi = date_range(start, end)
    root = data_root(data_root_dir)
    stored = update_prices(source, tickers, lo, hi, str(root))
    prices = PriceStore(root).read(stored["tickers"], lo, hi)
    dataset_config = DatasetConfig(timesteps=timesteps, label=LabelConfig(horizon=horizon, band=band))
    fitted, meta = train_production_model(
        prices, dataset_config, ModelConfig(units=units), TrainConfig(epochs=epochs, seed=seed),
        callbacks=[RunLoggerCallback()], verbose=0,
    )  # fmt: skip
    model_id = save_model(root, fitted.model, {**meta, "source": source, "code_version": code_version()})
    set_champion(root, model_id, reason="newest trained model")
    logger.info(
        "model %s: validation log-loss %.4f, accuracy %.4f on %d samples",
        model_id, meta["validation"]["log_loss"], meta["validation"]["accuracy"], meta["validation"]["n"],
    )  # fmt: skip
    return model_id
