"""Research presets resolve to their documented configs; explicit values win."""

from __future__ import annotations

import pytest

from features.dataset import DatasetConfig
from features.labels import LabelConfig
from models.evaluation.config import StrategyConfig
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig
from models.presets import PRESETS, Configs, apply_preset, preset_table

BLANK = Configs(DatasetConfig(), ModelConfig(), TrainConfig(), WalkForwardConfig(), StrategyConfig())
CLOSE_ONLY = ("open", "high", "low", "volume")


def test_fischer_krauss_is_the_papers_setup() -> None:
    got = apply_preset("fischer-krauss", BLANK, n_tickers=20)

    assert got.dataset == DatasetConfig(
        features=("ret_1",),
        timesteps=240,
        label=LabelConfig(scheme="cross_section", cs_split="median_band", cs_band=0.0, horizon=1, lag=0),
    )
    assert got.model == ModelConfig(units=(25,), dropout=0.16, optimizer="rmsprop", learning_rate=1e-3)
    assert got.training == TrainConfig(epochs=1000, patience=10, val_fraction=0.2, class_weight=False)
    assert got.walk_forward == WalkForwardConfig(window="rolling", train_days=750, retrain_every=250, test_fraction=0.5)
    assert got.strategy == StrategyConfig(portfolio="topk", topk=10, cost_bps=5.0)


@pytest.mark.parametrize(("missing", "features"), [((), "alpha360"), (CLOSE_ONLY, "alpha360_close")])
def test_qlib_lstm_is_qlibs_benchmark_with_the_features_the_data_allow(missing: tuple[str, ...], features: str) -> None:
    got = apply_preset("qlib-lstm", BLANK, n_tickers=300, missing=missing)

    assert got.dataset == DatasetConfig(
        features=(features,),
        timesteps=60,
        label=LabelConfig(scheme="cross_section", cs_split="quantiles", horizon=1, lag=1),
    )
    assert got.model == ModelConfig(units=(64, 64), dropout=0.0, optimizer="adam", learning_rate=1e-3)
    assert got.training == TrainConfig(epochs=200, patience=20, batch_size=800, val_fraction=0.2, class_weight=False)
    assert got.walk_forward == WalkForwardConfig(blocks=2, test_fraction=0.3)
    assert got.strategy == StrategyConfig(portfolio="topk_dropout", topk=50, n_drop=5, cost_bps=10.0)


def test_qlib_book_scales_with_the_universe() -> None:
    assert apply_preset("qlib-lstm", BLANK, n_tickers=20).strategy.model_dump(include={"topk", "n_drop"}) == {
        "topk": 3,
        "n_drop": 1,
    }
    assert apply_preset("qlib-lstm", BLANK, n_tickers=2).strategy.topk == 1  # never below one name


def test_explicit_fields_override_the_preset_and_only_they() -> None:
    given = Configs(
        DatasetConfig(timesteps=7, label=LabelConfig(horizon=2)),
        ModelConfig(units=(8,)),
        TrainConfig(epochs=2),
        WalkForwardConfig(blocks=3),
        StrategyConfig(topk=30),
    )

    got = apply_preset("qlib-lstm", given, n_tickers=20)

    assert (got.dataset.timesteps, got.dataset.label.horizon, got.dataset.label.lag) == (7, 2, 1)
    assert got.dataset.features == ("rel_close", "rel_open", "rel_high", "rel_low", "rel_vwap", "rel_volume")
    assert (got.model.units, got.model.dropout) == ((8,), 0.0)
    assert (got.training.epochs, got.training.batch_size) == (2, 800)
    assert (got.walk_forward.blocks, got.walk_forward.test_fraction) == (3, 0.3)
    assert (got.strategy.topk, got.strategy.n_drop) == (30, 3)  # n_drop scaled from the explicit topk
    # a value equal to the config's default still counts when given: explicit, not "differs from default"
    assert (
        apply_preset("fischer-krauss", given._replace(model=ModelConfig(dropout=0.2)), n_tickers=20).model.dropout
        == 0.2
    )


def test_no_preset_changes_nothing_and_an_unknown_one_is_named() -> None:
    assert apply_preset(None, BLANK, n_tickers=20) is BLANK
    with pytest.raises(ValueError, match=r"preset must be one of \['fischer-krauss', 'qlib-lstm'\], got preset='x'"):
        apply_preset("x", BLANK, n_tickers=20)


def test_every_setting_says_where_it_comes_from() -> None:
    for name in PRESETS:
        rows = preset_table(name)
        assert len(rows) >= 20
        assert all(note.strip() for _, _, note in rows)
    assert ("dataset.features", "alpha360 (alpha360_close on close-only data)") in [
        r[:2] for r in preset_table("qlib-lstm")
    ]


def test_docs_presets_md_shows_every_setting_as_the_code_has_it() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "presets.md").read_text()
    for name in PRESETS:
        for field, value, note in preset_table(name):
            assert f"| {field} | {value} | {note} |" in doc, (name, field)


def test_a_deployments_json_parameters_count_as_explicit() -> None:
    # Prefect validates a deployment's `--param 'dataset={"timesteps": 30}'` into a config whose fields_set is that key
    dataset = DatasetConfig.model_validate({"timesteps": 30})
    got = apply_preset("qlib-lstm", BLANK._replace(dataset=dataset), n_tickers=20)

    assert got.dataset.timesteps == 30
    assert got.dataset.label.lag == 1  # the rest still from the preset
