"""The incremental update: what is fetched, when history is refetched, what is written and reported."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.dates import parse_date
from features.frame import canonicalize, empty_frame
from features.prices.sources import SourceError, SourceUnavailableError, get_source
from features.prices.sources.base import FetchResult, canonical_events, select
from features.prices.store import PriceStore
from features.prices.update import plan_fetch, update_store
from tests.support import make_prices

DAYS = pd.bdate_range("2020-01-01", periods=12)  # 2020-01-01 .. 2020-01-16


def prices(n: int = 10, *, tickers: tuple[str, ...] = ("A", "B"), scale: float = 1.0) -> pd.DataFrame:
    """``n`` business days from 2020-01-01 per ticker, closes 100, 101, ... (times ``scale``)."""
    closes = {t: [(100.0 + 10 * k + i) * scale for i in range(n)] for k, t in enumerate(tickers)}
    return canonicalize(make_prices(closes))


def day(i: int) -> pd.Timestamp:
    return DAYS[i]


class Scripted:
    """A source like sample/synthetic/dir: fixed histories, all or nothing per call."""

    name = "scripted"

    def __init__(self, frame: pd.DataFrame, *, down_after: int | None = None) -> None:
        self.frame = frame
        self.calls: list[tuple[tuple[str, ...] | None, pd.Timestamp | None, pd.Timestamp | None]] = []
        self.down_after = down_after

    def fetch(self, tickers: list[str] | None = None, start: Any = None, end: Any = None) -> pd.DataFrame:
        self._record(tickers, start, end)
        return select(self.frame, tickers, start, end, name="scripted")

    def _record(self, tickers: list[str] | None, start: Any, end: Any) -> None:
        self.calls.append(
            (None if tickers is None else tuple(tickers), parse_date(start, name="s"), parse_date(end, name="e"))
        )
        if self.down_after is not None and len(self.calls) > self.down_after:
            raise SourceUnavailableError("source 'scripted' is down (injected); nothing was written")


class Reporting(Scripted):
    """A source like Yahoo: unvalidated rows, corporate actions, per-ticker failures."""

    def __init__(self, frame: pd.DataFrame, *, events: pd.DataFrame | None = None, fail: set[str] = frozenset()):
        super().__init__(frame)
        self.events = canonical_events(events if events is not None else pd.DataFrame(columns=["date", "ticker"]))
        self.fail = set(fail)

    def fetch_report(self, tickers: list[str] | None, start: Any, end: Any) -> FetchResult:
        self._record(tickers, start, end)
        lo, hi = parse_date(start, name="start"), parse_date(end, name="end")

        def cut(f: pd.DataFrame) -> pd.DataFrame:
            keep = f["ticker"].isin(tickers or []) & ~f["ticker"].isin(self.fail)
            keep &= f["date"] >= lo if lo is not None else True
            keep &= f["date"] <= hi if hi is not None else True
            return f[keep]

        failures = {t: "refused (injected)" for t in tickers or [] if t in self.fail}
        return FetchResult(prices=canonicalize(cut(self.frame)), events=cut(self.events), failures=failures)


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*.parquet")}


# -- the plan -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "start", "end", "want"),
    [
        (0, None, None, (None, None)),  # nothing stored: everything asked
        (0, 2, 5, (2, 5)),
        (10, None, None, (5, None)),  # forward from the 5th-last stored day
        (3, None, None, (0, None)),  # fewer stored days than the overlap
        (10, 1, 8, None),  # covered: nothing to fetch
        (10, None, 9, None),
        (10, None, 11, (5, 11)),
    ],
)
def test_plan_fetch(stored: int, start: int | None, end: int | None, want: tuple | None) -> None:
    dates = pd.DatetimeIndex(DAYS[:stored])
    lo = None if start is None else day(start)
    hi = None if end is None else day(end)

    got = plan_fetch(dates, start=lo, end=hi, overlap_days=5)

    assert got == (None if want is None else tuple(None if i is None else day(i) for i in want))


def test_plan_fetch_backfills_with_an_overlap_at_the_front() -> None:
    stored = pd.DatetimeIndex(DAYS[4:10])

    assert plan_fetch(stored, start=day(1), end=day(9), overlap_days=2) == (day(1), day(5))
    assert plan_fetch(stored, start=day(1), end=None, overlap_days=2) == (day(1), None)


# -- fetching only what is missing, idempotence -------------------------------------------------


def test_first_update_stores_the_range_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    source, store = Scripted(prices(10)), PriceStore(tmp_path)

    first = update_store(source, store, ["A", "B"])

    assert [(t.ticker, t.status, t.rows_added, t.fetched) for t in first.tickers] == [
        ("A", "updated", 10, "earliest..latest"),
        ("B", "updated", 10, "earliest..latest"),
    ]
    pd.testing.assert_frame_equal(store.read(), prices(10))
    before = mtimes(tmp_path)
    time.sleep(0.01)

    again = update_store(source, store, ["A", "B"])

    assert mtimes(tmp_path) == before
    assert [(t.status, t.rows_added, t.rows_changed, t.fetched) for t in again.tickers] == [
        ("unchanged", 0, 0, "2020-01-08..latest")
    ] * 2
    assert source.calls == [(("A", "B"), None, None), (("A", "B"), day(5), None)]  # one call per window


def test_new_days_are_fetched_with_a_few_days_of_overlap(tmp_path: Path) -> None:
    store = PriceStore(tmp_path)
    update_store(Scripted(prices(8)), store, ["A", "B"])
    source = Scripted(prices(12))

    report = update_store(source, store, ["A", "B"], overlap_days=3)

    assert source.calls == [(("A", "B"), day(5), None)]
    assert [(t.rows_added, t.rows_changed, t.refetched_full) for t in report.tickers] == [(4, 0, False)] * 2
    pd.testing.assert_frame_equal(store.read(), prices(12))


def test_a_range_the_store_covers_is_not_fetched(tmp_path: Path) -> None:
    store = PriceStore(tmp_path)
    update_store(Scripted(prices(10)), store, ["A"])
    source = Scripted(prices(10))

    report = update_store(source, store, ["A"], start=day(2), end=day(6))

    assert source.calls == []
    assert report.tickers[0].status == "unchanged"
    assert report.tickers[0].fetched == ""


def test_tickers_none_takes_everything_the_source_has(tmp_path: Path) -> None:
    source, store = get_source("synthetic:tickers=3,days=40,seed=5"), PriceStore(tmp_path)

    report = update_store(source, store, None)
    again = update_store(source, store, None)

    assert report.succeeded == ["SYN00", "SYN01", "SYN02"]
    assert again.changed_rows == {"SYN00": 0, "SYN01": 0, "SYN02": 0}
    pd.testing.assert_frame_equal(store.read(), source.fetch())


# -- re-adjusted history ------------------------------------------------------------------------


def test_readjusted_overlap_refetches_that_tickers_full_history(tmp_path: Path) -> None:
    store = PriceStore(tmp_path)
    update_store(Scripted(prices(10)), store, ["A", "B"], start=day(0))
    # A dividend in A: every earlier adj_close is 2% lower now; B is untouched.
    now = prices(12)
    now.loc[now["ticker"] == "A", "adj_close"] *= 0.98
    source = Scripted(now)

    report = update_store(source, store, ["A", "B"])

    a, b = report.tickers
    assert a.refetched_full
    assert a.reason.startswith(
        "adj_close of 2020-01-08 was 105, the source now says 102.9 (-2.0000%; 5 of 5 overlapping days differ)"
    )
    assert (a.rows_added, a.rows_changed, a.fetched) == (2, 10, "2020-01-01..latest")
    assert (b.refetched_full, b.rows_added, b.rows_changed) == (False, 2, 0)
    assert source.calls == [(("A", "B"), day(5), None), (("A",), day(0), None)]
    pd.testing.assert_frame_equal(store.read(), now)


def test_a_difference_within_the_tolerance_is_an_ordinary_update(tmp_path: Path) -> None:
    store = PriceStore(tmp_path)
    update_store(Scripted(prices(10, tickers=("A",))), store, ["A"])
    nudged = prices(10, tickers=("A",)).assign(adj_close=lambda f: f["adj_close"] * (1 + 1e-6))

    report = update_store(Scripted(nudged), store, ["A"], rel_tolerance=1e-4)

    assert (report.tickers[0].refetched_full, report.tickers[0].rows_changed) == (False, 5)


def test_an_unseen_dividend_refetches_even_when_the_overlap_agrees(tmp_path: Path) -> None:
    store = PriceStore(tmp_path)
    update_store(Reporting(prices(10, tickers=("A",))), store, ["A"])
    # Ex-date on the first overlap day: only rows before it (not fetched again) were re-adjusted.
    now = prices(12, tickers=("A",))
    now.loc[now["date"] < day(5), "adj_close"] *= 0.99
    dividend = pd.DataFrame({"date": [day(5)], "ticker": ["A"], "dividend": [0.5]})
    source = Reporting(now, events=dividend)

    report = update_store(source, store, ["A"])

    assert report.tickers[0].refetched_full
    assert report.tickers[0].reason == "the source reports a dividend 0.5 on 2020-01-08 that the store has not seen"
    pd.testing.assert_frame_equal(store.read(), now)
    assert store.read_events("A")[["date", "dividend"]].to_dict("records") == [{"date": day(5), "dividend": 0.5}]
    before = mtimes(tmp_path)
    assert update_store(source, store, ["A"]).tickers[0].status == "unchanged"
    assert mtimes(tmp_path) == before


def test_a_failed_full_refetch_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    store = PriceStore(tmp_path)
    update_store(Reporting(prices(10, tickers=("A",))), store, ["A"])
    before = store.path("A").read_bytes()
    source = Reporting(prices(10, tickers=("A",), scale=0.5))
    source.fetch_report = _fail_after(source.fetch_report, calls=1)  # type: ignore[method-assign]

    report = update_store(source, store, ["A"])

    assert report.failures["A"].startswith("history was re-adjusted (adj_close of 2020-01-08 was 105")
    assert report.failures["A"].endswith("and the full refetch failed: refused (injected)")
    assert store.path("A").read_bytes() == before


def _fail_after(fetch_report: Any, *, calls: int) -> Any:
    count = {"n": 0}

    def wrapped(tickers: list[str], start: Any, end: Any) -> FetchResult:
        count["n"] += 1
        if count["n"] > calls:
            return FetchResult(prices=empty_frame(), events=None, failures=dict.fromkeys(tickers, "refused (injected)"))
        result: FetchResult = fetch_report(tickers, start, end)
        return result

    return wrapped


# -- failures -------------------------------------------------------------------------------------


def test_an_unknown_ticker_never_sinks_the_others(tmp_path: Path) -> None:
    source, store = Scripted(prices(10)), PriceStore(tmp_path)

    report = update_store(source, store, ["A", "ZZZ", "B"])

    assert list(report.failures) == ["ZZZ"]
    assert "has no prices for ['ZZZ']" in report.failures["ZZZ"]
    assert report.succeeded == ["A", "B"]
    assert store.tickers() == ["A", "B"]
    # The group failed as a whole, so each ticker was asked alone.
    assert [c[0] for c in source.calls] == [("A", "ZZZ", "B"), ("A",), ("ZZZ",), ("B",)]


def test_every_ticker_failing_is_reported_as_such(tmp_path: Path) -> None:
    report = update_store(Reporting(prices(5), fail={"A", "B"}), PriceStore(tmp_path), ["A", "B"])

    assert report.all_failed
    assert (
        report.failure_message()
        == "source 'scripted': 2 of 2 tickers failed:\n  A: refused (injected)\n  B: refused (injected)"
    )
    assert not (tmp_path / "prices").exists()


def test_an_unreachable_source_raises_before_anything_is_written(tmp_path: Path) -> None:
    store = PriceStore(tmp_path)
    update_store(Scripted(prices(8, tickers=("A",))), store, ["A"])
    before = mtimes(tmp_path)
    source = Scripted(prices(12), down_after=1)  # A's window works, B's (a new ticker) does not

    with pytest.raises(SourceUnavailableError, match="down"):
        update_store(source, store, ["A", "B"])

    assert mtimes(tmp_path) == before
    assert store.tickers() == ["A"]


def test_a_locked_ticker_fails_alone(tmp_path: Path) -> None:
    store = PriceStore(tmp_path, lock_timeout_s=0.1)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock("A"):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        report = update_store(Scripted(prices(5)), store, ["A", "B"])
    finally:
        release.set()
        holder.join()

    assert report.failures["A"].startswith("ticker 'A' is being updated by another process or thread")
    assert report.succeeded == ["B"]


# -- validation in the update ---------------------------------------------------------------------


def test_invalid_rows_are_rejected_suspicious_ones_flagged_and_written(tmp_path: Path) -> None:
    frame = prices(6, tickers=("A",))
    frame.loc[2, ["close", "adj_close"]] = float("nan")  # 2020-01-03: rejected
    frame.loc[4, ["open", "high", "low", "close", "adj_close"]] = [170.0, 171.7, 168.3, 170.0, 170.0]  # a jump
    store = PriceStore(tmp_path)

    report = update_store(Reporting(frame), store, ["A"])

    assert [(i.ticker, f"{i.date}", i.rule, i.action) for i in report.rejected] == [
        ("A", "2020-01-03", "missing_price", "rejected")
    ]
    # 103 -> 170 is flagged; 170 -> 105 (-38.2%) is within the 40% threshold.
    assert [(f"{i.date}", i.rule, i.detail) for i in report.flagged] == [
        ("2020-01-07", "jump", "adj_close moved +65.0% from 2020-01-06")
    ]
    stored = store.read()
    assert len(stored) == 5
    assert pd.Timestamp("2020-01-03") not in set(stored["date"])
    assert report.tickers[0].rows_flagged == 1
    assert update_store(Reporting(frame), store, ["A"]).flagged == ()  # nothing new, nothing flagged again


def test_a_ticker_whose_rows_are_all_invalid_fails(tmp_path: Path) -> None:
    frame = prices(3, tickers=("A",)).assign(volume=-1.0)

    report = update_store(Reporting(frame), PriceStore(tmp_path), ["A"])

    assert report.failures == {"A": "all 3 fetched rows were rejected"}
    assert len(report.rejected) == 3


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tickers": "AAPL"}, r"tickers='AAPL'"),
        ({"tickers": []}, r"tickers=\[\]"),
        ({"tickers": ["A", "../etc"]}, r"ticker='\.\./etc'"),
        ({"tickers": ["A/B"]}, r"ticker='A/B'"),
        ({"tickers": [""]}, r"ticker=''"),
        ({"start": "2024-13-45"}, r"start='2024-13-45'"),
        ({"end": "soon"}, r"end='soon'"),
        ({"start": "2024-02-01", "end": "2024-01-01"}, r"start=2024-02-01 end=2024-01-01"),
        ({"end": "2024-06-02"}, r"end must not be in the future \(today is 2024-06-01\), got end=2024-06-02"),
        ({"start": "2030-01-01"}, r"start must not be in the future"),
        ({"overlap_days": 0}, r"overlap_days=0"),
        ({"rel_tolerance": -1.0}, r"rel_tolerance=-1.0"),
    ],
)
def test_bad_input_is_an_error_naming_the_value_before_any_request(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    source = Scripted(prices(3))
    options = {"tickers": ["A"], "today": pd.Timestamp("2024-06-01").date(), **kwargs}

    with pytest.raises(ValueError, match=match):
        update_store(source, PriceStore(tmp_path / "root"), **options)

    assert source.calls == []
    assert not (tmp_path / "root").exists()


# -- concurrency and the report -------------------------------------------------------------------


def test_concurrent_updates_of_one_ticker_are_serialised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PriceStore(tmp_path)
    inside, most, count = [0], [0], threading.Lock()
    real_read = PriceStore.read

    def slow_read(self: PriceStore, *args: Any, **kwargs: Any) -> pd.DataFrame:
        # Widen the window between reading the stored file and replacing it.
        with count:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with count:
            inside[0] -= 1
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(PriceStore, "read", slow_read)
    early, late = prices(12, tickers=("A",)).iloc[:6], prices(12, tickers=("A",)).iloc[6:]
    errors: list[BaseException] = []

    def run(frame: pd.DataFrame) -> None:
        try:
            update_store(Scripted(frame), store, ["A"])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in (early, late)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert most[0] == 1, "two updates of one ticker read the stored file at the same time"
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.read(), prices(12, tickers=("A",)))  # nobody's rows were lost


def test_report_is_json_ready(tmp_path: Path) -> None:
    frame = prices(4, tickers=("A",))
    frame.loc[1, "volume"] = -3.0

    report = update_store(Reporting(frame), PriceStore(tmp_path), ["A", "B"], start="2020-01-01")
    data = json.loads(json.dumps(report.to_dict()))

    assert data["source"] == "scripted"
    assert (data["start"], data["end"]) == ("2020-01-01", None)
    assert data["failures"] == {"B": "the source returned no rows"}
    assert data["tickers"][0] == {
        "ticker": "A",
        "status": "updated",
        "rows_added": 3,
        "rows_changed": 0,
        "rows_removed": 0,
        "rows_rejected": 1,
        "rows_flagged": 0,
        "refetched_full": False,
        "fetched": "2020-01-01..latest",
        "reason": "",
        "quarantined": "",
    }
    assert data["rejected"] == [
        {
            "ticker": "A",
            "date": "2020-01-02",
            "rule": "negative_volume",
            "action": "rejected",
            "detail": "volume -3 < 0",
        }
    ]
    assert [level for level, _ in report.log_lines()] == [30, 20, 30, 30]


def test_source_error_message_of_a_single_ticker_is_kept(tmp_path: Path) -> None:
    class Broken(Scripted):
        def fetch(self, tickers: list[str] | None = None, start: Any = None, end: Any = None) -> pd.DataFrame:
            self._record(tickers, start, end)
            raise SourceError("source 'broken': file A.csv is unreadable")

    report = update_store(Broken(prices(3)), PriceStore(tmp_path), ["A"])

    assert report.failures == {"A": "source 'broken': file A.csv is unreadable"}
