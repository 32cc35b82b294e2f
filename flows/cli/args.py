"""Argument types and option groups of the ``updown`` CLI, and the configs they build.

Each type converter turns bad input into an ``argparse`` error that names the value, so the CLI
exits with status 2 and one line before any work (or any Prefect start-up) happens.
"""

from __future__ import annotations

import argparse
from typing import Any

from features.dataset import DatasetConfig
from features.dates import parse_date
from features.indicators import DEFAULT_FEATURES, FEATURES
from features.labels import LabelConfig
from flows.settings import default_source
from models.learn.config import ARCHITECTURES, ModelConfig, TrainConfig, WalkForwardConfig


def date_arg(text: str) -> str:
    """A date in any form pandas parses, normalised to ``YYYY-MM-DD`` (what the flows accept)."""
    try:
        day = parse_date(text, name="date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if day is None:
        raise argparse.ArgumentTypeError(f"must be a date like 2020-01-31, got {text!r}")
    return day.date().isoformat()


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


def _integer(text: str, *, minimum: int, why: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}{why}, got {value}")
    return value


def positive(text: str) -> int:
    return _integer(text, minimum=1)


def seed_arg(text: str) -> int:
    return _integer(text, minimum=0)


def blocks_arg(text: str) -> int:
    return _integer(text, minimum=2, why=" (a walk-forward needs two blocks)")


def units_arg(text: str) -> tuple[int, ...]:
    units = tuple(positive(p) for p in text.split(",") if p.strip())
    if not units:
        raise argparse.ArgumentTypeError(f"must list LSTM sizes like 128,64, got {text!r}")
    return units


def _fraction(text: str, *, example: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number like {example}, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), e.g. {example}, got {value}")
    return value


def band_arg(text: str) -> float:
    return _fraction(text, example="0.01 for ±1%")


def learning_rate_arg(text: str) -> float:
    return _fraction(text, example="0.001")


def features_arg(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown features {unknown or text!r}; known: {', '.join(FEATURES)}")
    return names


def data_options() -> argparse.ArgumentParser:
    """--source, --tickers, --start, --end."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--source",
        default=default_source(),
        help="sample | yahoo | dir:PATH | synthetic[:key=value,...] (default: $UPDOWN_SOURCE or sample)",
    )
    data.add_argument("--tickers", help="comma-separated symbols (default: all the source has)")
    data.add_argument("--start", type=date_arg, help="first date, YYYY-MM-DD (default: the source's first)")
    data.add_argument("--end", type=date_arg, help="last date, YYYY-MM-DD (default: the source's last)")
    return data


def model_options() -> argparse.ArgumentParser:
    """Dataset, architecture and training options shared by ``backtest`` and ``train``."""
    m = argparse.ArgumentParser(add_help=False)
    m.add_argument("--epochs", type=positive, default=8, help="cap on training epochs; early stopping may end sooner")
    m.add_argument("--timesteps", type=positive, default=30, help="trading days per input window")
    m.add_argument("--horizon", type=positive, default=5, help="label horizon in trading days")
    m.add_argument("--band", type=band_arg, default=0.01, help="flat band half-width (default: 0.01 = ±1%%)")
    m.add_argument(
        "--label-scheme",
        choices=("fixed", "volatility", "quantile", "triple_barrier"),
        default="fixed",
        help="how returns become down/flat/up, see docs/features.md (default: fixed ±band)",
    )
    m.add_argument(
        "--features",
        type=features_arg,
        help=f"comma-separated feature names (default: {','.join(DEFAULT_FEATURES)})",
    )
    m.add_argument("--arch", choices=sorted(ARCHITECTURES), default="stacked", help="architecture preset")
    m.add_argument("--units", type=units_arg, help="LSTM sizes, e.g. 128,64 (default: the architecture's)")
    m.add_argument(
        "--optimizer",
        choices=("adam", "rmsprop"),
        help="optimiser (default: the architecture's, rmsprop for bidirectional)",
    )
    m.add_argument("--learning-rate", type=learning_rate_arg, help="optimiser step size (default: 0.001)")
    m.add_argument(
        "--lr-schedule",
        choices=("constant", "plateau", "cosine"),
        default="constant",
        help="plateau halves the rate when validation loss stalls; cosine decays it over the epochs",
    )
    m.add_argument("--calibrate", action="store_true", help="temperature-scale probabilities on the validation slice")
    m.add_argument("--seed", type=seed_arg, default=0, help="random seed")
    return m


def build_configs(args: argparse.Namespace) -> dict[str, Any]:
    """The flow parameters ``dataset``, ``model`` and ``training`` from parsed options."""
    preset = ARCHITECTURES[args.arch]
    overrides = {
        k: v
        for k, v in (("units", args.units), ("optimizer", args.optimizer), ("learning_rate", args.learning_rate))
        if v is not None
    }
    return {
        "dataset": DatasetConfig(
            timesteps=args.timesteps,
            label=LabelConfig(horizon=args.horizon, band=args.band, scheme=args.label_scheme),
            **({"features": args.features} if args.features else {}),
        ),
        "model": ModelConfig.model_validate({**preset.model_dump(), **overrides}),
        "training": TrainConfig(
            epochs=args.epochs, seed=args.seed, lr_schedule=args.lr_schedule, calibrate=args.calibrate
        ),
    }


def seeds_arg(text: str) -> tuple[int, ...]:
    seeds = tuple(seed_arg(p) for p in text.split(",") if p.strip())
    if not seeds:
        raise argparse.ArgumentTypeError(f"must list seeds like 0,1,2, got {text!r}")
    return seeds


def walk_forward_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``backtest`` only."""
    parser.add_argument("--blocks", type=blocks_arg, default=3, help="walk-forward blocks, >= 2")
    parser.add_argument(
        "--retrain-every", type=positive, help="retrain every N trading days, overriding --blocks (default: off)"
    )
    parser.add_argument("--window", choices=("expanding", "rolling"), default="expanding", help="training window")
    parser.add_argument(
        "--train-days", type=positive, help="trading days of a rolling window (default: none, rolling needs it)"
    )
    parser.add_argument("--warm-start", action="store_true", help="start each block from the previous block's model")
    parser.add_argument("--seeds", type=seeds_arg, help="repeat with these seeds, e.g. 0,1,2 (default: --seed)")


def walk_forward_config(args: argparse.Namespace) -> WalkForwardConfig:
    return WalkForwardConfig(
        blocks=args.blocks,
        retrain_every=args.retrain_every,
        window=args.window,
        train_days=args.train_days,
        warm_start=args.warm_start,
        seeds=args.seeds or (args.seed,),
    )
