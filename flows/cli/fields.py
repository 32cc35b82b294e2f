"""``argparse`` options generated from the fields of a pydantic config.

A config field is the one place for its default, its bounds and its help text; this module turns
it into an option: ``--name-with-dashes``, the type and bounds from the annotation and
constraints (``ge``/``gt``/``le``/``lt``, ``min_length``/``max_length``, ``Literal`` choices),
the default and help from the field. A bad value is refused by ``argparse`` with one line naming
the option and echoing the value (``argument --blocks: must be >= 2, got 1``), before any config
is built.

Supported annotations: ``int``, ``float``, ``bool`` (a flag: ``--name`` when the default is
False, ``--no-name`` when it is True), ``str``, ``Literal[...]``, ``datetime.date``,
``tuple[T, ...]`` (a comma-separated list, each item checked against ``T``'s bounds) and any of
them ``| None``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from features.dates import parse_date

Converter = Callable[[str], Any]


def date_arg(text: str) -> str:
    """A date in any form pandas parses, normalised to ``YYYY-MM-DD`` (what the flows accept)."""
    try:
        day = parse_date(text, name="date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if day is None:
        raise argparse.ArgumentTypeError(f"must be a date like 2020-01-31, got {text!r}")
    return day.date().isoformat()


@dataclass(frozen=True)
class Bounds:
    """The numeric constraints of a field or a list item (None = unbounded on that side)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    @classmethod
    def of(cls, metadata: Iterable[Any]) -> Bounds:
        found: dict[str, float] = {}
        for item in _flat(metadata):  # annotated_types' Ge(ge=...), Gt(gt=...), ... as pydantic keeps them
            for kind in ("ge", "gt", "le", "lt"):
                if type(item).__name__ == kind.capitalize():
                    found[kind] = getattr(item, kind)
        return cls(**found)

    def below(self, value: float) -> bool:
        """Whether ``value`` breaks the lower bound."""
        return (self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)

    def problem(self, value: float, *, interval: bool) -> str | None:
        """What is wrong with ``value`` (``"must be >= 2"``), or None when it is in bounds.

        ``interval`` names both ends at once (``"must be in (0, 1)"``), as fractions read best.
        """
        low_ok = not self.below(value)
        high_ok = (self.le is None or value <= self.le) and (self.lt is None or value < self.lt)
        if low_ok and high_ok:
            return None
        low = f"[{self.ge:g}" if self.ge is not None else (f"({self.gt:g}" if self.gt is not None else None)
        high = f"{self.le:g}]" if self.le is not None else (f"{self.lt:g})" if self.lt is not None else None)
        if interval and low and high:
            return f"must be in {low}, {high}"
        if not low_ok:
            return f"must be >= {self.ge:g}" if self.ge is not None else f"must be > {self.gt:g}"
        return f"must be <= {self.le:g}" if self.le is not None else f"must be < {self.lt:g}"


@dataclass(frozen=True)
class FieldOption:
    """One field of a config as one command-line option.

    Attributes:
        config: the pydantic model class.
        field: the field's name.
        flag: the option, ``--field-name`` unless renamed.
        kwargs: what :meth:`argparse.ArgumentParser.add_argument` gets (``type``, ``choices``,
            ``default``, ``help``, ``action``, ``dest``).
    """

    config: type[BaseModel]
    field: str
    flag: str
    kwargs: Mapping[str, Any]

    @property
    def dest(self) -> str:
        return str(self.kwargs["dest"])

    def add_to(self, parser: argparse.ArgumentParser) -> argparse.Action:
        return parser.add_argument(self.flag, **self.kwargs)


