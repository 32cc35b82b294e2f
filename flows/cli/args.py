"""The options of ``updown backtest`` / ``train``, generated from the configs they build.

Each option is a config field (:mod:`flows.cli.fields`): its default, bounds and help text are the
field's, so they are written once, in the config. Three options are small adapters: ``--arch``
picks an :data:`~models.learn.config.ARCHITECTURES` preset whose fields ``--units``,
``--optimizer`` and ``--learning-rate`` override; ``--features`` is checked against the feature
registry; ``--seeds`` defaults to ``--seed``. Bad input is an ``argparse`` error that names the
option and the value, so the CLI exits with status 2 and one line before any work (or any
Prefect start-up) happens.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from features.alpha import FEATURE_SETS
from features.dataset import DatasetConfig
from features.indicators import FEATURES
from features.labels import LabelConfig
from features.universe import load_universe
from flows.cli.fields import FieldOption, add_options, config_values, date_arg, field_options
from flows.settings import default_source
from models.evaluation.config import StrategyConfig
from models.learn.config import ARCHITECTURES, ModelConfig, TrainConfig, WalkForwardConfig
from models.presets import PRESETS

__all__ = [
    "DATASET_OPTIONS",
    "LABEL_OPTIONS",
    "MODEL_OPTIONS",
    "STRATEGY_OPTIONS",
    "TRAIN_ONLY",
    "TRAIN_OPTIONS",
    "WALK_FORWARD_OPTIONS",
    "DefaultsHelpFormatter",
    "build_configs",
    "data_options",
    "explicit_options",
    "model_options",
    "strategy_config",
    "walk_forward_config",
    "walk_forward_options",
]


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Shows every option's default: appends ``(default: X)`` unless the help already names it.

    Flags (``store_true``) are off unless given and options whose default is None say in words
    what they default to (``"(default: the champion's)"``), so neither gets a bare value.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "default" in text or quiet or action.nargs == 0:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def features_arg(text: str) -> tuple[str, ...]:
    """Feature names or feature-set names (``alpha360``...; :data:`features.alpha.FEATURE_SETS`)."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [n for n in names if n not in FEATURES and n not in FEATURE_SETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown features {unknown or text!r}; known: {', '.join(FEATURES)}; sets: {', '.join(FEATURE_SETS)}"
        )
    return names


def _preset_values(field: str) -> str:
    """``"single 64, stacked 128,64, ..."``: each preset's value of a ModelConfig field."""
    shown = {name: getattr(preset, field) for name, preset in ARCHITECTURES.items()}
    return ", ".join(
        f"{name} {','.join(map(str, v)) if isinstance(v, tuple) else f'{v:g}' if isinstance(v, float) else v}"
        for name, v in shown.items()
    )


# The fields not offered on the command line (set them through a flow's parameters).
NOT_OPTIONS: dict[type[Any], tuple[str, ...]] = {
    LabelConfig: ("lag", "vol_window", "k", "quantiles", "profit_take", "stop_loss"),
    DatasetConfig: ("label", "max_gap", "universe"),  # label: LABEL_OPTIONS; universe: --universe FILE
    ModelConfig: ("dropout", "bidirectional"),  # from --arch
    TrainConfig: ("batch_size", "patience", "val_fraction", "class_weight"),
    WalkForwardConfig: ("test_fraction", "test_start", "embargo"),
    StrategyConfig: (),
}
LABEL_OPTIONS = field_options(LabelConfig, exclude=NOT_OPTIONS[LabelConfig], flags={"scheme": "--label-scheme"})
DATASET_OPTIONS = field_options(DatasetConfig, exclude=NOT_OPTIONS[DatasetConfig], types_={"features": features_arg})
MODEL_OPTIONS = field_options(
    ModelConfig,
    exclude=NOT_OPTIONS[ModelConfig],
    unset={name: f"the --arch preset's: {_preset_values(name)}" for name in ("units", "optimizer", "learning_rate")},
)
TRAIN_OPTIONS = field_options(TrainConfig, exclude=NOT_OPTIONS[TrainConfig])
WALK_FORWARD_OPTIONS = field_options(
    WalkForwardConfig,
    exclude=NOT_OPTIONS[WalkForwardConfig],
    unset={"seeds": "--seed"},
    reasons={"blocks": "a walk-forward needs two blocks"},
)
STRATEGY_OPTIONS = field_options(StrategyConfig, exclude=NOT_OPTIONS[StrategyConfig])
DEFAULT_ARCH = next(name for name, preset in ARCHITECTURES.items() if preset == ModelConfig())


