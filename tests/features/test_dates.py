"""Date arguments: parsing and the range checks every entry point makes, errors naming the argument."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.dates import check_not_future, check_range, parse_date

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "flows")


@pytest.mark.parametrize(("value", "parsed"), [
    ("2020-01-31", pd.Timestamp("2020-01-31")),
    (dt.date(2020, 1, 31), pd.Timestamp("2020-01-31")),
    (pd.Timestamp("2020-01-31 15:30"), pd.Timestamp("2020-01-31")),  # the time of day is dropped
    (pd.Timestamp("2020-01-31 23:00", tz="America/New_York"), pd.Timestamp("2020-01-31")),  # local date, naive
    ("20200131", pd.Timestamp("2020-01-31")),
])  # fmt: skip
def test_parse_date_gives_a_naive_midnight(value, parsed):
    got = parse_date(value, name="start")
    assert got == parsed
    assert got is not None
    assert got.tzinfo is None


@pytest.mark.parametrize("value", [None, ""])
def test_no_date_passes_through(value):
    assert parse_date(value, name="end") is None


@pytest.mark.parametrize("value", ["yesterday-ish", "2020-13-01", "2020-02-30", "NaT", [2020, 1, 31]])
def test_a_bad_date_names_the_argument_and_echoes_the_value(value):
    with pytest.raises(ValueError, match=r"^as_of must be a date") as info:
        parse_date(value, name="as_of")
    assert str(info.value) == f"as_of must be a date like 2020-01-31, got as_of={value!r}"


def test_check_range():
    jan, feb = pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-01")
    check_range(jan, feb)
    check_range(jan, jan)
    check_range(None, jan)
    check_range(feb, None)
    with pytest.raises(ValueError, match=r"^start must not be after end, got start=2020-02-01 end=2020-01-31$"):
        check_range(feb, jan)


def test_check_not_future():
    today = dt.date(2026, 12, 1)
    check_not_future(pd.Timestamp("2026-12-01"), name="as_of", today=today)
    check_not_future(None, name="as_of", today=today)
    with pytest.raises(ValueError, match=r"^as_of must not be in the future") as info:
        check_not_future(pd.Timestamp("2026-12-02"), name="as_of", today=today)
    assert str(info.value) == "as_of must not be in the future (today is 2026-12-01), got as_of=2026-12-02"


def test_date_helpers_live_in_features_dates_only():
    import features.prices.sources.base as base

    for name in ("parse_date", "check_range", "check_not_future", "DateLike"):
        assert not hasattr(base, name), f"features.prices.sources.base still exposes {name}"
    for package in (*PACKAGES, "tests", "benchmarks", "scripts"):
        for file in (REPO / package).rglob("*.py"):
            text = file.read_text(encoding="utf-8")
            for line in text.splitlines():
                if "sources.base import" in line:
                    assert not any(n in line for n in ("parse_date", "check_range", "DateLike")), f"{file}: {line}"
