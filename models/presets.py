"""Research presets: published setups as defaults of the backtest's configs, in one table.

``updown backtest --preset fischer-krauss|qlib-lstm`` (and the backtest flow's ``preset`` parameter)
starts every config from the preset's values instead of the configs' own defaults; a field the
user sets explicitly wins (:func:`apply_preset`). Each value carries a one-line note: where it
comes from, and where and why it departs from the paper. docs/presets.md shows the same table.

Two values depend on the data and are settled when the prices are known
(:meth:`models.backtest.engine.Backtest.prepare`):

* :class:`CloseOnly`: the feature set to use when the prices lack open/high/low/volume
  (``alpha360`` becomes ``alpha360_close``, with one log message);
* :class:`Scaled`: a book size scaled to the universe (Qlib's top 50 of 300 stocks becomes the top
  sixth of the universe), rounded, at least ``minimum``.

Importable without Keras: the CLI builds its options from here.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, get_args

from pydantic import BaseModel

from features.alpha import FEATURE_SETS, LEVEL_NEEDS
from features.dataset import DatasetConfig
from features.labels import LabelConfig
from models.evaluation.config import StrategyConfig
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig

_log = logging.getLogger("updown")


@dataclass(frozen=True)
class CloseOnly:
    """A feature set with its stand-in for close-only prices (see the module docstring)."""

    full: str
    close_only: str


@dataclass(frozen=True)
class Scaled:
    """``round(fraction * <of>)``, at least ``minimum``; ``of``: ``"universe"`` (its tickers) or an earlier field."""

    fraction: float
    of: str = "universe"
    minimum: int = 1


@dataclass(frozen=True)
class Setting:
    """One preset value and where it comes from (and where it departs from the source, and why)."""

    value: Any
    note: str


@dataclass(frozen=True)
class Preset:
    """A named setup: config -> field -> :class:`Setting`.

    Config keys: ``dataset``, ``label`` (the dataset's label), ``model``, ``training``,
    ``walk_forward``, ``strategy``.
    """

    name: str
    summary: str
    settings: Mapping[str, Mapping[str, Setting]]
    notes: tuple[str, ...] = field(default=())


FISCHER_KRAUSS = Preset(
    name="fischer-krauss",
    summary="Fischer & Krauss (2018, EJOR): one LSTM pooled over the universe on 240 standardised daily returns, "
    "classifying each stock against the day's cross-sectional median; long the top k, short the flop k",
    settings={
        "dataset": {
            "features": Setting(
                ("ret_1",),
                "paper: the daily return; standardised by the FeatureScaler fitted on "
                "the training rows (paper: training-period mean and std; ours also clips at ±5 std)",
            ),
            "timesteps": Setting(240, "paper: sequences of 240 daily returns"),
            "cs_norm": Setting("none", "paper: no cross-sectional normalisation of the inputs"),
        },
        "label": {
            "scheme": Setting("cross_section", "paper: next-day return against the cross-section"),
            "cs_split": Setting("median_band", "paper: above / below the cross-sectional median (two classes)"),
            "cs_band": Setting(
                0.0,
                "paper's median split: with band 0 only a return equal to the median is flat "
                "(never with an even number of tickers, one a day with an odd number); the "
                "three-class model copes, the flat class just stays (nearly) empty",
            ),
            "horizon": Setting(1, "paper: next-day return"),
            "lag": Setting(
                0,
                "paper: trades at the decision close (returns from close t to close t+1); lag 1 is "
                "the safer choice where the close cannot be traded on",
            ),
        },
        "model": {
            "units": Setting((25,), "paper: one LSTM layer of 25 units"),
            "dropout": Setting(0.16, "paper: dropout 0.16"),
            "optimizer": Setting("rmsprop", "paper: RMSprop"),
            "learning_rate": Setting(1e-3, "paper: Keras's RMSprop default, 0.001"),
        },
        "training": {
            "epochs": Setting(1000, "paper: up to 1000 epochs, early stopping ends far sooner"),
            "patience": Setting(10, "paper: early stopping with patience 10"),
            "val_fraction": Setting(
                0.2,
                "paper: 80/20 split of the training data; ours is chronological (the last "
                "20% of the training dates), the paper's Keras split took the last 20% too",
            ),
            "class_weight": Setting(False, "paper: none; the median split balances up and down by construction"),
        },
        "walk_forward": {
            "window": Setting("rolling", "paper: study periods of 750 training days"),
            "train_days": Setting(750, "paper: 750 training days"),
            "retrain_every": Setting(250, "paper: 250 trading days per study period's test part"),
            "test_fraction": Setting(
                0.5,
                "departure: the paper trades every day after the first 750 (+240) days of "
                "its 23 years; ours tests the later half of the samples (set --test-fraction)",
            ),
        },
        "strategy": {
            "portfolio": Setting("topk", "paper: long the top k, short the flop k by P(up), equal weight, daily"),
            "topk": Setting(
                10,
                "paper: k = 10 of ~500 stocks; on the 20-stock sample k = 10 splits the universe at "
                "its median (every stock held): pass --topk 2 or 3 for a book as selective as the "
                "paper's",
            ),
            "cost_bps": Setting(5.0, "paper: 5 bps per share and half-turn"),
        },
    },
    notes=(
        "Universe: the paper uses month-end S&P 500 constituents (no survivorship bias); pass --universe with "
        "membership dates to do the same, the bundled sample:sp500 holds today's survivors.",
        "Batch size: not in the published summary; updown's default (256) is kept.",
    ),
)

QLIB_LSTM = Preset(
    name="qlib-lstm",
    summary="Qlib's LSTM benchmark (examples/benchmarks/LSTM/workflow_config_lstm_Alpha360.yaml): Alpha360 inputs, "
    "2x64 LSTM, cross-sectionally ranked next-day labels, TopkDropout",
    settings={
        "dataset": {
            "features": Setting(
                CloseOnly("alpha360", "alpha360_close"),
                "Qlib: Alpha360 (close/open/high/low/vwap "
                "over close_t, volume over volume_t; ours as log ratios, vwap as the typical price); "
                "alpha360_close on close-only data",
            ),
            "timesteps": Setting(60, "Qlib: 60 days (d_feat 6 x 60)"),
            "cs_norm": Setting(
                "none",
                "Qlib's RobustZScoreNorm is fitted on the training period across all stocks; "
                "ours: the FeatureScaler fitted on training rows, pooled over tickers, and the "
                "alpha360 log ratios pass through unscaled (already of order 0.01-1)",
            ),
        },
        "label": {
            "scheme": Setting(
                "cross_section",
                "Qlib: Ref($close,-2)/Ref($close,-1)-1 then CSRankNorm: ranked "
                "against the day's cross-section; departure: ours classifies terciles (cross-entropy) "
                "where Qlib regresses the rank (MSE)",
            ),
            "cs_split": Setting("quantiles", "the three-class analogue of the rank: terciles"),
            "lag": Setting(1, "Qlib: decision at close t, enter at close t+1"),
            "horizon": Setting(1, "Qlib: exit at close t+2"),
        },
        "model": {
            "units": Setting((64, 64), "Qlib: hidden_size 64, num_layers 2"),
            "dropout": Setting(0.0, "Qlib: dropout 0.0"),
            "optimizer": Setting("adam", "Qlib: Adam"),
            "learning_rate": Setting(1e-3, "Qlib: lr 1e-3"),
        },
        "training": {
            "epochs": Setting(200, "Qlib: n_epochs 200, early stopping ends sooner"),
            "patience": Setting(20, "Qlib: early_stop 20"),
            "batch_size": Setting(800, "Qlib: batch_size 800"),
            "val_fraction": Setting(
                0.2,
                "Qlib: valid 2015-2016 after train 2008-2014 (2 of 9 years); ours the last "
                "20% of each block's training dates",
            ),
            "class_weight": Setting(False, "Qlib weighs nothing; terciles are balanced by construction"),
        },
        "walk_forward": {
            "blocks": Setting(2, "departure: Qlib trains once (test 2017-2020.08); a walk-forward needs two blocks"),
            "test_fraction": Setting(0.3, "Qlib: test 3.6 of 12.6 years"),
        },
        "strategy": {
            "portfolio": Setting("topk_dropout", "Qlib: TopkDropoutStrategy"),
            "topk": Setting(Scaled(50 / 300), "Qlib: topk 50 of CSI300: a sixth of the universe, rounded, at least 1"),
            "n_drop": Setting(Scaled(5 / 50, of="topk"), "Qlib: n_drop 5 of topk 50: a tenth, at least 1"),
            "cost_bps": Setting(10.0, "Qlib: 5 bps to open + 15 bps to close: 10 bps per one-way trade on average"),
        },
    },
    notes=(
        "Qlib's TopkDropout is long-only against the benchmark; ours trades the book on each side (long/short) and "
        "reports the long book against the equal-weight universe in Qlib's table.",
        "Qlib's universe is CSI300 with point-in-time membership; pass --universe with membership dates.",
    ),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (FISCHER_KRAUSS, QLIB_LSTM)}
"""Every preset by name."""

PresetName = Literal["fischer-krauss", "qlib-lstm"]
"""The preset names, as a type (the backtest flow's ``preset`` parameter; Prefect's UI offers them)."""
if set(get_args(PresetName)) != set(PRESETS):  # pragma: no cover - a preset added to one and not the other
    raise ImportError(f"PresetName {get_args(PresetName)} must list the presets {sorted(PRESETS)}")


class Configs(NamedTuple):
    """The configs of a backtest that a preset sets."""

    dataset: DatasetConfig
    model: ModelConfig
    training: TrainConfig
    walk_forward: WalkForwardConfig
    strategy: StrategyConfig


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        ValueError: naming the preset and the known ones.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got preset={name!r}")
    return PRESETS[name]


def _explicit(config: BaseModel, *, skip: Collection[str] = ()) -> dict[str, Any]:
    """The fields set explicitly on ``config`` (pydantic's ``model_fields_set``) and their values."""
    return {name: getattr(config, name) for name in config.model_fields_set if name not in skip}


def _value(setting: Setting, *, n_tickers: int, missing: Collection[str], resolved: Mapping[str, Any]) -> Any:
    value = setting.value
    if isinstance(value, CloseOnly):
        lacking = sorted({c for n in FEATURE_SETS[value.full] for c in LEVEL_NEEDS[n] if c in missing})
        if not lacking:
            return (value.full,)
        _log.warning("close-only data (no %s): the preset uses %s instead of %s", "/".join(lacking),
                     value.close_only, value.full)  # fmt: skip
        return (value.close_only,)
    if isinstance(value, Scaled):
        base = n_tickers if value.of == "universe" else int(resolved[value.of])
        return max(value.minimum, round(value.fraction * base))
    return value


def preset_values(
    name: str,
    *,
    n_tickers: int,
    missing: Collection[str] = (),
    explicit: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Config -> field -> value of preset ``name`` for a universe of ``n_tickers`` lacking the ``missing`` columns.

    ``explicit`` (config -> field -> value) wins over the preset, and a :class:`Scaled` value of
    another field is scaled from the explicit value when there is one (``--topk 4`` scales n_drop).

    Raises:
        ValueError: for an unknown preset.
    """
    given = explicit or {}
    out: dict[str, dict[str, Any]] = {}
    preset = get_preset(name)
    for config in dict.fromkeys([*preset.settings, *given]):
        resolved: dict[str, Any] = {}
        for field_name, setting in preset.settings.get(config, {}).items():
            known = {**resolved, **given.get(config, {})}
            resolved[field_name] = _value(setting, n_tickers=n_tickers, missing=missing, resolved=known)
        out[config] = {**resolved, **given.get(config, {})}
    return out


def apply_preset(name: str | None, configs: Configs, *, n_tickers: int, missing: Collection[str] = ()) -> Configs:
    """``configs`` with every field the user did not set explicitly taken from preset ``name``.

    A field counts as explicit when it is in the config's ``model_fields_set`` (given to the
    constructor, or present in a deployment's parameter JSON); everything else comes from the
    preset when the preset has a value for it, else from the config's default.

    Args:
        name: the preset (None: ``configs`` unchanged).
        configs: the configs as the user gave them.
        n_tickers: tickers in the universe (scales the :class:`Scaled` book sizes).
        missing: price columns the data lacks (``open``, ``high``...): picks a :class:`CloseOnly` stand-in.

    Raises:
        ValueError: for an unknown preset; pydantic's ``ValidationError`` (a ``ValueError``) when an
            explicit value does not fit the preset's (e.g. ``--n-drop`` above the preset's top-k).
    """
    if name is None:
        return configs
    explicit = {
        "label": _explicit(configs.dataset.label),
        "dataset": _explicit(configs.dataset, skip=("label",)),
        "model": _explicit(configs.model),
        "training": _explicit(configs.training),
        "walk_forward": _explicit(configs.walk_forward),
        "strategy": _explicit(configs.strategy),
    }
    values = preset_values(name, n_tickers=n_tickers, missing=missing, explicit=explicit)
    label = LabelConfig.model_validate(values["label"])
    return Configs(
        dataset=DatasetConfig.model_validate({**values["dataset"], "label": label}),
        model=ModelConfig.model_validate(values["model"]),
        training=TrainConfig.model_validate(values["training"]),
        walk_forward=WalkForwardConfig.model_validate(values["walk_forward"]),
        strategy=StrategyConfig.model_validate(values["strategy"]),
    )


def preset_table(name: str) -> list[tuple[str, str, str]]:
    """``(config.field, value, note)`` rows of preset ``name``, for docs and ``--help``."""
    rows = []
    for config, settings in get_preset(name).settings.items():
        for field_name, setting in settings.items():
            value = setting.value
            if isinstance(value, CloseOnly):
                shown = f"{value.full} ({value.close_only} on close-only data)"
            elif isinstance(value, Scaled):
                shown = f"{value.fraction:.3g} x {value.of}, at least {value.minimum}"
            elif isinstance(value, tuple):
                shown = ",".join(map(str, value))
            else:
                shown = str(value)
            rows.append((f"{config}.{field_name}", shown, setting.note))
    return rows


__all__ = [
    "FISCHER_KRAUSS",
    "PRESETS",
    "QLIB_LSTM",
    "CloseOnly",
    "Configs",
    "Preset",
    "PresetName",
    "Scaled",
    "Setting",
    "apply_preset",
    "get_preset",
    "preset_table",
    "preset_values",
]
