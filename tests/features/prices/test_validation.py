"""The validation policy: which rows are rejected, which are flagged, and what the report says."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.frame import COLUMNS, PriceDataError, canonicalize, validate_prices
from features.prices.validation import (
    ValidationPolicy,
    flag_suspicious,
    flag_with_history,
    reject_invalid,
    validate,
)
from tests.support import make_prices

NAN, INF = float("nan"), float("inf")


def frame(rows: list[tuple[str, str, float, float, float, float, float, float]]) -> pd.DataFrame:
    """Rows of (date, ticker, open, high, low, close, adj_close, volume), in the given order."""
    return pd.DataFrame(rows, columns=list(COLUMNS))


GOOD = ("2024-01-02", "A", 10.0, 11.0, 9.0, 10.5, 10.4, 100.0)


def issues(found: list) -> list[tuple[str, str, str, str]]:
    return [(i.ticker, f"{i.date:%Y-%m-%d}", i.rule, i.action) for i in found]


@pytest.mark.parametrize(
    ("row", "rule", "detail"),
    [
        (("2024-01-03", "A", 10, 11, 9, NAN, NAN, 5e6), "missing_price", "close, adj_close missing"),
        (("2024-01-03", "A", 10, INF, 9, 10, 10, 100), "non_finite_price", "high infinite"),
        (("2024-01-03", "A", 10, 11, 9, 0.0, 10, 100), "non_positive_price", "close <= 0"),
        (("2024-01-03", "A", -1, 11, 9, 10, 10, 100), "non_positive_price", "open <= 0"),
        (("2024-01-03", "A", 10, 11, 9, 12, 10, 100), "high_low", "need low <= open, close <= high; got 10/11/9/12"),
        (("2024-01-03", "A", 8, 11, 9, 10, 10, 100), "high_low", "need low <= open, close <= high; got 8/11/9/10"),
        (("2024-01-03", "A", 10, 11, 9, 10, 10, -5), "negative_volume", "volume -5 < 0"),
        (("2024-01-03", "A", NAN, 11, 9, 10, 10, 100), "missing_price", "open missing"),
        (("2024-01-03", "A", 10, NAN, NAN, 10, 10, 100), "missing_price", "high, low missing"),
        (("2024-01-03", "A", NAN, NAN, NAN, NAN, 10, NAN), "missing_price", "close missing"),
        (("2024-01-03", "A", NAN, NAN, NAN, 0.0, 10, NAN), "non_positive_price", "close <= 0"),
        (("2024-01-03", "A", NAN, NAN, NAN, 10, INF, NAN), "non_finite_price", "adj_close infinite"),
    ],
)
def test_each_invalid_row_is_rejected_with_its_rule(row: tuple, rule: str, detail: str) -> None:
    clean, rejected = reject_invalid(frame([GOOD, row]))

    assert issues(rejected) == [("A", "2024-01-03", rule, "rejected")]
    assert rejected[0].detail.startswith(detail)
    assert clean["date"].tolist() == [pd.Timestamp("2024-01-02")]
    validate_prices(clean)


def test_nan_volume_is_not_a_reason_to_reject() -> None:
    clean, rejected = reject_invalid(frame([(*GOOD[:7], NAN)]))

    assert rejected == []
    assert len(clean) == 1


def test_close_only_rows_pass_and_are_still_checked_on_their_closes() -> None:
    rows = [
        ("2024-01-02", "C", NAN, NAN, NAN, 10.0, 9.0, NAN),
        ("2024-01-03", "C", NAN, NAN, NAN, 20.0, 18.0, NAN),  # +100%: flagged, not rejected
        ("2024-01-04", "C", NAN, NAN, NAN, -1.0, 18.0, NAN),  # a bad close is still rejected
    ]
    result = validate(frame(rows))

    assert result.clean["close"].tolist() == [10.0, 20.0]
    assert result.clean[["open", "high", "low", "volume"]].isna().all().all()
    assert issues(list(result.rejected)) == [("C", "2024-01-04", "non_positive_price", "rejected")]
    assert issues(list(result.flagged)) == [("C", "2024-01-03", "jump", "flagged")]
    validate_prices(result.clean)


def test_validate_prices_allows_close_only_rows_but_not_half_ohlc() -> None:
    close_only = canonicalize(frame([("2024-01-02", "C", NAN, NAN, NAN, 10.0, 9.0, NAN)]))
    assert validate_prices(close_only) is close_only
    half = canonicalize(frame([("2024-01-02", "C", NAN, 11.0, 9.0, 10.0, 9.0, NAN)]))
    with pytest.raises(PriceDataError, match="positive and finite"):
        validate_prices(half)


def test_duplicates_exact_copies_keep_one_conflicting_copies_keep_none() -> None:
    rows = [
        GOOD,
        ("2024-01-03", "A", 10, 11, 9, 10.5, 10.4, 100),
        ("2024-01-03", "A", 10, 11, 9, 10.5, 10.4, 100),  # exact copy: dropped, first kept
        ("2024-01-04", "A", 10, 11, 9, 10.5, 10.4, 100),
        ("2024-01-04", "A", 10, 11, 9, 10.6, 10.5, 120),  # conflict: both dropped
        ("2024-01-04", "B", 10, 11, 9, 10.6, 10.5, 120),  # same date, other ticker: fine
    ]

    clean, rejected = reject_invalid(frame(rows))

    assert issues(rejected) == [
        ("A", "2024-01-03", "duplicate_date", "rejected"),
        ("A", "2024-01-04", "duplicate_date", "rejected"),
        ("A", "2024-01-04", "duplicate_date", "rejected"),
    ]
    assert rejected[0].detail == "exact copy of an earlier row; the first copy is kept"
    assert "different values" in rejected[1].detail
    assert list(zip(clean["ticker"], clean["date"].dt.strftime("%m-%d"), strict=True)) == [
        ("A", "01-02"),
        ("A", "01-03"),
        ("B", "01-04"),
    ]


def test_a_duplicate_of_an_invalid_row_does_not_take_the_valid_one_down() -> None:
    rows = [GOOD, ("2024-01-02", "A", 10, 11, 9, NAN, NAN, 100)]

    clean, rejected = reject_invalid(frame(rows))

    assert issues(rejected) == [("A", "2024-01-02", "missing_price", "rejected")]
    assert len(clean) == 1


def test_rows_out_of_order_are_rejected_per_ticker() -> None:
    rows = [
        ("2024-01-02", "A", 10, 11, 9, 10, 10, 1),
        ("2024-01-05", "A", 10, 11, 9, 10, 10, 1),
        ("2024-01-01", "B", 10, 11, 9, 10, 10, 1),  # another ticker may start earlier
        ("2024-01-03", "A", 10, 11, 9, 10, 10, 1),  # before 01-05, which came first
        ("2024-01-08", "A", 10, 11, 9, 10, 10, 1),
    ]

    clean, rejected = reject_invalid(frame(rows))

    assert issues(rejected) == [("A", "2024-01-03", "unsorted", "rejected")]
    assert len(clean) == 4
    validate_prices(clean)


def test_reversed_rows_keep_only_each_tickers_first_row() -> None:
    prices = make_prices({"A": [10.0, 11.0, 12.0], "B": [5.0, 5.5, 6.0]})

    clean, rejected = reject_invalid(prices.iloc[::-1])

    assert [(i.ticker, i.rule) for i in rejected] == [("A", "unsorted")] * 2 + [("B", "unsorted")] * 2
    assert clean["close"].tolist() == [12.0, 6.0]


def test_a_row_is_reported_once_for_its_first_rule() -> None:
    _, rejected = reject_invalid(frame([("2024-01-03", "A", NAN, 11, 9, -1, 10, -5)]))

    assert issues(rejected) == [("A", "2024-01-03", "missing_price", "rejected")]


def test_missing_column_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"missing columns \['volume'\]"):
        reject_invalid(frame([GOOD]).drop(columns="volume"))


def test_valid_input_passes_unchanged() -> None:
    prices = make_prices({"A": [10.0, 11.0, 12.0], "B": [5.0, 5.5, 6.0]})

    clean, rejected = reject_invalid(prices)

    assert rejected == []
    pd.testing.assert_frame_equal(clean, canonicalize(prices))


# -- suspicious rows ----------------------------------------------------------------------------


def test_jump_beyond_the_threshold_is_flagged_not_dropped() -> None:
    prices = make_prices({"A": [10.0, 10.5, 16.0, 15.8], "B": [10.0, 14.0, 14.1, 14.2]})

    flagged = flag_suspicious(prices, policy=ValidationPolicy(max_move=0.4))

    assert issues(flagged) == [("A", "2020-01-03", "jump", "flagged")]
    assert flagged[0].detail == "adj_close moved +52.4% from 2020-01-02"


def test_first_row_of_a_ticker_is_not_compared_with_the_previous_ticker() -> None:
    prices = make_prices({"A": [100.0, 100.0], "B": [1.0, 1.0]})

    assert flag_suspicious(prices) == []


def test_a_split_that_day_explains_a_jump_in_raw_prices() -> None:
    prices = make_prices({"A": [100.0, 101.0, 50.0, 51.0]})  # a 2:1 split, not adjusted
    events = pd.DataFrame(
        {"date": [pd.Timestamp("2020-01-03")], "ticker": ["A"], "dividend": [0.0], "split_ratio": [2.0]}
    )

    assert flag_suspicious(prices, events=events) == []
    wrong_ratio = events.assign(split_ratio=4.0)
    flagged = flag_suspicious(prices, events=wrong_ratio)
    assert issues(flagged) == [("A", "2020-01-03", "jump", "flagged")]
    assert "a 4:1 split that day does not explain it" in flagged[0].detail


def test_close_jumps_count_only_when_the_source_reports_splits() -> None:
    prices = make_prices({"A": [100.0, 101.0, 50.0]}).assign(adj_close=[50.0, 50.5, 50.0])

    assert flag_suspicious(prices, events=None) == []  # adj_close is smooth; no split list to check close
    no_events = pd.DataFrame(columns=["date", "ticker", "dividend", "split_ratio"])
    flagged = flag_suspicious(prices, events=no_events)
    assert issues(flagged) == [("A", "2020-01-03", "jump", "flagged")]
    assert flagged[0].detail.startswith("close moved -50.5%")


def test_stale_run_flags_the_repeats_from_the_threshold_on() -> None:
    short = make_prices({"A": [10.0, 11.0, 11.0, 11.0, 11.0, 12.0]})  # 4 equal closes
    long = make_prices({"A": [10.0, 11.0, 11.0, 11.0, 11.0, 11.0, 12.0]})  # 5 equal closes

    assert flag_suspicious(short, policy=ValidationPolicy(stale_days=5)) == []
    flagged = flag_suspicious(long, policy=ValidationPolicy(stale_days=5))
    assert issues(flagged) == [("A", f"2020-01-{d:02d}", "stale", "flagged") for d in (3, 6, 7, 8)]
    assert flagged[0].detail == "close 11 unchanged for 5 rows in a row"


def test_gap_against_the_tickers_own_history() -> None:
    prices = make_prices({"A": [10.0, 10.1, 10.2]})
    late = prices.copy()
    late.loc[2, "date"] = pd.Timestamp("2020-01-20")  # 2020-01-02 .. 2020-01-20: 11 weekdays between

    assert flag_suspicious(late, policy=ValidationPolicy(max_gap_days=11)) == []
    flagged = flag_suspicious(late, policy=ValidationPolicy(max_gap_days=10))
    assert issues(flagged) == [("A", "2020-01-20", "gap", "flagged")]
    assert flagged[0].detail == "11 weekdays without a price since 2020-01-02"


def test_only_the_rows_asked_for_are_reported() -> None:
    prices = make_prices({"A": [10.0, 20.0, 20.5, 40.0]})

    assert len(flag_suspicious(prices)) == 2
    flagged = flag_suspicious(prices, report=np.array([False, False, True, True]))
    assert issues(flagged) == [("A", "2020-01-06", "jump", "flagged")]


def test_validate_compares_the_first_new_row_with_the_stored_history() -> None:
    history = make_prices({"A": [10.0, 10.2]})
    new = make_prices({"A": [10.2, 20.0]}, start="2020-01-02")

    result = validate(new, history=history)

    assert issues(list(result.flagged)) == [("A", "2020-01-03", "jump", "flagged")]
    assert result.rejected == ()
    pd.testing.assert_frame_equal(result.clean, canonicalize(new))


def test_flag_with_history_reports_only_the_asked_rows_of_the_new_frame() -> None:
    history = canonicalize(make_prices({"A": [10.0, 20.0, 20.2]}))  # 10 -> 20 is a stored jump: not reported
    new = canonicalize(make_prices({"A": [20.2, 40.0, 40.1]}, start="2020-01-03"))  # overlaps the last stored day

    assert issues(flag_with_history(new, history=history)) == [("A", "2020-01-06", "jump", "flagged")]
    assert flag_with_history(new, history=history, report=np.array([True, False, True])) == []
    # the first new row is compared with the last stored one, which only the history knows
    after = new.iloc[1:]
    assert issues(flag_with_history(after, history=history)) == [("A", "2020-01-06", "jump", "flagged")]
    assert flag_with_history(after) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"max_move": 0.0}, "max_move"), ({"stale_days": 1}, "stale_days"), ({"max_gap_days": 0}, "max_gap_days")],
)
def test_policy_rejects_nonsense_thresholds(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ValidationPolicy(**kwargs)


def test_issue_is_json_ready() -> None:
    _, rejected = reject_invalid(frame([("2024-01-03", "A", 10, 11, 9, NAN, NAN, 1)]))

    assert rejected[0].to_dict() == {
        "ticker": "A",
        "date": "2024-01-03",
        "rule": "missing_price",
        "action": "rejected",
        "detail": "close, adj_close missing",
    }
    assert rejected[0].date == dt.date(2024, 1, 3)
