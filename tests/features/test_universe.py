"""Universe files, the membership mask, and build_panel under a universe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.dataset import DatasetConfig, build_panel
from features.frame import canonicalize
from features.labels import LabelConfig
from features.universe import Membership, Universe, load_universe, survivorship_warning
from tests.support import make_prices


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "universe.csv"
    path.write_text(text)
    return path


def test_load_reads_tickers_and_optional_dates(tmp_path: Path) -> None:
    path = _csv(tmp_path, "ticker,start,end\naapl,,\nENRN,1995-01-03,2001-11-30\nENRN,2003-01-02,\n")

    universe = load_universe(path)

    assert universe.tickers == ("AAPL", "ENRN")
    assert universe.dated
    assert universe.members[1] == Membership(ticker="ENRN", start=dt.date(1995, 1, 3), end=dt.date(2001, 11, 30))
    assert universe.members[2].end is None
    assert universe.name == "universe.csv"
    assert not load_universe(_csv(tmp_path, "ticker\nA\nB\n")).dated


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("symbol\nA\n", "needs a 'ticker' column, got columns ['symbol']"),
        ("ticker,weight\nA,1\n", "unknown columns ['weight']"),
        ("ticker\n", "lists no tickers"),
        ("ticker,start\nA,2020-01-01\n ,2020-01-01\n", "row 3: empty ticker"),
        ("ticker,start\nA,2020-13-01\n", "row 2: start must be a date like 2020-01-31, got '2020-13-01'"),
        ("ticker,start,end\nA,2020-02-01,2020-01-01\n", "row 2: end must be on or after start"),
        ("ticker,start,end\nA,2020-01-01,2020-06-30\nA,2020-06-01,\n", "A's membership spans overlap"),
    ],
)
def test_load_refuses_bad_files_naming_file_and_row(tmp_path: Path, text: str, message: str) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(ValueError, match="universe file") as err:
        load_universe(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_load_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_universe(tmp_path / "nope.csv")


def test_mask_is_membership_on_each_date_inclusive() -> None:
    universe = Universe(
        members=(
            Membership(ticker="A", end=dt.date(2020, 1, 2)),
            Membership(ticker="A", start=dt.date(2020, 1, 6)),
            Membership(ticker="B", start=dt.date(2020, 1, 3)),
        )
    )
    days = pd.bdate_range("2020-01-01", periods=5).to_numpy()  # Wed 1 .. Tue 7
    tickers = np.array(["A"] * 5 + ["B"] * 5 + ["C"] * 5)

    mask = universe.mask(tickers, np.concatenate([days, days, days]))

    assert mask.tolist() == [True, True, False, True, True] + [False, False, True, True, True] + [False] * 5


def test_survivorship_warning_without_membership_dates_or_on_survivor_data() -> None:
    plain = Universe(members=(Membership(ticker="A"),), name="u.csv")
    dated = Universe(members=(Membership(ticker="A", start=dt.date(2020, 1, 1)),))

    assert "u.csv has no membership dates" in str(survivorship_warning(plain, source="sample"))
    assert "today's survivors" in str(survivorship_warning(None, source="sample:sp500"))
    assert survivorship_warning(dated, source="sample:sp500") is None
    assert survivorship_warning(None, source="sample") is None


# -- build_panel under a universe ---------------------------------------------------------------

DAYS = pd.bdate_range("2020-01-01", periods=40)


def _prices(seed: int, tickers: str = "ABCDZ") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    closes = {t: list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(DAYS))))) for t in tickers}
    return canonicalize(make_prices(closes))


def _config(universe: Universe | None, *, scheme: str = "cross_section", cs_norm: str = "zscore") -> DatasetConfig:
    label = LabelConfig(scheme=scheme, horizon=1, lag=1, cs_min_tickers=2)  # type: ignore[arg-type]
    return DatasetConfig(features=("ret_1", "ret_5"), timesteps=3, label=label, cs_norm=cs_norm, universe=universe)  # type: ignore[arg-type]


def _universe(start: int, end: int, *, others: str = "ABCD") -> Universe:
    z = Membership(ticker="Z", start=DAYS[start].date(), end=DAYS[end].date())
    return Universe(members=(*(Membership(ticker=t) for t in others), z))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), start=st.integers(0, 39), length=st.integers(0, 39))
def test_membership_only_removes_rows(seed: int, start: int, length: int) -> None:
    prices = _prices(seed)
    end = min(39, start + length)
    free = build_panel(prices, _config(None, scheme="fixed", cs_norm="none"))
    masked = build_panel(prices, _config(_universe(start, end), scheme="fixed", cs_norm="none"))

    np.testing.assert_array_equal(masked.X, free.X)  # features keep every row's history
    assert set(masked.samples()) <= set(free.samples())
    assert set(masked.samples(labeled=False)) <= set(free.samples(labeled=False))
    z = (masked.keys["ticker"] == "Z").to_numpy()
    dates = masked.dates
    inside = z & (dates >= DAYS[start].to_datetime64()) & (dates <= DAYS[end].to_datetime64())
    assert (masked.label[z & ~inside] == -1).all()
    assert np.isnan(masked.forward_return[z & ~inside]).all()
    assert not masked.window_ok[z & ~inside].any()
    # where Z is a member, its fixed-band labels are untouched
    np.testing.assert_array_equal(masked.label[inside], free.label[inside])
    np.testing.assert_array_equal(masked.label[~z], free.label[~z])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    start=st.integers(0, 39),
    length=st.integers(0, 39),
    cs_norm=st.sampled_from(["zscore", "rank"]),
)
def test_labels_and_cs_features_depend_only_on_the_members_of_their_date(
    seed: int, start: int, length: int, cs_norm: str
) -> None:
    prices = _prices(seed)
    end = min(39, start + length)
    with_z = build_panel(prices, _config(_universe(start, end), cs_norm=cs_norm))
    # the same four tickers without Z at all: on every date Z is no member, they must not notice it
    without = build_panel(
        prices[prices["ticker"] != "Z"].reset_index(drop=True),
        _config(Universe(members=tuple(Membership(ticker=t) for t in "ABCD")), cs_norm=cs_norm),
    )
    rows = (with_z.keys["ticker"] != "Z").to_numpy()
    dates = with_z.dates[rows]
    z_out = (dates < DAYS[start].to_datetime64()) | (dates > DAYS[end].to_datetime64())
    np.testing.assert_array_equal(with_z.label[rows][z_out], without.label[z_out])
    np.testing.assert_allclose(with_z.X[rows][z_out], without.X[z_out], rtol=1e-12, equal_nan=True)
    # and where Z is a member it does take part: its label is the one the five-member cross-section gives it
    z_rows = ~rows & (with_z.dates >= DAYS[start].to_datetime64()) & (with_z.dates <= DAYS[end].to_datetime64())
    everyone = build_panel(prices, _config(None, cs_norm=cs_norm))
    np.testing.assert_array_equal(with_z.label[z_rows], everyone.label[z_rows])