def field_options(
    config: type[BaseModel],
    *,
    exclude: Iterable[str] = (),
    flags: Mapping[str, str] | None = None,
    unset: Mapping[str, str] | None = None,
    types_: Mapping[str, Converter] | None = None,
    reasons: Mapping[str, str] | None = None,
) -> tuple[FieldOption, ...]:
    """An option for every field of ``config`` not in ``exclude``, in the fields' order.

    Args:
        config: a pydantic model class whose fields each have a ``description``.
        exclude: fields not offered on the command line.
        flags: field -> option name when ``--field-name`` is not it (``{"scheme": "--label-scheme"}``).
        unset: field -> words for a default that comes from elsewhere (the option defaults to
            None and the config gets no value: ``{"units": "the --arch preset's"}``).
        types_: field -> converter replacing the generated one (a check against a registry).
        reasons: field -> why its lower bound is what it is, added to the error for a value
            below it (``{"blocks": "a walk-forward needs two blocks"}``).

    Raises:
        TypeError: naming a field without a description or with an annotation this module
            cannot turn into an option, or a name in a mapping that is not a field.
    """
    fields = config.model_fields
    named = {*exclude, *(flags or {}), *(unset or {}), *(types_ or {}), *(reasons or {})}
    unknown = sorted(named - set(fields))
    if unknown:
        raise TypeError(f"{config.__name__} has no fields {unknown}; its fields are {list(fields)}")
    skip = set(exclude)
    return tuple(
        _option(
            config,
            name,
            info,
            flag=(flags or {}).get(name, "--" + name.replace("_", "-")),
            unset=(unset or {}).get(name),
            convert=(types_ or {}).get(name),
            reason=(reasons or {}).get(name, ""),
        )
        for name, info in fields.items()
        if name not in skip
    )


def add_options(parser: argparse.ArgumentParser, options: Iterable[FieldOption]) -> None:
    """Add each option to ``parser``."""
    for option in options:
        option.add_to(parser)


def config_values(args: argparse.Namespace, options: Iterable[FieldOption]) -> dict[str, Any]:
    """Field -> parsed value of each option, leaving out the options left unset or not offered (None)."""
    values = {o.field: getattr(args, o.dest, None) for o in options}
    return {k: v for k, v in values.items() if v is not None}


def _option(
    config: type[BaseModel],
    name: str,
    info: FieldInfo,
    *,
    flag: str,
    unset: str | None,
    convert: Converter | None,
    reason: str,
) -> FieldOption:
    if not info.description:
        raise TypeError(f"{config.__name__}.{name} needs a description: it is the option's help text")
    annotation = _without_none(info.annotation)
    default = None if unset is not None else info.get_default(call_default_factory=True)
    help_text = info.description.replace("%", "%%")
    kwargs: dict[str, Any] = {"dest": flag.lstrip("-").replace("-", "_"), "default": default}
    if annotation is bool and convert is None:
        if default:
            flag = "--no-" + flag.removeprefix("--")
            kwargs["action"] = "store_false"
        else:
            kwargs["action"] = "store_true"
        kwargs["help"] = help_text
        return FieldOption(config, name, flag, kwargs)
    if typing.get_origin(annotation) is typing.Literal and convert is None:
        kwargs["choices"] = typing.get_args(annotation)
    else:
        example = info.get_default(call_default_factory=True)  # the field's, even when the option's is None
        kwargs["type"] = convert or _converter(
            annotation, info.metadata, example=example, reason=reason, what=info.description
        )
    if typing.get_origin(annotation) is tuple:
        kwargs["metavar"] = kwargs["dest"].upper() + ",..."
    if unset is not None:
        help_text += f" (default: {unset.replace('%', '%%')})"
    elif isinstance(default, tuple):
        help_text += f" (default: {_listed(default)})"
    elif default is None and "default" not in help_text:
        help_text += " (default: none)"
    kwargs["help"] = help_text
    return FieldOption(config, name, flag, kwargs)


