"""DirectorySource: one CSV or Parquet file per ticker, columns matched without regard to case."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.prices.sources import SourceError, get_source
from features.prices.sources.directory import DirectorySource
from features.prices.store import PriceStore
from features.prices.update import update_store


def test_directory_source_reads_mixed_case_columns(tmp_path: Path):
    pd.DataFrame(
        {"Date": ["2021-01-04", "2021-01-05"], "Open": [1.0, 2.0], "HIGH": [1.5, 2.5], "low": [0.5, 1.5],
         "Close": [1.2, 2.2], "Adj Close": [1.1, 2.1], "Volume": [10, 20]}
    ).to_csv(tmp_path / "ABC.csv", index=False)  # fmt: skip
    pd.DataFrame(
        {"date": pd.to_datetime(["2021-01-04"]), "open": [3.0], "high": [3.0], "low": [3.0], "close": [3.0],
         "volume": [5.0]}
    ).to_parquet(tmp_path / "XYZ.parquet")  # fmt: skip
    (tmp_path / "notes.txt").write_text("ignored")
    out = get_source(f"dir:{tmp_path}").fetch()
    assert list(out["ticker"]) == ["ABC", "ABC", "XYZ"]
    assert list(out["adj_close"]) == [1.1, 2.1, 3.0]  # XYZ has no adjusted close: close is used
    with pytest.raises(SourceError, match=r"no file for \['NOPE'\]"):
        DirectorySource(tmp_path).fetch(["NOPE"])


def test_directory_source_names_a_bad_file(tmp_path: Path):
    pd.DataFrame({"date": ["2021-01-04"], "volume": [1.0]}).to_csv(tmp_path / "ABC.csv", index=False)
    with pytest.raises(SourceError, match=r"ABC.csv needs a date column and a close or adj close column"):
        get_source(f"dir:{tmp_path}").fetch()


def test_directory_source_reads_close_only_files(tmp_path: Path):
    pd.DataFrame({"Date": ["2021-01-04", "2021-01-05"], "Close": [10.0, 11.0]}).to_csv(tmp_path / "C.csv", index=False)
    pd.DataFrame({"date": ["2021-01-04"], "Adj Close": [5.0]}).to_csv(tmp_path / "ADJ.csv", index=False)
    pd.DataFrame({"timestamp": pd.to_datetime(["2021-01-04"]), "adjusted_close": [7.0], "close": [8.0]}).to_parquet(
        tmp_path / "P.parquet"
    )
    out = get_source(f"dir:{tmp_path}").fetch()

    assert list(out["ticker"]) == ["ADJ", "C", "C", "P"]
    assert list(out["close"]) == [5.0, 10.0, 11.0, 8.0]  # only an adjusted close: close = adj_close
    assert list(out["adj_close"]) == [5.0, 10.0, 11.0, 7.0]  # only a close: adj_close = close
    assert out[["open", "high", "low", "volume"]].isna().all().all()


def test_directory_source_refuses_half_of_open_high_low(tmp_path: Path):
    pd.DataFrame({"date": ["2021-01-04"], "high": [2.0], "low": [1.0], "close": [1.5]}).to_csv(
        tmp_path / "H.csv", index=False
    )
    with pytest.raises(SourceError, match=r"has \['high', 'low'\] but not \['open'\]"):
        get_source(f"dir:{tmp_path}").fetch()


def test_close_only_folder_enters_the_store_and_reloads(tmp_path: Path):
    folder = tmp_path / "csv"
    folder.mkdir()
    dates = pd.bdate_range("2021-01-04", periods=6)
    for ticker, first in (("AAA", 10.0), ("BBB", 50.0)):
        closes = [first * 1.01**i for i in range(len(dates))]
        frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": closes})
        frame.to_csv(folder / f"{ticker}.csv", index=False)
    store = PriceStore(tmp_path / "root")

    report = update_store(DirectorySource(folder), store, today=dt.date(2021, 2, 1))
    again = update_store(DirectorySource(folder), store, ["AAA", "BBB"], today=dt.date(2021, 2, 1))

    assert report.changed_rows == {"AAA": 6, "BBB": 6}
    assert again.changed_rows == {"AAA": 0, "BBB": 0}  # NaN columns compare equal: nothing rewritten
    stored = store.read()
    assert stored["close"].round(6).tolist()[:2] == [10.0, 10.1]
    assert (stored["adj_close"] == stored["close"]).all()
    assert stored[["open", "high", "low", "volume"]].isna().all().all()
