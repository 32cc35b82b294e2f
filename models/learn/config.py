"""The settings of a model, its training and a walk-forward backtest, importable without Keras.

The CLI builds these configs for every ``--help`` and option check, so they live apart from the
Keras code that uses them (importing Keras loads TensorFlow: seconds, not milliseconds). The old
homes still export them: ``models.learn.lstm.ModelConfig``, ``models.learn.training.TrainConfig``,
``models.backtest.walkforward.WalkForwardConfig`` are these classes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

OptimizerName = Literal["adam", "rmsprop"]
MAX_UNITS = 4096
"""The widest LSTM layer a config accepts (16.8 million weights per layer at this width; wider needs a GPU farm)."""


class ModelConfig(BaseModel):
    """Architecture and optimiser of an LSTM classifier (every size is a setting).

    Each field's description is its documentation, ``updown backtest --help``'s text and Prefect's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    units: tuple[Annotated[int, Field(ge=1, le=MAX_UNITS)], ...] = Field(
        (128, 64), min_length=1, max_length=8, description="LSTM sizes, first layer to last"
    )
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout rate after each LSTM layer (0 = none)")
    bidirectional: bool = Field(False, description="wrap each LSTM layer in Bidirectional")
    optimizer: OptimizerName = Field("adam", description="optimiser")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="optimiser step size")
    unroll: bool = Field(
        False,
        description="unroll the LSTM loop over the timesteps (results equal in distribution, not to the bit; "
        "speed measured in BENCHMARKS.md)",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # unroll was added after configs were first stored: left out at its default, so earlier
        # configurations dump (model cards, metrics.json, fold-cache keys) exactly as before
        dumped: dict[str, Any] = handler(self)
        if not self.unroll:
            dumped.pop("unroll", None)
        return dumped


ARCHITECTURES: dict[str, ModelConfig] = {
    "single": ModelConfig(units=(64,), dropout=0.0),
    "stacked": ModelConfig(),
    "bidirectional": ModelConfig(units=(64, 32), dropout=0.0, bidirectional=True, optimizer="rmsprop"),
}


class TrainConfig(BaseModel):
    """How to fit.

    Each field's description is its documentation, ``updown train --help``'s text and Prefect's.
    ``calibrate`` fits the temperature of :mod:`models.learn.calibration`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(8, ge=1, le=1000, description="cap on training epochs; early stopping may end sooner")
    batch_size: int = Field(256, ge=1, le=65536, description="samples per gradient step")
    patience: int = Field(2, ge=0, le=100, description="epochs without a better validation loss before stopping")
    val_fraction: float = Field(
        0.15, gt=0, lt=0.5, description="share of the training dates, at the end, used for validation"
    )
    class_weight: bool = Field(True, description="weight classes inversely to their training frequency")
    # seeds the weights, dropout and shuffling
    seed: int = Field(0, ge=0, description="random seed")
    lr_schedule: Literal["constant", "plateau", "cosine"] = Field(
        "constant",
        description="plateau halves the rate when validation loss stalls; cosine decays it over the epochs",
    )
    calibrate: bool = Field(
        False, description="temperature-scale probabilities on the validation slice (applied to every prediction)"
    )
    sample_weights: Literal["none", "uniqueness"] = Field(
        "none",
        description="uniqueness weights each training sample by the average uniqueness of its overlapping "
        "label window (López de Prado), for the LSTM and the baselines that take weights; none weights all alike",
    )
    holdout_fraction: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="updown train: share of the training dates, at the end, held out from fitting, early stopping "
        "and calibration, on which promotion and the live scorecard judge the model (a backtest ignores it: "
        "its test blocks are held out)",
    )


class WalkForwardConfig(BaseModel):
    """How the test region is cut and separated from training.

    Each field's description is its documentation, ``updown backtest --help``'s text and Prefect's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    blocks: int = Field(3, ge=2, le=500, description="walk-forward blocks of equal length in trading days")
    retrain_every: int | None = Field(
        None,
        ge=5,
        le=10_000,
        description="retrain every N trading days (the last block may be shorter), overriding blocks; "
        "it must still give two blocks (default: off)",
    )
    test_fraction: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="share of the samples (over all tickers) after the test region's first date, "
        "when test_start is not set",
    )
    test_start: dt.date | None = Field(
        None, description="first test decision date, overriding test_fraction (default: from test_fraction)"
    )
    embargo: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="trading days between the last training label and a block (default: the label horizon)",
    )
    window: Literal["expanding", "rolling"] = Field(
        "expanding", description="training window: expanding trains on all the past, rolling on the last train_days"
    )
    train_days: int | None = Field(
        None,
        ge=20,
        le=100_000,
        description="trading days of decision dates in a rolling window (default: none, rolling needs it)",
    )
    warm_start: bool = Field(False, description="start each block from the previous block's trained weights")
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        (0,),
        min_length=1,
        max_length=20,
        description="seeds to repeat the whole walk-forward with (metrics as mean ± std)",
    )

    @model_validator(mode="after")
    def _rolling_needs_length(self) -> WalkForwardConfig:
        if self.window == "rolling" and self.train_days is None:
            raise ValueError("window='rolling' needs train_days (trading days of training data)")
        return self


FLOAT_BYTES = 4  # Keras computes in float32
TRAINING_COPIES = 4  # weights, gradients and Adam's two moment estimates
LSTM_STEP_FLOATS = 8  # per unit and step kept for backpropagation: 4 gates, cell and hidden state, their grads
DATA_ROW_BYTES = 2_000  # per price row: prices, features, scaled copy, labels, windows (an allowance, not measured)


def lstm_weight_count(n_features: int, model: ModelConfig, *, n_classes: int = 3) -> int:
    """The number of weights of the stacked LSTM ``model`` describes (both directions when bidirectional)."""
    directions = 2 if model.bidirectional else 1
    count, width = 0, n_features
    for units in model.units:
        count += directions * 4 * (units * (width + units) + units)
        width = directions * units
    return count + width * n_classes + n_classes


def training_memory_bytes(
    *, timesteps: int, n_features: int, model: ModelConfig, batch_size: int, n_rows: int = 0
) -> int:
    """A rough upper estimate of the memory training needs, in bytes (checked before any work starts).

    The sum of the weights with their gradients and optimiser state, one batch's activations kept
    for backpropagation (``batch_size x timesteps x units``, per layer and direction) with its
    input (``batch_size x timesteps x n_features``), and ``n_rows`` price rows turned into
    features, labels and windows (0 when the data's size is not known in advance).
    """
    directions = 2 if model.bidirectional else 1
    weights = lstm_weight_count(n_features, model) * FLOAT_BYTES * TRAINING_COPIES
    activations = batch_size * timesteps * (directions * sum(model.units) * LSTM_STEP_FLOATS + n_features)
    return weights + activations * FLOAT_BYTES + n_rows * DATA_ROW_BYTES


def check_training_memory(estimate: int, *, available: int, what: str) -> None:
    """Refuse a job whose estimated memory exceeds ``available`` bytes, with the estimate and its parts named.

    Raises:
        ValueError: ``what`` and both sizes in GiB.
    """
    if estimate > available:
        raise ValueError(
            f"{what} would need about {estimate / 2**30:,.1f} GiB of memory, more than the "
            f"{available / 2**30:,.1f} GiB available: use fewer units, timesteps, features, a smaller "
            "batch size or less data"
        )
