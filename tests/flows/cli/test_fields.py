"""Options generated from pydantic fields: names, types, bounds, defaults, help and the errors."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from flows.cli.fields import Bounds, add_options, config_values, date_arg, field_options


class Knobs(BaseModel):
    count: int = Field(3, ge=2, le=10, description="how many")
    rate: float = Field(0.5, gt=0, lt=1, description="a share (50% = 0.5)")
    mode: Literal["a", "b"] = Field("a", description="which mode")
    loud: bool = Field(False, description="say more")
    quiet_default_on: bool = Field(True, description="the usual")
    sizes: tuple[Annotated[int, Field(ge=1)], ...] = Field((4, 2), min_length=1, max_length=3, description="sizes")
    limit: int | None = Field(None, ge=5, description="an optional cap")
    day: dt.date | None = Field(None, description="a day (default: today)")


def _error(argv: list[str], capsys: pytest.CaptureFixture[str], **kwargs: object) -> str:
    parser = argparse.ArgumentParser(prog="knobs")
    add_options(parser, field_options(Knobs, **kwargs))  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def test_option_names_defaults_and_help_come_from_the_fields() -> None:
    options = {o.field: o for o in field_options(Knobs)}

    assert [o.flag for o in options.values()] == [
        "--count",
        "--rate",
        "--mode",
        "--loud",
        "--no-quiet-default-on",
        "--sizes",
        "--limit",
        "--day",
    ]
    assert options["count"].kwargs["default"] == 3
    assert options["count"].kwargs["help"] == "how many"
    assert options["rate"].kwargs["help"] == "a share (50%% = 0.5)"  # argparse formats help with %
    assert options["mode"].kwargs["choices"] == ("a", "b")
    assert options["loud"].kwargs["action"] == "store_true"
    assert options["quiet_default_on"].kwargs["action"] == "store_false"
    assert options["sizes"].kwargs["help"] == "sizes (default: 4,2)"
    assert options["limit"].kwargs["help"] == "an optional cap (default: none)"
    assert options["day"].kwargs["help"] == "a day (default: today)"
    assert options["day"].kwargs["type"] is date_arg


def test_parsed_values_build_the_config() -> None:
    options = field_options(Knobs)
    parser = argparse.ArgumentParser()
    add_options(parser, options)

    argv = ["--count", "4", "--rate", "0.25", "--mode", "b", "--loud", "--no-quiet-default-on"]
    args = parser.parse_args([*argv, "--sizes", "8, 4,2", "--limit", "7", "--day", "2020/01/31"])
    assert Knobs(**config_values(args, options)) == Knobs(
        count=4, rate=0.25, mode="b", loud=True, quiet_default_on=False, sizes=(8, 4, 2), limit=7, day="2020-01-31"
    )
    assert Knobs(**config_values(parser.parse_args([]), options)) == Knobs()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--count", "1"], "argument --count: must be >= 2, got 1"),
        (["--count", "11"], "argument --count: must be <= 10, got 11"),
        (["--count", "1000000"], "argument --count: must be <= 10, got 1000000"),
        (["--count", "2.5"], "argument --count: must be a whole number, got '2.5'"),
        (["--rate", "1"], "argument --rate: must be in (0, 1), e.g. 0.5, got 1"),
        (["--rate", "half"], "argument --rate: must be a number like 0.5, got 'half'"),
        (["--sizes", "4,0"], "argument --sizes: must be >= 1, got 0"),
        (["--sizes", ","], "argument --sizes: must list sizes, like 4,2, got ','"),
        (["--sizes", "1,2,3,4"], "argument --sizes: must list at most 3 sizes, got 4: '1,2,3,4'"),
        (["--limit", "4"], "argument --limit: must be >= 5, got 4"),
        (["--day", "2020-13-45"], "argument --day: date"),
    ],
)
def test_bad_values_are_one_line_naming_the_option_and_value(argv, message, capsys) -> None:
    assert _error(argv, capsys).startswith(f"knobs: error: {message}")


def test_a_reason_explains_a_bound(capsys) -> None:
    line = _error(["--count", "1"], capsys, reasons={"count": "a pair at least"})
    assert line == "knobs: error: argument --count: must be >= 2 (a pair at least), got 1"
    line = _error(["--count", "11"], capsys, reasons={"count": "a pair at least"})
    assert line == "knobs: error: argument --count: must be <= 10, got 11"  # the reason is the floor's


def test_exclude_rename_unset_and_custom_type() -> None:
    def upper(text: str) -> str:
        return text.upper()

    options = field_options(
        Knobs,
        exclude=("loud", "quiet_default_on", "sizes", "limit", "day"),
        flags={"mode": "--knob-mode"},
        unset={"count": "the preset's"},
        types_={"rate": upper},
    )
    by_field = {o.field: o for o in options}

    assert list(by_field) == ["count", "rate", "mode"]
    assert by_field["mode"].flag == "--knob-mode"
    assert by_field["mode"].dest == "knob_mode"
    assert by_field["count"].kwargs["default"] is None
    assert by_field["count"].kwargs["help"] == "how many (default: the preset's)"
    assert by_field["rate"].kwargs["type"] is upper
    parser = argparse.ArgumentParser()
    add_options(parser, options)
    assert config_values(parser.parse_args(["--knob-mode", "b"]), options) == {"rate": 0.5, "mode": "b"}


def test_a_field_needs_a_description_and_mappings_need_fields() -> None:
    class Bare(BaseModel):
        n: int = 1

    with pytest.raises(TypeError, match=r"Bare\.n needs a description"):
        field_options(Bare)
    with pytest.raises(TypeError, match=r"no fields \['nope'\]"):
        field_options(Knobs, exclude=("nope",))


def test_an_unsupported_annotation_is_refused() -> None:
    class Odd(BaseModel):
        pair: dict[str, int] = Field(default_factory=dict, description="a mapping")

    with pytest.raises(TypeError, match="no command-line option"):
        field_options(Odd)


def test_bounds_read_the_constraints() -> None:
    assert Bounds.of(Knobs.model_fields["count"].metadata) == Bounds(ge=2, le=10)
    assert Bounds.of(Knobs.model_fields["rate"].metadata).problem(1.0, interval=True) == "must be in (0, 1)"
    assert Bounds(ge=0, le=1).problem(1.5, interval=True) == "must be in [0, 1]"
    assert Bounds(gt=0).problem(0, interval=False) == "must be > 0"
    assert Bounds(lt=3).problem(3, interval=False) == "must be < 3"
    assert Bounds(ge=0, le=1).problem(0.5, interval=True) is None