def data_options() -> argparse.ArgumentParser:
    """--source, --tickers, --start, --end, --allow-partial, --universe."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--source",
        default=default_source(),
        help="sample | yahoo | dir:PATH | synthetic[:key=value,...] (default: $UPDOWN_SOURCE or sample)",
    )
    data.add_argument("--tickers", help="comma-separated symbols (default: all the source has)")
    data.add_argument("--start", type=date_arg, help="first date, YYYY-MM-DD (default: the source's first)")
    data.add_argument("--end", type=date_arg, help="last date, YYYY-MM-DD (default: the source's last)")
    data.add_argument(
        "--allow-partial",
        action="store_true",
        help="go on with the tickers that could be priced when some failed (default: stop, exit 3)",
    )
    data.add_argument(
        "--universe",
        metavar="FILE",
        help="CSV with a ticker column and optional start, end membership dates: only members on each date are "
        "samples and in its cross-section; its tickers are the default --tickers (default: none)",
    )
    return data


# Training fields that only `updown train` uses: a backtest's test blocks are its held-out data.
TRAIN_ONLY = ("holdout_fraction",)


def model_options(*, backtest: bool = False) -> argparse.ArgumentParser:
    """Dataset, label, architecture and training options shared by ``backtest`` and ``train``.

    With ``backtest``, the training fields of :data:`TRAIN_ONLY` are left out (they would do nothing).
    """
    m = argparse.ArgumentParser(add_help=False)
    add_options(m, (*DATASET_OPTIONS, *LABEL_OPTIONS))
    m.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        default=DEFAULT_ARCH,
        help="architecture preset; --units, --optimizer and --learning-rate override its fields",
    )
    train = [o for o in TRAIN_OPTIONS if not (backtest and o.field in TRAIN_ONLY)]
    add_options(m, (*MODEL_OPTIONS, *train))
    return m


def explicit_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations ``argv`` sets on the command line (defaults left out).

    ``parser`` (a fresh one: its defaults are replaced) parses ``argv`` again with every default
    suppressed, so only the options given remain: a ``--preset`` yields to them and to nothing else.
    """
    _suppress_defaults(parser)
    return set(vars(parser.parse_args(list(argv))))


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _suppress_defaults(sub)
        else:
            action.default = argparse.SUPPRESS


def _values(args: argparse.Namespace, options: Iterable[FieldOption]) -> dict[str, Any]:
    """:func:`config_values`, less the options not given on the command line when ``args.explicit`` says which."""
    options = tuple(options)
    explicit = getattr(args, "explicit", None)
    if explicit is not None:
        options = tuple(o for o in options if o.dest in explicit)
    return config_values(args, options)


def build_configs(args: argparse.Namespace) -> dict[str, Any]:
    """The flow parameters ``dataset``, ``model`` and ``training`` from parsed options.

    With ``args.explicit`` (the options given, under ``--preset``), the configs hold only those
    fields (their ``model_fields_set``), so the preset fills the rest.
    """
    explicit = getattr(args, "explicit", None)
    arch = ARCHITECTURES[args.arch].model_dump() if explicit is None or "arch" in explicit else {}
    label = LabelConfig(**_values(args, LABEL_OPTIONS))
    universe = {"universe": load_universe(args.universe)} if getattr(args, "universe", None) else {}
    return {
        "dataset": DatasetConfig(label=label, **_values(args, DATASET_OPTIONS), **universe),
        "model": ModelConfig.model_validate({**arch, **_values(args, MODEL_OPTIONS)}),
        "training": TrainConfig(**_values(args, TRAIN_OPTIONS)),
    }


def walk_forward_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``backtest`` only: the walk-forward, how its predictions are traded, and ``--preset``."""
    add_options(parser, (*WALK_FORWARD_OPTIONS, *STRATEGY_OPTIONS))
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="research preset (docs/presets.md): sets the defaults of the dataset, model, training, walk-forward "
        "and strategy options; options given on the command line override it (default: none)",
    )


def strategy_config(args: argparse.Namespace) -> StrategyConfig:
    return StrategyConfig(**_values(args, STRATEGY_OPTIONS))


def walk_forward_config(args: argparse.Namespace) -> WalkForwardConfig:
    values = _values(args, WALK_FORWARD_OPTIONS)
    explicit = getattr(args, "explicit", None)
    if explicit is not None and "seed" not in explicit and "seeds" not in values:
        return WalkForwardConfig(**values)
    return WalkForwardConfig(**{**values, "seeds": values.get("seeds") or (args.seed,)})
