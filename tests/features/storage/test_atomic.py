"""Atomic writes: the reader sees the old file or the new one; a failed write leaves nothing behind."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.storage.atomic import (
    atomic_path,
    current_umask,
    json_ready,
    read_parquet_metadata,
    write_json,
    write_parquet,
)


def test_parquet_round_trip_with_metadata(tmp_path: Path):
    frame = pd.DataFrame({"ticker": ["A", "B"], "close": [1.5, 2.25]}, index=[7, 9])
    path = write_parquet(frame, tmp_path / "sub" / "p.parquet", metadata={"source": "test", "rows": "2"})
    assert path == tmp_path / "sub" / "p.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame.reset_index(drop=True))  # the index is not stored
    assert read_parquet_metadata(path) == {"source": "test", "rows": "2"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.parquet"]  # no temporary file left


def test_json_is_indented_key_sorted_and_replaces_the_old_file(tmp_path: Path):
    path = tmp_path / "a.json"
    path.write_text("old")
    write_json({"b": 1, "a": [1.5, "x"], "when": pd.Timestamp("2020-01-02")}, path)
    assert path.read_text() == '{\n  "a": [\n    1.5,\n    "x"\n  ],\n  "b": 1,\n  "when": "2020-01-02 00:00:00"\n}\n'
    assert json.loads(path.read_text())["b"] == 1


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path):
    path = tmp_path / "state.json"
    path.write_text("old")
    seen: list[Path] = []

    def crash_mid_write() -> None:
        with atomic_path(path) as tmp:
            seen.append(tmp)
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash mid-write"):
        crash_mid_write()
    assert path.read_text() == "old"
    assert not seen[0].exists()
    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith(".state.json.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_the_temporary_has_the_suffix_asked_for_and_the_result_the_usual_mode(tmp_path: Path):
    path = tmp_path / "m.keras"
    with atomic_path(path, suffix=".keras") as tmp:
        assert tmp.suffix == ".keras"
        tmp.write_bytes(b"model")
    assert path.read_bytes() == b"model"
    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_current_umask_reads_without_changing_it():
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(before)


def test_json_ready_makes_strict_json():
    obj = {
        1: np.float64(0.5),
        "nan": float("nan"),
        "inf": -math.inf,
        "np_nan": np.float32("nan"),
        "ints": (np.int64(3), np.bool_(True), [np.float64(np.inf), (1, 2)]),
        "text": "x",
        "none": None,
    }
    ready = json_ready(obj)
    assert ready == {
        "1": 0.5,
        "nan": None,
        "inf": None,
        "np_nan": None,
        "ints": [3, True, [None, [1, 2]]],
        "text": "x",
        "none": None,
    }
    assert [type(ready["1"]), type(ready["ints"][0]), type(ready["ints"][1])] == [float, int, bool]
    assert json.loads(json.dumps(ready, allow_nan=False)) == ready
