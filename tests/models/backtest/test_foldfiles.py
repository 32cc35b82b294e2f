"""A walk-forward block's four files: written without a run id, read back named for the run's model."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.backtest.foldfiles import Block, read_block, write_block
from models.serving.predictions import BACKTEST_COLUMNS


class _FakeModel:
    """Stands in for a fitted LSTMClassifier: only ``model_.save`` is used."""

    class model_:  # noqa: N801 - the attribute of LSTMClassifier
        @staticmethod
        def save(path: Path) -> None:
            Path(path).write_bytes(b"PK weights")


def _predictions(**extra: object) -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-03"]), "ticker": ["A", "B", "A"],
        "horizon": np.int32(5), "p_down": [0.1, 0.6, 0.25], "p_flat": [0.3, 0.3, 0.5], "p_up": [0.6, 0.1, 0.25],
        "predicted": ["up", "down", "flat"], "model_id": "", "fold": np.int32(2),
        "forward_return": [0.01, -0.02, 0.0], "label": ["up", "down", "flat"], **extra,
    })  # fmt: skip


BASELINES = {
    "class_prior": np.full((3, 3), 1 / 3),
    "momentum": np.array([[0.2, 0.3, 0.5], [0.5, 0.3, 0.2], [0.0, 1.0, 0.0]]),
}


def test_a_block_round_trips_and_is_named_on_reading(tmp_path: Path):
    stem = tmp_path / "folds" / "seed=1" / "fold=2"
    block = Block(_predictions(), {"fold": 2, "n_fit": 120}, model=_FakeModel(), baselines=BASELINES)
    write_block(block, stem, seed=1)
    assert sorted(p.name for p in stem.parent.iterdir()) == [
        "fold=2.baselines.parquet", "fold=2.json", "fold=2.keras", "fold=2.parquet",
    ]  # fmt: skip
    assert "model_id" not in pd.read_parquet(stem.with_suffix(".parquet")).columns
    assert json.loads(stem.with_suffix(".json").read_text()) == {"fold": 2, "n_fit": 120, "seed": 1}
    assert stem.with_suffix(".keras").read_bytes() == b"PK weights"
    assert list(pd.read_parquet(stem.with_suffix(".baselines.parquet")).columns) == [
        "class_prior:down", "class_prior:flat", "class_prior:up", "momentum:down", "momentum:flat", "momentum:up",
    ]  # fmt: skip

    predictions, info, baselines = read_block(str(stem), model_id="r9-s1-f2")
    assert tuple(predictions.columns) == BACKTEST_COLUMNS
    pd.testing.assert_frame_equal(predictions, _predictions(model_id="r9-s1-f2"))
    assert info == {"fold": 2, "n_fit": 120, "seed": 1, "model_id": "r9-s1-f2"}
    assert list(baselines) == ["class_prior", "momentum"]
    for name, probs in BASELINES.items():
        np.testing.assert_array_equal(baselines[name], probs)


def test_the_optional_holding_days_travel_with_the_predictions(tmp_path: Path):
    frame = _predictions(hold_days=np.array([5, 3, 5], dtype="int64"))
    write_block(Block(frame, {}, model=_FakeModel(), baselines=BASELINES), tmp_path / "b", seed=0)
    predictions, _, _ = read_block(tmp_path / "b", model_id="m")
    assert predictions["hold_days"].tolist() == [5, 3, 5]
    assert predictions.columns[-1] == "hold_days"


def test_predictions_breaking_the_schema_write_nothing(tmp_path: Path):
    bad = _predictions().drop(columns="label")
    with pytest.raises(ValueError, match=r"missing columns \['label'\]"):
        write_block(Block(bad, {}, model=_FakeModel(), baselines=BASELINES), tmp_path / "b", seed=0)
    assert list(tmp_path.iterdir()) == []
