"""DirectorySource: one CSV or Parquet file per ticker, columns matched without regard to case."""

from pathlib import Path

import pandas as pd
import pytest

from features.prices.sources import SourceError, get_source
from features.prices.sources.directory import DirectorySource


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
    pd.DataFrame({"date": ["2021-01-04"], "close": [1.0]}).to_csv(tmp_path / "ABC.csv", index=False)
    with pytest.raises(SourceError, match=r"ABC.csv needs columns"):
        get_source(f"dir:{tmp_path}").fetch()
