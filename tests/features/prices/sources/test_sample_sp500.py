"""Facts about the bundled close-only sample ``data/sample/sp500_20.parquet`` (``sample:sp500``).

Values were read off skfolio 1.12.2's ``sp500_dataset.csv.gz`` (see ``data/sample/README.md``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.frame import COLUMNS, missing_columns, validate_prices
from features.prices.sources import get_source
from features.prices.sources.sample import SP500_DEFAULT_START, SP500_TICKERS, SampleSource

SP500 = Path(__file__).resolve().parents[4] / "data" / "sample" / "sp500_20.parquet"


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return pd.read_parquet(SP500)


def test_file_is_small() -> None:
    assert SP500.stat().st_size < 1_500_000


def test_canonical_and_close_only(prices: pd.DataFrame) -> None:
    assert list(prices.columns) == list(COLUMNS)
    assert str(prices["date"].dtype) == "datetime64[ns]"
    validate_prices(prices, name="sp500 sample")
    assert prices[["open", "high", "low", "volume"]].isna().all().all()
    assert (prices["close"] == prices["adj_close"]).all()
    assert missing_columns(prices) == {c: SP500_TICKERS for c in ("open", "high", "low", "volume")}


def test_documented_tickers_rows_and_dates(prices: pd.DataFrame) -> None:
    summary = prices.groupby("ticker").agg(first=("date", "min"), last=("date", "max"), rows=("date", "size"))
    assert tuple(summary.index) == SP500_TICKERS
    assert (summary["first"] == pd.Timestamp("1990-01-02")).all()
    assert (summary["last"] == pd.Timestamp("2022-12-28")).all()
    assert (summary["rows"] == 8313).all()
    assert len(prices) == 166_260


@pytest.mark.parametrize(
    ("ticker", "date", "close"),
    [("AAPL", "1990-01-02", 0.264), ("XOM", "1990-01-02", 4.068), ("AAPL", "2005-01-03", 0.961),
     ("UNH", "2022-12-28", 524.422), ("RRC", "2022-12-28", 24.497)],
)  # fmt: skip
def test_spot_values_from_the_source_file(prices: pd.DataFrame, ticker: str, date: str, close: float) -> None:
    row = prices[(prices["ticker"] == ticker) & (prices["date"] == pd.Timestamp(date))]
    assert row["close"].tolist() == [close]


def test_default_start_is_where_the_rounding_gets_small(prices: pd.DataFrame) -> None:
    """The documented measurement behind :data:`SP500_DEFAULT_START`: half a 0.001 tick against the price."""
    half_tick = 0.0005 / prices["close"]
    year = prices["date"].dt.year
    worst = half_tick.groupby([year, prices["ticker"]]).median().groupby(level=0).max()
    start = SP500_DEFAULT_START.year
    assert worst.loc[start:].max() < 0.0004
    assert worst.loc[start - 1] > 0.001
    ret = prices.groupby("ticker")["close"].pct_change()
    zero = (ret == 0).groupby(year).mean()
    assert zero.loc[start:].max() < 0.015 < 0.1 < zero.loc[1990]


def test_source_spec_reads_the_set() -> None:
    source = get_source("sample:sp500")
    assert isinstance(source, SampleSource)
    assert source.name == "sample:sp500"
    out = source.fetch(["JPM", "KO"], "2022-12-01", "2022-12-28")
    assert sorted(out["ticker"].unique()) == ["JPM", "KO"]
    assert len(out) == 2 * 19  # trading days 2022-12-01 .. 2022-12-28
    assert get_source("sample").name == "sample"
    assert np.isnan(out["volume"]).all()


@pytest.mark.parametrize("spec", ["sample:nope", "sample:prices"])
def test_unknown_sample_sets_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"sample:sp500.*got source="):
        get_source(spec)


def test_the_set_starts_in_2005_unless_an_earlier_start_is_asked_for():
    source = SampleSource(set_name="sp500")
    assert source.fetch(["KO"])["date"].min() == pd.Timestamp("2005-01-03")  # first trading day from 2005
    assert source.fetch(["KO"], "1990-01-01")["date"].min() == pd.Timestamp("1990-01-02")
