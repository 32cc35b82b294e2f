import numpy as np
import pandas as pd
import pytest

from features.frame import (
    COLUMNS,
    PriceDataError,
    canonicalize,
    fingerprint,
    missing_columns,
    parse_tickers,
    validate_prices,
    validate_ticker,
)
from tests.support import make_prices


@pytest.mark.parametrize("ticker", ["AAPL", "^GSPC", "BRK-B", "EURUSD=X", "RDS.A", "a"])
def test_valid_tickers_pass(ticker):
    assert validate_ticker(ticker) == ticker


@pytest.mark.parametrize("ticker", ["", "../etc", "A/B", "A B", "..", "X" * 30, "AAPL\n", "ÄPPL", "A..B"])
def test_bad_tickers_are_rejected_with_the_value(ticker):
    with pytest.raises(ValueError, match="ticker must be"):
        validate_ticker(ticker)


def test_parse_tickers_strips_dedupes_and_validates():
    assert parse_tickers(" AAPL, MSFT,AAPL ,") == ["AAPL", "MSFT"]
    assert parse_tickers(None) is None
    with pytest.raises(ValueError, match="at least one"):
        parse_tickers(" , ")


def test_canonicalize_orders_types_and_fills_adj_close():
    raw = make_prices({"B": [10.0, 11.0], "A": [5.0, 6.0]}).drop(columns="adj_close").iloc[::-1]
    out = canonicalize(raw)
    assert list(out.columns) == list(COLUMNS)
    assert list(out["ticker"]) == ["A", "A", "B", "B"]
    assert out["date"].dtype == "datetime64[ns]"
    np.testing.assert_array_equal(out["adj_close"], out["close"])
    assert raw.shape[1] == 7  # input untouched


def test_validate_names_rule_ticker_and_date():
    frame = canonicalize(make_prices({"A": [5.0, 6.0, 7.0]}))
    frame.loc[1, "close"] = -1.0
    with pytest.raises(PriceDataError, match=r"positive and finite.*ticker='A' date=2020-01-02"):
        validate_prices(frame)
    frame = canonicalize(make_prices({"A": [5.0, 6.0, 7.0]}))
    frame.loc[2, "high"] = 1.0
    with pytest.raises(PriceDataError, match="low <= open, close <= high"):
        validate_prices(frame)
    dup = canonicalize(pd.concat([make_prices({"A": [5.0]}), make_prices({"A": [5.0]})]))
    with pytest.raises(PriceDataError, match="duplicate"):
        validate_prices(dup)


def test_fingerprint_changes_with_values_only():
    a = canonicalize(make_prices({"A": [5.0, 6.0]}))
    assert fingerprint(a) == fingerprint(a.copy())
    b = a.copy()
    b.loc[1, "close"] = 6.5
    assert fingerprint(a) != fingerprint(b)


def test_missing_columns_names_the_tickers_that_lack_a_column_entirely():
    prices = canonicalize(make_prices({"A": [1.0, 2.0, 3.0], "B": [4.0, 5.0, 6.0]}))
    assert missing_columns(prices) == {}
    prices.loc[prices["ticker"] == "B", ["open", "high", "low"]] = float("nan")
    prices.loc[prices.index[0], "volume"] = float("nan")  # one row of A: not missing
    assert missing_columns(prices) == {"open": ("B",), "high": ("B",), "low": ("B",)}
    assert missing_columns(prices.iloc[:0]) == {}
