"""One bad data file never stops the rest: corrupt stores and reports, bad ``dir:`` files, unsafe locks.

Each test builds a tiny root by hand (no flow runs, no Prefect) and checks what is kept, what is
moved to quarantine, and that the message names the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.prices.sources import SourceError
from features.prices.sources.directory import DirectorySource
from features.prices.sources.synthetic import SyntheticMarket
from features.prices.store import PriceStore
from features.prices.update import update_store
from features.storage.layout import DataRoot
from features.storage.quarantine import CorruptFileError
from models.serving.predictions import (
    prediction_frame,
    read_daily,
    read_predictions,
    write_daily,
    write_settled,
)
from models.serving.settlement import settle_store

DAY1, DAY2, DAY3 = pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-04")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def _quarantined(root: Path) -> list[str]:
    folder = DataRoot(root).quarantine_dir
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- the price store -------------------------------------------------------------------------------


def test_a_truncated_price_file_is_quarantined_and_a_refetch_rebuilds_it(tmp_path, caplog):
    source = SyntheticMarket(tickers=3, days=40, seed=1)
    store = PriceStore(tmp_path)
    store.write(source.fetch())
    _truncate(store.path("SYN01"))

    with caplog.at_level(logging.WARNING, logger="updown"):
        report = update_store(source, store, ["SYN00", "SYN01", "SYN02"])

    outcome = {t.ticker: t for t in report.tickers}
    assert [t.status for t in report.tickers] == ["unchanged", "updated", "unchanged"]
    assert outcome["SYN01"].rows_added == 40  # rebuilt whole from the source
    assert "SYN01.parquet was corrupt" in outcome["SYN01"].quarantined
    assert "moved to" in str(outcome["SYN01"])
    moved = _quarantined(tmp_path)
    assert len(moved) == 1
    assert moved[0].startswith("prices/SYN01.parquet.")
    assert moved[0].endswith(".corrupt")
    assert any("SYN01.parquet" in r.getMessage() and "quarantine" in r.getMessage() for r in caplog.records)
    pd.testing.assert_frame_equal(store.read(), source.fetch())


def test_a_corrupt_price_file_is_skipped_by_readers_and_the_others_read(tmp_path):
    store = PriceStore(tmp_path)
    store.write(SyntheticMarket(tickers=2, days=30, seed=1).fetch())
    _truncate(store.path("SYN00"))
    frame = store.read()
    assert sorted(frame["ticker"].unique()) == ["SYN01"]
    assert len(frame) == 30
    assert not store.path("SYN00").exists()
    assert "SYN00" in store.quarantined
    assert store.tickers() == ["SYN01"]
    assert len(store.stored_dates(["SYN00", "SYN01"])["SYN01"]) == 30


def test_a_corrupt_events_file_is_quarantined_and_reads_as_none(tmp_path):
    store = PriceStore(tmp_path)
    store.write_events("AAA", pd.DataFrame({"date": [DAY1], "dividend": [0.5]}))
    store.events_path("AAA").write_bytes(b"not parquet at all")
    assert store.read_events("AAA").empty
    assert _quarantined(tmp_path)[0].startswith("events/AAA.parquet.")


def test_a_corrupt_file_on_a_read_only_root_is_skipped_and_left_in_place(tmp_path, monkeypatch):
    store = PriceStore(tmp_path)
    store.write(SyntheticMarket(tickers=2, days=20, seed=1).fetch())
    _truncate(store.path("SYN00"))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied (injected)")

    monkeypatch.setattr(os, "replace", refuse)
    assert list(store.read()["ticker"].unique()) == ["SYN01"]
    assert store.path("SYN00").exists()  # not moved, not deleted
    assert "could not be moved" in store.quarantined["SYN00"]


def test_a_symlinked_lock_is_refused_and_nothing_is_created_outside_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    store = PriceStore(root)
    store.lock_path("AAA").parent.mkdir(parents=True)
    store.lock_path("AAA").symlink_to(outside / "owned.lock")
    with pytest.raises(CorruptFileError, match=r"lock file .*AAA\.lock is a symbolic link"):
        store.write(SyntheticMarket(tickers=1, days=5, seed=1).fetch().assign(ticker="AAA"))
    assert list(outside.iterdir()) == []
    # the same for a symlinked .locks folder; another ticker's update is not blocked by it in update_store
    store.lock_path("AAA").unlink()
    store.lock_path("AAA").parent.rmdir()
    store.lock_path("AAA").parent.symlink_to(outside)
    with pytest.raises(CorruptFileError, match=r"lock folder .*\.locks is a symbolic link"), store.lock("AAA"):
        pass
    assert list(outside.iterdir()) == []


# -- report partitions -----------------------------------------------------------------------------


def _publish(root: Path, day: pd.Timestamp, tickers: tuple[str, ...] = ("A", "B")) -> Path:
    keys = pd.DataFrame({"date": day, "ticker": list(tickers)})
    probs = np.tile([0.2, 0.3, 0.5], (len(tickers), 1))
    return write_daily(root, day, prediction_frame(keys, probs, horizon=1, model_id="m"), metadata={"created_at": "x"})


def test_a_corrupt_daily_partition_is_quarantined_and_readers_go_on(tmp_path):
    for day in (DAY1, DAY2, DAY3):
        _publish(tmp_path, day)
    _truncate(DataRoot(tmp_path).partition("daily", DAY3))

    assert read_daily(tmp_path)["date"].unique().tolist() == [DAY2]  # the latest readable one
    assert sorted(read_predictions(tmp_path)["date"].unique()) == [DAY1, DAY2]
    moved = _quarantined(tmp_path)
    assert len(moved) == 1
    assert moved[0].startswith("reports/daily/date=2024-01-04/predictions.parquet.")
    assert not (DataRoot(tmp_path).partitions_dir("daily") / "date=2024-01-04").exists()  # no stray folder left
    with pytest.raises(CorruptFileError, match=r"date=2024-01-04.*predictions\.parquet was corrupt.*quarantined"):
        read_daily(tmp_path, date="2024-01-04")
    # a hive reader of the whole folder (pyarrow, pandas, DuckDB's glob) never sees the quarantined file
    assert len(pd.read_parquet(DataRoot(tmp_path).partitions_dir("daily"))) == 4


def test_settlement_goes_on_past_corrupt_daily_and_settled_partitions(tmp_path):
    """Settlement reads every partition's footer: one truncated old file must not stop it."""
    for day in (DAY1, DAY2):
        _publish(tmp_path, day)
    settled_rows = read_predictions(tmp_path, start=DAY1, end=DAY1).assign(
        forward_return=0.01, label="up", label_end=DAY2
    )
    path = write_settled(tmp_path, DAY1, settled_rows, metadata={"daily_created_at": "x"})
    _truncate(path)
    _truncate(DataRoot(tmp_path).partition("daily", DAY2))

    report = settle_store(tmp_path)  # no prices, no models: nothing can settle, but nothing fails
    assert report.pending_dates == 1  # DAY1 again: its settled file was corrupt, so it counts as unsettled
    assert [m.split(".parquet.")[0] for m in _quarantined(tmp_path)] == [
        "reports/daily/date=2024-01-03/predictions",
        "reports/settled/date=2024-01-02/settled",
    ]
    assert read_predictions(tmp_path, kind="settled").empty


