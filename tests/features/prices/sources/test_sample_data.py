"""Facts about the bundled real prices in ``data/sample/prices.parquet``.

Values were read off the source files (``arch`` 8.0.0, ``bokeh-sampledata`` 2026.1; see
``data/sample/README.md``). Regenerating with ``scripts/make_sample_data.py`` must keep them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.frame import COLUMNS, validate_prices

SAMPLE = Path(__file__).resolve().parents[4] / "data" / "sample" / "prices.parquet"

# ticker: (first date, last date, rows)
EXPECTED = {
    "AAPL": ("2000-03-01", "2013-03-01", 3270),
    "FB": ("2012-05-18", "2013-03-01", 196),
    "GOOG": ("2004-08-19", "2013-03-01", 2148),
    "IBM": ("2000-03-01", "2013-03-01", 3270),
    "MSFT": ("2000-03-01", "2013-03-01", 3270),
    "^GSPC": ("1999-01-04", "2018-12-31", 5031),
    "^IXIC": ("1999-01-04", "2018-12-31", 5031),
}


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE)


def _row(prices: pd.DataFrame, ticker: str, date: str) -> pd.Series:
    rows = prices[(prices["ticker"] == ticker) & (prices["date"] == pd.Timestamp(date))]
    assert len(rows) == 1, (ticker, date)
    return rows.iloc[0]


def test_file_is_small() -> None:
    assert SAMPLE.stat().st_size < 3_000_000


def test_columns_and_dtypes(prices: pd.DataFrame) -> None:
    assert list(prices.columns) == list(COLUMNS)
    assert prices["date"].dtype == np.dtype("datetime64[ns]")
    assert pd.api.types.is_string_dtype(prices["ticker"])
    assert all(type(t) is str for t in prices["ticker"].unique())
    for col in COLUMNS[2:]:
        assert prices[col].dtype == np.dtype("float64"), col
    assert (prices["date"] == prices["date"].dt.normalize()).all()


def test_canonical_contract(prices: pd.DataFrame) -> None:
    validate_prices(prices, name=str(SAMPLE))
    assert not prices.duplicated(["ticker", "date"]).any()
    keys = list(zip(prices["ticker"], prices["date"], strict=True))
    assert keys == sorted(keys)
    assert not prices.isna().to_numpy().any()


def test_prices_positive_and_inside_range(prices: pd.DataFrame) -> None:
    assert (prices[["open", "high", "low", "close", "adj_close"]] > 0).all().all()
    assert (prices["volume"] >= 0).all()
    assert (prices["low"] <= prices["open"]).all()
    assert (prices["low"] <= prices["close"]).all()
    assert (prices["open"] <= prices["high"]).all()
    assert (prices["close"] <= prices["high"]).all()


def test_tickers_ranges_and_counts(prices: pd.DataFrame) -> None:
    assert sorted(prices["ticker"].unique()) == sorted(EXPECTED)
    summary = prices.groupby("ticker").agg(first=("date", "min"), last=("date", "max"), rows=("date", "size"))
    for ticker, (first, last, rows) in EXPECTED.items():
        got = summary.loc[ticker]
        assert (got["first"], got["last"], got["rows"]) == (
            pd.Timestamp(first),
            pd.Timestamp(last),
            rows,
        ), ticker
    assert len(prices) == sum(rows for _, _, rows in EXPECTED.values())


def test_spot_values_from_sources(prices: pd.DataFrame) -> None:
    # arch sp500.csv.gz, 10/13/2008 (the +11.6% day after the October 2008 crash week).
    gspc = _row(prices, "^GSPC", "2008-10-13")
    assert gspc["open"] == 912.75
    assert gspc["high"] == 1006.929993
    assert gspc["low"] == 912.75
    assert gspc["close"] == 1003.349976
    assert gspc["adj_close"] == 1003.349976
    assert gspc["volume"] == 7263370000.0
    # arch nasdaq.csv.gz, 3/10/2000: the dot-com peak close.
    assert _row(prices, "^IXIC", "2000-03-10")["close"] == 5048.620117
    # bokeh stocks.csv.gz: Google's IPO day (opened at 100.01 against an $85 offer price).
    goog = _row(prices, "GOOG", "2004-08-19")
    assert (goog["open"], goog["close"]) == (100.01, 100.335)
    assert _row(prices, "IBM", "2013-03-01")["adj_close"] == 175.27118333217


@pytest.mark.parametrize(
    ("ticker", "before", "on"),
    [
        ("AAPL", "2000-06-20", "2000-06-21"),  # 2:1 split
        ("AAPL", "2005-02-25", "2005-02-28"),  # 2:1 split
        ("MSFT", "2003-02-14", "2003-02-18"),  # 2:1 split
    ],
)
def test_real_splits_visible_in_raw_close(prices: pd.DataFrame, ticker: str, before: str, on: str) -> None:
    a, b = _row(prices, ticker, before), _row(prices, ticker, on)
    ratio_jump = (b["close"] / b["adj_close"]) / (a["close"] / a["adj_close"])
    assert ratio_jump == pytest.approx(0.5, rel=1e-9)
    assert b["close"] < 0.7 * a["close"]  # raw close roughly halves ...
    assert b["adj_close"] > 0.9 * a["adj_close"]  # ... the adjusted one does not


def test_split_values(prices: pd.DataFrame) -> None:
    assert _row(prices, "AAPL", "2000-06-20")["close"] == 101.25
    assert _row(prices, "AAPL", "2000-06-21")["close"] == 55.63
    assert _row(prices, "AAPL", "2000-06-21")["adj_close"] == 3.5746151757502
    assert _row(prices, "MSFT", "2003-02-14")["close"] == 48.3
    assert _row(prices, "MSFT", "2003-02-18")["close"] == 24.96


def test_indices_are_unadjusted_and_fb_has_no_actions(prices: pd.DataFrame) -> None:
    for ticker in ("^GSPC", "^IXIC", "FB"):
        rows = prices[prices["ticker"] == ticker]
        assert (rows["close"] == rows["adj_close"]).all(), ticker
