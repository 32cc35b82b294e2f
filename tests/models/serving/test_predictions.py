from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from features.storage.atomic import read_parquet_metadata
from models.serving.predictions import (
    BACKTEST_COLUMNS,
    PREDICTION_COLUMNS,
    SETTLED_COLUMNS,
    daily_path,
    prediction_frame,
    read_daily,
    read_predictions,
    write_daily,
)


def _publish(root: Path, day: str, probs: list[list[float]]) -> Path:
    keys = pd.DataFrame({"date": pd.to_datetime([day] * len(probs)), "ticker": ["AAA", "BBB"][: len(probs)]})
    frame = prediction_frame(keys, np.array(probs), horizon=5, model_id="m-1")
    return write_daily(root, pd.Timestamp(day), frame, metadata={"model_id": "m-1"})


def test_prediction_frame_schema_and_argmax():
    keys = pd.DataFrame({"date": pd.to_datetime(["2024-01-02"] * 2), "ticker": ["AAA", "BBB"]})
    frame = prediction_frame(keys, np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]), horizon=5, model_id="m")
    assert tuple(frame.columns) == PREDICTION_COLUMNS
    assert list(frame["predicted"]) == ["up", "down"]
    assert frame["horizon"].dtype == "int32"


def test_daily_partitions_round_trip_and_are_replaced_not_duplicated(tmp_path):
    _publish(tmp_path, "2024-01-02", [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    _publish(tmp_path, "2024-01-03", [[0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    path = _publish(tmp_path, "2024-01-03", [[0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    assert path == daily_path(tmp_path, pd.Timestamp("2024-01-03"))
    assert read_parquet_metadata(path)["model_id"] == "m-1"
    latest = read_daily(tmp_path)
    assert list(latest["predicted"]) == ["up", "flat"]
    assert latest["date"].dtype == "datetime64[ns]"
    history = read_predictions(tmp_path, start="2024-01-02", tickers=["AAA"])
    assert list(history["date"].dt.day) == [2, 3]
    assert list(history["p_up"]) == [0.5, 0.8]
    assert len(read_predictions(tmp_path)) == 4


def test_pandas_pyarrow_and_duckdb_read_the_partitions_directly(tmp_path):
    _publish(tmp_path, "2024-01-02", [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    _publish(tmp_path, "2024-01-03", [[0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    folder = tmp_path / "reports" / "daily"
    by_pandas = pd.read_parquet(folder)
    assert len(by_pandas) == 4
    assert set(by_pandas["date"].astype(str)) == {"2024-01-02", "2024-01-03"}
    table = ds.dataset(folder, partitioning="hive").to_table()
    assert table.num_rows == 4
    con = duckdb.connect()
    got = con.sql(
        f"select date, ticker, p_up from read_parquet('{folder}/*/*.parquet') where predicted = 'up' order by date"
    ).df()
    assert list(got["ticker"]) == ["AAA", "AAA"]
    assert list(got["p_up"]) == [0.5, 0.8]
    assert str(got["date"].iloc[1].date()) == "2024-01-03"


def test_bad_reports_are_refused(tmp_path):
    keys = pd.DataFrame({"date": pd.to_datetime(["2024-01-02"]), "ticker": ["AAA"]})
    bad = prediction_frame(keys, np.array([[0.2, 0.3, 0.6]]), horizon=5, model_id="m")
    with pytest.raises(ValueError, match="must be 1 on every row"):
        write_daily(tmp_path, pd.Timestamp("2024-01-02"), bad)
    good = prediction_frame(keys, np.array([[0.2, 0.3, 0.5]]), horizon=5, model_id="m")
    with pytest.raises(ValueError, match="must have that date"):
        write_daily(tmp_path, pd.Timestamp("2024-01-03"), good)
    with pytest.raises(FileNotFoundError, match="run `updown daily` first"):
        read_daily(tmp_path)


def _backtest_run(root: Path, run_id: str, p_up: float) -> None:
    keys = pd.DataFrame({"date": pd.to_datetime(["2024-01-03", "2024-01-02"]), "ticker": ["BBB", "AAA"]})
    frame = prediction_frame(keys, np.array([[0.2, 0.8 - p_up, p_up]] * 2), horizon=5, model_id=run_id)
    frame = frame.assign(fold=np.array([1, 0], dtype="int32"), forward_return=[0.02, -0.03], label=["up", "down"])
    folder = root / "reports" / "backtest" / run_id
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "predictions.parquet")


def test_read_predictions_of_a_backtest_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `updown backtest` first"):
        read_predictions(tmp_path, kind="backtest")
    _backtest_run(tmp_path, "20240101-000000-aaaaaa", 0.5)
    _backtest_run(tmp_path, "20240102-000000-bbbbbb", 0.6)
    (tmp_path / "reports" / "backtest" / ".20240103-000000-cccccc.partial").mkdir()  # unfinished: ignored
    latest = read_predictions(tmp_path, kind="backtest")
    assert tuple(latest.columns) == BACKTEST_COLUMNS
    assert list(latest["ticker"]) == ["AAA", "BBB"]  # sorted by date
    assert list(latest["p_up"]) == [0.6, 0.6]
    assert latest["fold"].dtype == "int32"
    assert latest["date"].dtype == "datetime64[ns]"
    first = read_predictions(tmp_path, kind="backtest", run_id="20240101-000000-aaaaaa", start="2024-01-03")
    assert list(first["ticker"]) == ["BBB"]
    assert list(first["p_up"]) == [0.5]
    with pytest.raises(FileNotFoundError, match="no backtest run 'nope'"):
        read_predictions(tmp_path, kind="backtest", run_id="nope")
    with pytest.raises(ValueError, match="kind must be one of"):
        read_predictions(tmp_path, kind="weekly")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="run_id is only used with kind='backtest'"):
        read_predictions(tmp_path, run_id="x")


def test_empty_reads_keep_the_schema_and_dtypes(tmp_path):
    daily = read_predictions(tmp_path)
    settled = read_predictions(tmp_path, kind="settled")
    assert tuple(daily.columns) == PREDICTION_COLUMNS
    assert tuple(settled.columns) == SETTLED_COLUMNS
    assert settled.empty
    assert settled["label_end"].dtype == "datetime64[ns]"
    assert daily["horizon"].dtype == "int32"
