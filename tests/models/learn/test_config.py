"""The Keras-free configs: presets, bounds and the rule that a rolling window needs its length."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from models.learn.config import ARCHITECTURES, ModelConfig, TrainConfig, WalkForwardConfig


def test_presets() -> None:
    assert ARCHITECTURES["stacked"] == ModelConfig()
    assert ModelConfig() == ModelConfig(units=(128, 64), dropout=0.2, bidirectional=False, optimizer="adam")
    assert ARCHITECTURES["single"].units == (64,)
    assert ARCHITECTURES["single"].dropout == 0.0
    assert ARCHITECTURES["bidirectional"].bidirectional
    assert ARCHITECTURES["bidirectional"].optimizer == "rmsprop"
    assert {p.learning_rate for p in ARCHITECTURES.values()} == {1e-3}


@pytest.mark.parametrize(
    ("config", "kwargs", "field"),
    [
        (ModelConfig, {"units": ()}, "units"),
        (ModelConfig, {"units": (8, 0)}, "units.1"),
        (ModelConfig, {"units": (1,) * 9}, "units"),
        (ModelConfig, {"dropout": 1.0}, "dropout"),
        (ModelConfig, {"optimizer": "sgd"}, "optimizer"),
        (ModelConfig, {"learning_rate": 0}, "learning_rate"),
        (TrainConfig, {"epochs": 0}, "epochs"),
        (TrainConfig, {"val_fraction": 0.5}, "val_fraction"),
        (TrainConfig, {"seed": -1}, "seed"),
        (TrainConfig, {"lr_schedule": "step"}, "lr_schedule"),
        (WalkForwardConfig, {"blocks": 1}, "blocks"),
        (WalkForwardConfig, {"retrain_every": 4}, "retrain_every"),
        (WalkForwardConfig, {"seeds": ()}, "seeds"),
        (WalkForwardConfig, {"seeds": (0, -1)}, "seeds.1"),
        (WalkForwardConfig, {"units": (8,)}, "units"),  # extra="forbid"
    ],
)
def test_out_of_range_values_name_the_field(config, kwargs, field) -> None:
    with pytest.raises(ValidationError) as exc:
        config(**kwargs)
    assert [".".join(map(str, e["loc"])) for e in exc.value.errors()] == [field]


def test_a_rolling_window_needs_train_days() -> None:
    with pytest.raises(ValidationError, match="window='rolling' needs train_days"):
        WalkForwardConfig(window="rolling")
    assert WalkForwardConfig(window="rolling", train_days=20).train_days == 20


def test_configs_are_frozen() -> None:
    config = TrainConfig()
    with pytest.raises(ValidationError, match="frozen"):
        config.epochs = 3  # type: ignore[misc]


def test_importing_the_configs_loads_no_keras() -> None:
    code = "import sys, models.learn.config; print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