@pytest.mark.parametrize("leftover", [None, ".predictions.parquet.abc123.tmp"])
def test_a_daily_folder_without_its_file_is_no_partition(tmp_path, leftover):
    _publish(tmp_path, DAY1)
    stray = DataRoot(tmp_path).partition("daily", DAY2).parent
    stray.mkdir()
    if leftover:
        (stray / leftover).write_bytes(b"half")
    assert read_daily(tmp_path)["date"].unique().tolist() == [DAY1]
    assert sorted(read_predictions(tmp_path)["date"].unique()) == [DAY1]
    assert settle_store(tmp_path).pending_dates == 1
    with pytest.raises(FileNotFoundError, match=r"no daily report for date=2024-01-03 \(published: 2024-01-02"):
        read_daily(tmp_path, date=DAY2)
    # and publishing into it works
    assert _publish(tmp_path, DAY2).is_file()
    assert read_daily(tmp_path)["date"].unique().tolist() == [DAY2]


# -- dir: folders ----------------------------------------------------------------------------------


def _csv(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


GOOD = "Date,Close\n2021-01-04,10.0\n2021-01-05,11.0\n"


def test_one_bad_file_in_a_dir_folder_never_sinks_the_good_ones(tmp_path, caplog):
    _csv(tmp_path, "GOOD.csv", GOOD)
    _csv(tmp_path, "._GOOD.csv", "\x00\x05binary resource fork")  # macOS metadata: hidden, skipped silently
    _csv(tmp_path, ".hidden.csv", GOOD)
    _csv(tmp_path, "a b.csv", GOOD)
    _csv(tmp_path, "-rf.csv", GOOD)
    _csv(tmp_path, "EMPTY.csv", "")
    _csv(tmp_path, "JUNK.csv", "\x00\x01\x02garbage\n\x00")
    with caplog.at_level(logging.DEBUG, logger="updown"):
        out = DirectorySource(tmp_path).fetch()
    assert list(out["ticker"]) == ["GOOD", "GOOD"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4
    for name in ("a b.csv", "-rf.csv", "EMPTY.csv", "JUNK.csv"):
        assert sum(name in w for w in warnings) == 1, name
    assert not any("hidden" in w or "._GOOD" in w for w in warnings)
    # the same folder through the update path: the good ticker is stored
    store = PriceStore(tmp_path / "root")
    report = update_store(DirectorySource(tmp_path), store)
    assert report.succeeded == ["GOOD"]
    assert len(store.read(["GOOD"])) == 2


def test_a_requested_ticker_whose_dir_file_is_bad_is_an_error_naming_the_file(tmp_path):
    _csv(tmp_path, "GOOD.csv", GOOD)
    _csv(tmp_path, "JUNK.csv", "")
    with pytest.raises(SourceError, match=r"cannot read .*JUNK\.csv"):
        DirectorySource(tmp_path).fetch(["JUNK"])
    assert list(DirectorySource(tmp_path).fetch(["GOOD"])["close"]) == [10.0, 11.0]
    report = update_store(DirectorySource(tmp_path), PriceStore(tmp_path / "root"), ["GOOD", "JUNK"])
    assert report.succeeded == ["GOOD"]
    assert "JUNK.csv" in report.failures["JUNK"]


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (("AAPL.csv", "AAPL.parquet"), r"AAPL\.csv, AAPL\.parquet .* are the same ticker: give one file per ticker"),
        (("AAPL.csv", "aapl.csv"), r"AAPL\.csv, aapl\.csv .* are the same ticker: tickers that differ only in"),
    ],
)
def test_an_ambiguous_dir_ticker_is_refused_naming_both_files(tmp_path, caplog, names, match):
    for name in names:
        frame = pd.DataFrame({"date": pd.to_datetime(["2021-01-04"]), "close": [1.0]})
        frame.to_parquet(tmp_path / name) if name.endswith(".parquet") else frame.to_csv(tmp_path / name, index=False)
    _csv(tmp_path, "MSFT.csv", GOOD)
    with caplog.at_level(logging.WARNING, logger="updown"):
        out = DirectorySource(tmp_path).fetch()
    assert sorted(out["ticker"].unique()) == ["MSFT"]
    assert sum(bool(pd.Series([r.getMessage()]).str.contains(match).iloc[0]) for r in caplog.records) == 1
    with pytest.raises(SourceError, match=match):
        DirectorySource(tmp_path).fetch(["AAPL"])


