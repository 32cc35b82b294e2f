"""The settings of a model, its training and a walk-forward backtest, importable without Keras.

The CLI builds these configs for every ``--help`` and option check, so they live apart from the
Keras code that uses them (importing Keras loads TensorFlow: seconds, not milliseconds). The old
homes still export them: ``models.learn.lstm.ModelConfig``, ``models.learn.training.TrainConfig``,
``models.backtest.walkforward.WalkForwardConfig`` are these classes.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OptimizerName = Literal["adam", "rmsprop"]


class ModelConfig(BaseModel):
    """Architecture and optimiser of an LSTM classifier (every size is a setting).

    Attributes:
        units: units of each stacked LSTM layer, first to last.
        dropout: dropout rate after each LSTM layer (0 = none).
        bidirectional: wrap each LSTM layer in ``Bidirectional``.
        optimizer: ``adam`` or ``rmsprop``.
        learning_rate: optimiser step size.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    units: tuple[int, ...] = Field((128, 64), min_length=1, max_length=8)
    dropout: float = Field(0.2, ge=0, lt=1)
    bidirectional: bool = False
    optimizer: OptimizerName = "adam"
    learning_rate: float = Field(1e-3, gt=0, le=1)


ARCHITECTURES: dict[str, ModelConfig] = {
    "single": ModelConfig(units=(64,), dropout=0.0),
    "stacked": ModelConfig(),
    "bidirectional": ModelConfig(units=(64, 32), dropout=0.0, bidirectional=True, optimizer="rmsprop"),
}


class TrainConfig(BaseModel):
    """How to fit.

    Attributes:
        epochs: cap on epochs (early stopping may end sooner).
        batch_size: samples per gradient step.
        patience: epochs without a better validation loss before stopping.
        val_fraction: share of the training dates, at the end, used for validation.
        class_weight: weight classes inversely to their training frequency.
        seed: seeds weights, dropout and shuffling.
        lr_schedule: ``constant``; ``plateau`` halves the learning rate when validation loss
            stalls for an epoch; ``cosine`` decays it along a half cosine over ``epochs``.
        calibrate: fit a temperature on the validation slice (:mod:`models.learn.calibration`) and
            apply it to every prediction of this model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(8, ge=1, le=1000)
    batch_size: int = Field(256, ge=1, le=65536)
    patience: int = Field(2, ge=0, le=100)
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    class_weight: bool = True
    seed: int = Field(0, ge=0)
    lr_schedule: Literal["constant", "plateau", "cosine"] = "constant"
    calibrate: bool = False


class WalkForwardConfig(BaseModel):
    """How the test region is cut and separated from training.

    Attributes:
        blocks: retrain/test blocks (>= 2), of equal length in trading days.
        retrain_every: if set, blocks of this many trading days instead (the last may be shorter);
            overrides ``blocks`` and must still give at least two.
        test_fraction: share of the samples (counted over all tickers) in the test region when
            ``test_start`` is None; the region starts on the date that leaves this share after it.
        test_start: first test decision date (overrides ``test_fraction``).
        embargo: trading days between the last training label and a block; None = horizon.
        window: ``expanding`` trains on all the past; ``rolling`` on the last ``train_days``.
        train_days: trading days of decision dates in a rolling training window.
        warm_start: start each block's model from the previous block's trained weights.
        seeds: seeds to repeat the whole walk-forward with (metrics reported as mean ± std).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    blocks: int = Field(3, ge=2, le=500)
    retrain_every: int | None = Field(None, ge=5, le=10_000)
    test_fraction: float = Field(0.3, gt=0, lt=1)
    test_start: dt.date | None = None
    embargo: int | None = Field(None, ge=0, le=1000)
    window: Literal["expanding", "rolling"] = "expanding"
    train_days: int | None = Field(None, ge=20, le=100_000)
    warm_start: bool = False
    seeds: tuple[int, ...] = Field((0,), min_length=1, max_length=20)

    @model_validator(mode="after")
    def _rolling_needs_length(self) -> WalkForwardConfig:
        if self.window == "rolling" and self.train_days is None:
            raise ValueError("window='rolling' needs train_days (trading days of training data)")
        return self
