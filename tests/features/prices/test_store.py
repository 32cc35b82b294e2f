import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import features.prices.store
from features.frame import PriceDataError, canonicalize
from features.prices.sources import get_source
from features.prices.store import ROW_GROUP_ROWS, PriceStore, StoreLockedError
from features.storage.atomic import write_parquet
from tests.support import make_prices


def test_write_then_read_round_trips_and_rerun_changes_nothing(tmp_path: Path):
    store = PriceStore(tmp_path)
    prices = get_source("synthetic:tickers=3,days=30,seed=2").fetch()
    assert store.write(prices) == {"SYN00": 30, "SYN01": 30, "SYN02": 30}
    mtimes = {p: p.stat().st_mtime_ns for p in store.folder.iterdir()}
    assert store.write(prices) == {"SYN00": 0, "SYN01": 0, "SYN02": 0}
    assert {p: p.stat().st_mtime_ns for p in store.folder.iterdir()} == mtimes  # untouched
    pd.testing.assert_frame_equal(store.read(), prices)
    assert store.tickers() == ["SYN00", "SYN01", "SYN02"]


def test_close_only_prices_round_trip(tmp_path: Path):
    prices = make_prices({"A": [10.0, 11.0, 12.0], "B": [5.0, 5.5, 6.0]})
    prices.loc[prices["ticker"] == "B", ["open", "high", "low", "volume"]] = float("nan")
    store = PriceStore(tmp_path)

    assert store.write(prices) == {"A": 3, "B": 3}
    assert store.write(prices) == {"A": 0, "B": 0}  # NaN equals NaN when comparing with the stored rows
    back = store.read()
    pd.testing.assert_frame_equal(back, canonicalize(prices))
    assert back.loc[back["ticker"] == "B", ["open", "high", "low", "volume"]].isna().all().all()
    assert back.loc[back["ticker"] == "B", "close"].tolist() == [5.0, 5.5, 6.0]


def test_read_filters_tickers_and_dates(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.write(get_source("synthetic:tickers=3,days=30,seed=2").fetch())
    part = store.read(["SYN02", "NOTSTORED"], start="2010-01-05", end="2010-01-07")
    assert list(part["ticker"]) == ["SYN02"] * 3
    assert part["date"].min() == pd.Timestamp("2010-01-05")


def test_merge_keeps_old_rows_and_newer_values_win(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0, 11.0, 12.0]}))
    newer = make_prices({"A": [11.5, 12.5, 13.0]}, start="2020-01-02")
    assert store.write(newer) == {"A": 3}
    assert list(store.read()["close"]) == [10.0, 11.5, 12.5, 13.0]


def test_bad_frame_leaves_store_intact(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0, 11.0]}))
    before = store.path("A").read_bytes()
    bad = make_prices({"A": [10.0, -1.0, 12.0], "B": [1.0, 2.0, 3.0]})
    with pytest.raises(PriceDataError, match="positive and finite"):
        store.write(bad)
    assert store.path("A").read_bytes() == before
    assert not store.path("B").exists()


def test_crash_before_rename_leaves_old_file_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0, 11.0]}))
    before = store.read()

    def boom(src, dst):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="injected"):
        store.write(make_prices({"A": [10.0, 11.0, 12.0]}))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.read(), before)
    assert sorted(p.name for p in store.folder.iterdir()) == [".locks", "A.parquet"]  # no temp file left behind


def test_corrupt_file_is_named_and_quarantined(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.folder.mkdir(parents=True)
    store.path("A").write_bytes(b"not parquet")
    assert store.read(["A"]).empty
    assert re.search(
        r"A\.parquet was corrupt .*; moved to .*quarantine/prices/A\.parquet\.\d+T\d+Z\.corrupt", store.quarantined["A"]
    )
    (moved,) = (tmp_path / "quarantine" / "prices").iterdir()
    assert moved.read_bytes() == b"not parquet"  # kept, never deleted


def test_unreadable_file_that_is_not_corrupt_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0]}))
    real = pq.read_schema

    def denied(path, *args, **kwargs):
        raise PermissionError(13, f"Permission denied: {path}")

    monkeypatch.setattr(ds, "dataset", lambda *a, **k: denied("dataset"))
    monkeypatch.setattr(pq, "read_schema", denied)
    with pytest.raises(PriceDataError, match=r"cannot read stored prices .*A\.parquet: .*Permission denied"):
        store.read(["A"])
    monkeypatch.setattr(pq, "read_schema", real)
    assert store.path("A").exists()
    assert store.quarantined == {}


def test_ticker_cannot_escape_the_folder(tmp_path: Path):
    with pytest.raises(ValueError, match="ticker must be"):
        PriceStore(tmp_path).path("../../etc/passwd")


def test_crash_during_replace_leaves_old_file_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0, 11.0]}))
    before = store.read()
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("power cut (injected)")))

    with pytest.raises(OSError, match="injected"):
        store.replace("A", make_prices({"A": [5.0, 5.5, 6.0]}))

    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.read(), before)
    assert not list(store.folder.glob("*.tmp"))


