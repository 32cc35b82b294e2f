import os
from pathlib import Path

import pandas as pd
import pytest
from support import make_prices

from features.frame import PriceDataError
from features.sources import get_source
from features.store import PriceStore


def test_write_then_read_round_trips_and_rerun_changes_nothing(tmp_path: Path):
    store = PriceStore(tmp_path)
    prices = get_source("synthetic:tickers=3,days=30,seed=2").fetch()
    assert store.write(prices) == {"SYN00": 30, "SYN01": 30, "SYN02": 30}
    mtimes = {p: p.stat().st_mtime_ns for p in store.folder.iterdir()}
    assert store.write(prices) == {"SYN00": 0, "SYN01": 0, "SYN02": 0}
    assert {p: p.stat().st_mtime_ns for p in store.folder.iterdir()} == mtimes  # untouched
    pd.testing.assert_frame_equal(store.read(), prices)
    assert store.tickers() == ["SYN00", "SYN01", "SYN02"]


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
    assert [p.name for p in store.folder.iterdir()] == ["A.parquet"]  # no temp file left behind


def test_corrupt_file_is_named(tmp_path: Path):
    store = PriceStore(tmp_path)
    store.folder.mkdir(parents=True)
    store.path("A").write_bytes(b"not parquet")
    with pytest.raises(PriceDataError, match=r"A\.parquet"):
        store.read(["A"])


def test_ticker_cannot_escape_the_folder(tmp_path: Path):
    with pytest.raises(ValueError, match="ticker must be"):
        PriceStore(tmp_path).path("../../etc/passwd")