def test_yyyymmdd_integer_dates_are_parsed_and_empty_dates_refused_by_line(tmp_path):
    _csv(tmp_path, "INT.csv", "date,close\n20110103,1.0\n20110104,2.0\n")
    out = DirectorySource(tmp_path).fetch()
    assert list(out["date"]) == [pd.Timestamp("2011-01-03"), pd.Timestamp("2011-01-04")]
    _csv(tmp_path, "HOLE.csv", "date,close\n2011-01-03,1.0\n,2.0\n")
    with pytest.raises(SourceError, match=r"HOLE\.csv line 3: the date is empty \(1 such rows\)"):
        DirectorySource(tmp_path).fetch(["HOLE"])
    _csv(tmp_path, "NANO.csv", "date,close\n1293926400000000000,1.0\n")
    with pytest.raises(SourceError, match=r"NANO\.csv line 2: date .* is a number but not a YYYYMMDD date"):
        DirectorySource(tmp_path).fetch(["NANO"])


def test_duplicate_columns_in_a_dir_file_are_refused_by_name(tmp_path):
    _csv(tmp_path, "DUP.csv", "Date,Close,close\n2021-01-04,1.0,1.1\n")
    with pytest.raises(SourceError, match=r"DUP\.csv has columns \['Close', 'close'\] that mean the same"):
        DirectorySource(tmp_path).fetch(["DUP"])