def test_replace_rewrites_the_history_and_counts_removed_rows(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0, 11.0, 12.0]}))

    assert store.replace("A", make_prices({"A": [5.0, 5.5]})) == 3  # 2 changed, 1 removed
    assert list(store.read()["close"]) == [5.0, 5.5]
    mtime = store.path("A").stat().st_mtime_ns
    assert store.replace("A", make_prices({"A": [5.0, 5.5]})) == 0
    assert store.path("A").stat().st_mtime_ns == mtime
    with pytest.raises(PriceDataError, match="other tickers"):
        store.replace("A", make_prices({"B": [1.0]}))


def test_read_many_tickers_in_key_order_with_a_date_window(tmp_path: Path):
    store = PriceStore(tmp_path)
    frame = get_source("synthetic:tickers=12,days=300,seed=3").fetch()
    store.write(frame)

    got = store.read(["SYN11", "SYN02", "SYN07"], start="2010-06-01", end="2010-06-30")

    want = frame[frame["ticker"].isin(["SYN02", "SYN07", "SYN11"]) & frame["date"].between("2010-06-01", "2010-06-30")]
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True))
    assert store.read(start="2030-01-01").empty
    pd.testing.assert_frame_equal(store.read(), frame)


def test_files_have_row_groups_a_recent_window_prunes_to_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert ROW_GROUP_ROWS == 4096
    monkeypatch.setattr(features.prices.store, "ROW_GROUP_ROWS", 100)  # the same layout, smaller
    store = PriceStore(tmp_path)
    n = 3 * 100 + 10
    store.write(make_prices({"A": [10.0 + i % 7 for i in range(n)]}))
    everything = store.read()
    since = everything["date"].iloc[-5]

    assert pq.ParquetFile(store.path("A")).metadata.num_row_groups == 4
    (fragment,) = ds.dataset(str(store.path("A")), format="parquet").get_fragments()
    assert len(fragment.split_by_row_group(ds.field("date") >= since)) == 1  # 3 of 4 groups skipped
    assert len(fragment.split_by_row_group(ds.field("date") >= everything["date"].iloc[-20])) == 2
    pd.testing.assert_frame_equal(store.read(start=since), everything.iloc[-5:].reset_index(drop=True))


def test_files_written_before_the_store_had_a_schema_still_read(tmp_path: Path):
    store = PriceStore(tmp_path)
    old = canonicalize(make_prices({"A": [10.0, 11.0]}))
    write_parquet(old, store.path("A"))  # pandas' own schema: large_string ticker, pandas metadata

    pd.testing.assert_frame_equal(store.read(), old)
    assert store.write(make_prices({"A": [10.0, 11.0, 12.0]})) == {"A": 1}


def test_corrupt_file_among_many_is_set_aside_and_the_others_read(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0], "C": [1.0]}))
    store.path("B").write_bytes(b"PAR1 not really")

    assert list(store.read()["ticker"]) == ["A", "C"]
    assert list(store.quarantined) == ["B"]
    assert not store.path("B").exists()


def test_stored_dates(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.write(make_prices({"A": [10.0, 11.0, 12.0]}))

    got = store.stored_dates(["A", "B"])

    assert list(got["A"].strftime("%Y-%m-%d")) == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert got["B"].empty


def test_events_round_trip_and_unchanged_events_are_not_rewritten(tmp_path: Path):
    store = PriceStore(tmp_path)
    events = pd.DataFrame({"date": ["2020-01-02", "2020-03-02"], "dividend": [0.25, 0.0], "split_ratio": [1.0, 4.0]})

    assert store.write_events("A", events)
    mtime = store.events_path("A").stat().st_mtime_ns
    assert not store.write_events("A", events.iloc[:1])  # merge: nothing new
    assert store.events_path("A").stat().st_mtime_ns == mtime
    got = store.read_events("A")

    assert got.to_dict("records") == [
        {"date": pd.Timestamp("2020-01-02"), "ticker": "A", "dividend": 0.25, "split_ratio": 1.0},
        {"date": pd.Timestamp("2020-03-02"), "ticker": "A", "dividend": 0.0, "split_ratio": 4.0},
    ]
    assert store.write_events("A", events.iloc[:1], replace=True)
    assert len(store.read_events("A")) == 1
    assert store.read_events("B").empty
    assert not store.write_events("B", events.iloc[:0])
    assert not store.events_path("B").exists()


def test_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(tmp_path: Path):
    store = PriceStore(tmp_path)
    outcome: list[str] = []

    def other() -> None:
        try:
            with store.lock("A", timeout_s=0.1):
                outcome.append("acquired")
        except StoreLockedError as exc:
            outcome.append(str(exc))

    with store.lock("A"), store.lock("A"):  # re-entrant: no deadlock
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        with store.lock("B", timeout_s=0.1):  # another ticker is independent
            pass
    thread = threading.Thread(target=other)
    thread.start()
    thread.join()

    assert outcome[0].startswith("ticker 'A' is being updated by another process or thread (lock ")
    assert outcome[1] == "acquired"


def test_lock_is_exclusive_across_processes(tmp_path: Path):
    store = PriceStore(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path.cwd())!r})
        from features.prices.store import PriceStore
        with PriceStore({str(tmp_path)!r}).lock("A"):
            print("held", flush=True)
            sys.stdin.readline()
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError, match="ticker 'A'"), store.lock("A", timeout_s=0.2):
            pass
    finally:
        child.communicate("\n", timeout=30)
    with store.lock("A", timeout_s=5):
        assert child.returncode == 0
