"""``--preset``, ``--universe`` and feature-set names on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.dataset import DatasetConfig
from features.labels import LabelConfig
from flows.cli.args import build_configs, explicit_options, strategy_config, walk_forward_config
from flows.cli.commands import _parser
from models.evaluation.config import StrategyConfig
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig
from models.presets import Configs, apply_preset


def _parse(argv: list[str]):
    args = _parser().parse_args(argv)
    args.explicit = explicit_options(_parser(), argv) if args.preset else None
    return args


def test_explicit_options_are_the_ones_given() -> None:
    argv = ["backtest", "--preset", "qlib-lstm", "--epochs", "2", "--calibrate", "--topk=4", "--no-cache"]
    assert explicit_options(_parser(), argv) == {"command", "preset", "epochs", "calibrate", "topk", "use_cache"}


def test_under_a_preset_the_configs_hold_only_the_given_fields() -> None:
    args = _parse(["backtest", "--preset", "fischer-krauss", "--epochs", "2"])
    configs = build_configs(args)

    assert configs["training"].model_fields_set == {"epochs"}
    assert configs["model"].model_fields_set == set()  # --arch not given: the preset's architecture
    assert configs["dataset"].model_fields_set == {"label"}
    assert configs["dataset"].label.model_fields_set == set()
    assert walk_forward_config(args).model_fields_set == set()
    assert strategy_config(args).model_fields_set == set()


def test_cli_options_override_the_preset_even_at_their_default_value() -> None:
    # --timesteps 30 is DatasetConfig's default, yet given explicitly it beats the preset's 240
    argv = ["backtest", "--preset", "fischer-krauss", "--timesteps", "30", "--epochs", "2", "--topk", "3"]
    argv += ["--arch", "stacked", "--seed", "4"]
    args = _parse(argv)
    built = build_configs(args)
    configs = Configs(
        built["dataset"], built["model"], built["training"], walk_forward_config(args), strategy_config(args)
    )

    got = apply_preset("fischer-krauss", configs, n_tickers=20)

    assert got.dataset.timesteps == 30
    assert got.dataset.label == LabelConfig(
        scheme="cross_section", cs_split="median_band", cs_band=0.0, horizon=1, lag=0
    )
    assert got.model == ModelConfig()  # --arch stacked given: its whole architecture
    assert got.training == TrainConfig(epochs=2, patience=10, val_fraction=0.2, class_weight=False, seed=4)
    assert got.walk_forward == WalkForwardConfig(
        window="rolling", train_days=750, retrain_every=250, test_fraction=0.5, seeds=(4,)
    )
    assert got.strategy == StrategyConfig(portfolio="topk", topk=3, cost_bps=5.0)


def test_without_a_preset_nothing_changes() -> None:
    args = _parse(["backtest", "--epochs", "2"])
    assert args.explicit is None
    assert build_configs(args)["dataset"] == DatasetConfig()


def test_feature_set_names_are_accepted_and_unknown_names_refused(capsys: pytest.CaptureFixture[str]) -> None:
    dataset = build_configs(_parse(["backtest", "--features", "alpha360_close,ret_1"]))["dataset"]
    assert dataset.features == ("rel_close", "ret_1")
    with pytest.raises(SystemExit):
        _parser().parse_args(["backtest", "--features", "alpha999"])
    assert "unknown features ['alpha999']" in capsys.readouterr().err


def test_universe_file_reaches_the_dataset_config(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("ticker,start,end\nAAPL,2019-01-02,\nMSFT,,2020-06-30\n")

    dataset = build_configs(_parse(["backtest", "--universe", str(path)]))["dataset"]

    assert dataset.universe is not None
    assert dataset.universe.tickers == ("AAPL", "MSFT")
    assert dataset.model_dump(mode="json")["universe"]["members"][1] == {
        "ticker": "MSFT",
        "start": None,
        "end": "2020-06-30",
    }
    assert "universe" not in DatasetConfig().model_dump()  # left out at its default: old dumps unchanged


def test_a_bad_universe_file_is_one_line_and_status_2_before_any_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli.commands import main

    path = tmp_path / "bad.csv"
    path.write_text("ticker,start\nAAPL,2020-02-30\n")

    assert main(["backtest", "--universe", str(path), "--data-root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"updown backtest: error: universe file '{path}' row 2: start must be a date like 2020-01-31, got '2020-02-30'"
    )
    assert not (tmp_path / "data").exists()
