"""The options of ``updown backtest`` / ``train`` are the configs' fields: same defaults, bounds and help."""

from __future__ import annotations

import argparse

import pytest
from pydantic import BaseModel, Field

from features.dataset import DatasetConfig
from features.indicators import DEFAULT_FEATURES
from features.labels import LabelConfig
from flows.cli.args import (
    DATASET_OPTIONS,
    LABEL_OPTIONS,
    MODEL_OPTIONS,
    NOT_OPTIONS,
    STRATEGY_OPTIONS,
    TRAIN_ONLY,
    TRAIN_OPTIONS,
    WALK_FORWARD_OPTIONS,
    build_configs,
    walk_forward_config,
)
from flows.cli.commands import _parser
from flows.cli.fields import Bounds, field_options
from models.evaluation.config import StrategyConfig
from models.learn.config import ARCHITECTURES, ModelConfig, TrainConfig, WalkForwardConfig

GENERATED = (
    *LABEL_OPTIONS, *DATASET_OPTIONS, *MODEL_OPTIONS, *TRAIN_OPTIONS, *WALK_FORWARD_OPTIONS, *STRATEGY_OPTIONS
)  # fmt: skip


def _actions(command: str) -> dict[str, argparse.Action]:
    """The parsed options of an ``updown`` command, by option string."""
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    return {flag: action for action in parser._actions for flag in action.option_strings}


def test_every_config_field_is_an_option_or_listed_as_not_one() -> None:
    for config in (LabelConfig, DatasetConfig, ModelConfig, TrainConfig, WalkForwardConfig, StrategyConfig):
        offered = {o.field for o in GENERATED if o.config is config}
        assert offered | set(NOT_OPTIONS[config]) == set(config.model_fields), config.__name__
        assert not offered & set(NOT_OPTIONS[config]), config.__name__


@pytest.mark.parametrize("command", ["backtest", "train"])
def test_each_generated_option_has_the_fields_default_bounds_and_help(command: str) -> None:
    actions = _actions(command)
    for option in GENERATED:
        backtest_only = option.config in (WalkForwardConfig, StrategyConfig)
        train_only = option.config is TrainConfig and option.field in TRAIN_ONLY
        if (backtest_only and command == "train") or (train_only and command == "backtest"):
            assert option.flag not in actions
            continue
        action = actions[option.flag]
        field = option.config.model_fields[option.field]
        assert field.description is not None
        assert action.help is not None
        assert action.help.startswith(field.description.replace("%", "%%")), option.flag
        if option.field in ("units", "optimizer", "learning_rate", "seeds"):  # from --arch / --seed
            assert action.default is None
            assert "(default: " in action.help
        else:
            assert action.default == field.default, option.flag
        if action.type is not None and hasattr(action.type, "bounds"):
            assert action.type.bounds == Bounds.of(field.metadata), option.flag


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--epochs", "1001", "must be <= 1000, got 1001"),
        ("--timesteps", "0", "must be >= 1, got 0"),
        ("--horizon", "251", "must be <= 250, got 251"),
        ("--band", "0", "must be in (0, 1), e.g. 0.01, got 0"),
        ("--learning-rate", "1.5", "must be in (0, 1], e.g. 0.001, got 1.5"),
        ("--blocks", "1", "must be >= 2 (a walk-forward needs two blocks), got 1"),
        ("--blocks", "501", "must be <= 500, got 501"),
        ("--retrain-every", "4", "must be >= 5, got 4"),
        ("--train-days", "19", "must be >= 20, got 19"),
        ("--seeds", "0,-1", "must be >= 0, got -1"),
        ("--units", "64,0", "must be >= 1, got 0"),
    ],
)
def test_the_fields_bounds_refuse_bad_values(flag, value, message, capsys) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["backtest", flag, value])
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"updown backtest: error: argument {flag}: {message}"


def test_no_options_give_the_default_configs() -> None:
    args = _parser().parse_args(["backtest"])
    configs = build_configs(args)

    assert configs == {"dataset": DatasetConfig(), "model": ModelConfig(), "training": TrainConfig()}
    assert configs["dataset"].features == DEFAULT_FEATURES
    assert walk_forward_config(args) == WalkForwardConfig()


def test_options_reach_the_configs() -> None:
    argv = ["backtest", "--epochs", "3", "--timesteps", "10", "--horizon", "2", "--band", "0.02"]
    argv += ["--label-scheme", "volatility", "--lr-schedule", "cosine", "--calibrate", "--seed", "4"]
    argv += ["--blocks", "4", "--window", "rolling", "--train-days", "40", "--warm-start"]
    args = _parser().parse_args(argv)
    configs = build_configs(args)

    assert configs["dataset"] == DatasetConfig(
        timesteps=10, label=LabelConfig(horizon=2, band=0.02, scheme="volatility")
    )
    assert configs["training"] == TrainConfig(epochs=3, lr_schedule="cosine", calibrate=True, seed=4)
    assert walk_forward_config(args) == WalkForwardConfig(
        blocks=4, window="rolling", train_days=40, warm_start=True, seeds=(4,)
    )
    assert walk_forward_config(_parser().parse_args(["backtest", "--seeds", "1,2"])).seeds == (1, 2)


def test_arch_is_a_preset_whose_fields_the_options_override() -> None:
    bi = build_configs(_parser().parse_args(["train", "--arch", "bidirectional"]))["model"]
    assert bi == ARCHITECTURES["bidirectional"]

    argv = ["train", "--arch", "bidirectional", "--units", "16", "--optimizer", "adam", "--learning-rate", "0.01"]
    model = build_configs(_parser().parse_args(argv))["model"]
    assert model == ModelConfig(units=(16,), dropout=0.0, bidirectional=True, optimizer="adam", learning_rate=0.01)
    assert _actions("train")["--arch"].default == "stacked"
    assert ARCHITECTURES["stacked"] == ModelConfig()


def test_a_new_described_field_becomes_an_option_without_other_code() -> None:
    class Extended(TrainConfig):
        warmup_epochs: int = Field(1, ge=0, le=9, description="epochs at a low learning rate first")

    options = {o.field: o for o in field_options(Extended, exclude=NOT_OPTIONS[TrainConfig])}

    assert options["warmup_epochs"].flag == "--warmup-epochs"
    assert options["warmup_epochs"].kwargs["default"] == 1
    assert options["warmup_epochs"].kwargs["help"] == "epochs at a low learning rate first"
    parser = argparse.ArgumentParser()
    options["warmup_epochs"].add_to(parser)
    assert parser.parse_args(["--warmup-epochs", "3"]).warmup_epochs == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--warmup-epochs", "10"])


def test_every_config_field_has_a_description() -> None:
    configs: tuple[type[BaseModel], ...] = (LabelConfig, DatasetConfig, ModelConfig, TrainConfig, WalkForwardConfig)
    missing = [f"{c.__name__}.{n}" for c in configs for n, f in c.model_fields.items() if not f.description]
    assert missing == []