def _converter(annotation: Any, metadata: Sequence[Any], *, example: Any, reason: str, what: str) -> Converter:
    """A function from the option's text to a checked value, raising ``ArgumentTypeError``.

    ``what`` (the field's description) names the items in a list's error.
    """
    origin, items = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tuple and len(items) == 2 and items[1] is Ellipsis:
        item_type, item_meta = _unannotated(items[0])
        one = _converter(item_type, item_meta, example=None, reason="", what=what)
        flat = _flat(metadata)
        least = next((m.min_length for m in flat if type(m).__name__ == "MinLen"), None)
        most = next((m.max_length for m in flat if type(m).__name__ == "MaxLen"), None)
        return _ListOf(one, least, most, example=example, what=what)
    annotation, extra = _unannotated(annotation)
    bounds = Bounds.of([*metadata, *extra])
    why = f" ({reason})" if reason else ""
    if annotation is int:
        return _Number(int, bounds, why=why, example=example)
    if annotation is float:
        return _Number(float, bounds, why=why, example=example)
    if annotation is dt.date:
        return date_arg
    if annotation is str:
        return str
    raise TypeError(f"no command-line option for a field of type {annotation!r} ({what})")


@dataclass(frozen=True)
class _Number:
    kind: type[int] | type[float]
    bounds: Bounds
    why: str = ""
    example: Any = None

    @property
    def __name__(self) -> str:  # argparse names the type in some messages
        return self.kind.__name__

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            like = f" like {self.example}" if self.example is not None and self.kind is float else ""
            raise argparse.ArgumentTypeError(f"must be {what}{like}, got {text!r}") from None
        problem = self.bounds.problem(value, interval=self.kind is float)
        if problem:
            why = self.why if self.bounds.below(value) else ""
            eg = f", e.g. {self.example}" if self.kind is float and self.example is not None else ""
            shown = f"{value:g}" if self.kind is float else str(value)
            raise argparse.ArgumentTypeError(f"{problem}{why}{eg}, got {shown}")
        return value


@dataclass(frozen=True)
class _ListOf:
    item: Converter
    least: int | None
    most: int | None
    example: Any
    what: str

    @property
    def __name__(self) -> str:
        return "list"

    def __call__(self, text: str) -> tuple[Any, ...]:
        values = tuple(self.item(part.strip()) for part in text.split(",") if part.strip())
        like = f", like {_listed(self.example)}" if isinstance(self.example, tuple) else ""
        if self.least is not None and len(values) < self.least:
            least = f" (at least {self.least})" if self.least > 1 else ""
            raise argparse.ArgumentTypeError(f"must list {self.what}{least}{like}, got {text!r}")
        if self.most is not None and len(values) > self.most:
            raise argparse.ArgumentTypeError(f"must list at most {self.most} {self.what}, got {len(values)}: {text!r}")
        return values


def _without_none(annotation: Any) -> Any:
    """``X | None`` -> ``X``; anything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _unannotated(annotation: Any) -> tuple[Any, list[Any]]:
    """``Annotated[int, Field(ge=1)]`` -> ``(int, [Field(ge=1)])``."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return base, extra
    return annotation, []


def _flat(metadata: Iterable[Any]) -> list[Any]:
    """Constraints, with a ``FieldInfo`` (``Annotated[int, Field(ge=1)]``) opened into its own."""
    out: list[Any] = []
    for item in metadata:
        out.extend(_flat(item.metadata) if isinstance(item, FieldInfo) else [item])
    return out


def _listed(values: tuple[Any, ...]) -> str:
    return ",".join(str(v) for v in values)


__all__ = [
    "Bounds",
    "FieldOption",
    "add_options",
    "config_values",
    "date_arg",
    "field_options",
]


def bounded(kind: type[int] | type[float], *, ge: float | None = None, le: float | None = None) -> Converter:
    """An argparse ``type`` reading an int or float within ``[ge, le]``, refusing others in one line.

    ``--min-coverage 5`` says ``must be in [0, 1], got 5`` (as a config field's option would)
    instead of failing later, inside the flow, as a Prefect ``ParameterTypeError``.
    """
    return _Number(kind, Bounds(ge=ge, le=le))
