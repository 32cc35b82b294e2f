"""What every source shares: cutting a frame to tickers and dates, the still-forming bar rule, events."""

import pandas as pd
import pytest

from features.prices.sources.base import SourceError, canonical_events, empty_events, select, still_forming
from tests.support import make_prices


def test_select_cuts_to_tickers_and_an_inclusive_range():
    frame = make_prices({"B": [10.0, 11.0, 12.0], "A": [1.0, 2.0, 3.0]})  # 2020-01-01 .. 2020-01-03
    out = select(frame, ["A"], "2020-01-02", "2020-01-03", name="test")
    assert out["ticker"].tolist() == ["A", "A"]
    assert out["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-02", "2020-01-03"]
    assert out["close"].tolist() == [2.0, 3.0]
    assert len(select(frame, None, None, None, name="test")) == 6
    with pytest.raises(SourceError, match=r"source 'test' has no prices for \['C'\]; it has \['A', 'B'\]"):
        select(frame, ["A", "C"], None, None, name="test")
    with pytest.raises(ValueError, match="start must not be after end"):
        select(frame, None, "2020-01-03", "2020-01-01", name="test")
    with pytest.raises(ValueError, match="got end='later'"):
        select(frame, None, None, "later", name="test")


def test_canonical_events_fill_defaults_drop_empty_rows_and_keep_the_last_duplicate():
    raw = pd.DataFrame({
        "date": ["2020-01-03", "2020-01-02", "2020-01-02", "2020-01-06", "2020-01-07"],
        "ticker": ["B", "A", "A", "A", "A"],
        "dividend": [0.5, 0.1, 0.2, None, 0.0],
        "split_ratio": [None, 1.0, 1.0, 0.0, 2.0],
    })  # fmt: skip
    out = canonical_events(raw)
    assert list(out.columns) == ["date", "ticker", "dividend", "split_ratio"]
    assert out.to_dict("list") == {
        "date": [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-07"), pd.Timestamp("2020-01-03")],
        "ticker": ["A", "A", "B"],
        "dividend": [0.2, 0.0, 0.5],  # of the two A rows on 01-02 the last wins; 01-06 had neither
        "split_ratio": [1.0, 2.0, 1.0],
    }
    only_dividends = canonical_events(pd.DataFrame({"date": ["2020-01-02"], "ticker": ["A"], "dividend": [0.3]}))
    assert only_dividends["split_ratio"].tolist() == [1.0]
    empty = empty_events()
    assert empty.empty
    assert list(empty.columns) == ["date", "ticker", "dividend", "split_ratio"]
    dtypes = [str(empty[c].dtype) for c in ("date", "dividend", "split_ratio")]
    assert dtypes == ["datetime64[ns]", "float64", "float64"]
    assert pd.api.types.is_string_dtype(empty["ticker"])


def test_still_forming_refuses_naive_times():
    index = pd.DatetimeIndex(["2024-01-05"])
    with pytest.raises(ValueError, match="index must be time-zone aware"):
        still_forming(index, now=pd.Timestamp("2024-01-05 17:00", tz="UTC").to_pydatetime())
    with pytest.raises(ValueError, match="now must return a time-zone aware datetime"):
        still_forming(index.tz_localize("UTC"), now=pd.Timestamp("2024-01-05 17:00").to_pydatetime())


def test_a_grace_period_keeps_the_bar_forming_after_the_close():
    index = pd.DatetimeIndex(["2024-01-05", "2024-01-08"]).tz_localize("America/New_York")
    now = pd.Timestamp("2024-01-05 16:10", tz="America/New_York").to_pydatetime()
    assert still_forming(index, now=now).tolist() == [False, True]  # a bar dated after today never is final
    assert still_forming(index, now=now, grace=pd.Timedelta(minutes=15)).tolist() == [True, True]


@pytest.mark.parametrize(
    ("tz", "now", "session_end", "forming"),
    [
        ("America/New_York", "2024-01-05 15:59", None, True),  # no meta: New York closes at 16:00
        ("America/New_York", "2024-01-05 16:00", None, False),
        ("America/New_York", "2024-01-05 12:59", "2024-01-05 13:00", True),  # half day, from the meta
        ("America/New_York", "2024-01-05 13:00", "2024-01-05 13:00", False),
        ("America/New_York", "2024-01-05 16:30", "2024-01-04 16:00", False),  # stale meta is ignored
        ("Europe/London", "2024-01-05 23:59", None, True),  # unknown close: open until midnight
        ("Europe/London", "2024-01-06 00:00", None, False),
    ],
)
def test_still_forming_rule(tz: str, now: str, session_end: str | None, forming: bool) -> None:
    index = pd.DatetimeIndex(["2024-01-04", "2024-01-05"]).tz_localize(tz)
    end = None if session_end is None else pd.Timestamp(session_end, tz=tz)

    got = still_forming(index, now=pd.Timestamp(now, tz=tz).to_pydatetime(), session_end=end)

    assert got.tolist() == [False, forming]
