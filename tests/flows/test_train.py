"""The train flow: fit on a date range, store the model, promote it when there is no better champion."""

from pathlib import Path

import pytest

from features.dataset import DatasetConfig
from flows.train import train_flow
from models.serving.registry import champion_id, list_models, load_metadata
from tests.support import SYNTHETIC, TINY_MODEL, TINY_TRAIN

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def _train(root: Path, *, force: bool = False) -> str:
    return train_flow.fn(
        source=SYNTHETIC, tickers=["SYN00", "SYN01"], end="2011-06-30", dataset=DatasetConfig(timesteps=8),
        model=TINY_MODEL, training=TINY_TRAIN, force=force, data_root_dir=str(root),
    )  # fmt: skip


def test_the_first_model_is_stored_and_becomes_the_champion_and_force_replaces_it(tmp_path: Path):
    root = tmp_path / "data"
    first = _train(root)
    assert (root / "models" / first / "model.keras").is_file()
    assert champion_id(root) == first
    meta = load_metadata(root, first)
    assert meta["source"] == SYNTHETIC
    assert meta["promotion"]["promote"] is True
    assert meta["promotion"]["champion_id"] is None  # nothing to beat
    assert sorted(p.name for p in (root / "prices").iterdir())  # the flow stored the prices it trained on

    second = _train(root, force=True)
    assert second != first
    assert champion_id(root) == second
    assert load_metadata(root, second)["promotion"]["champion_id"] == first
    assert {m["model_id"] for m in list_models(root)} == {first, second}
