"""The fold cache without training: keys, atomic entries, checks on read, restore as a plain copy."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.dataset import DatasetConfig
from features.storage.atomic import write_json, write_parquet
from models.backtest.foldcache import (
    CorruptEntryError,
    entry_dir,
    file_digest,
    fold_inputs,
    fold_key,
    lookup,
    model_digest,
    restore,
    source_digest,
    store,
)
from models.learn.config import ModelConfig, TrainConfig, WalkForwardConfig

ENV = {"keras": "3.0.0", "tensorflow": "2.0.0", "numpy": "2.0.0", "keras_backend": "tensorflow"}


def _inputs(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "data_fingerprint": "0123456789abcdef",
        "tickers": ["AAA", "BBB"],
        "start": None,
        "end": dt.date(2021, 6, 30),
        "dataset": DatasetConfig(timesteps=8),
        "walk_forward": WalkForwardConfig(),
        "model": ModelConfig(units=(8, 4)),
        "training": TrainConfig(epochs=2),
        "fold_index": 1,
        "seed": 3,
        "initial_weights": None,
        "code_version": "abc1234",
        "code_digest": "d" * 64,
        "environment": ENV,
    }
    return fold_inputs(**{**base, **changes})


def test_equal_inputs_give_equal_keys_and_every_ingredient_counts(tmp_path: Path):
    key = fold_key(_inputs())
    assert len(key) == 64
    assert key == fold_key(_inputs(environment=dict(reversed(list(ENV.items())))))  # dict order is irrelevant
    weights = tmp_path / "prev.keras"
    weights.write_bytes(b"weights-1")
    changed = [
        _inputs(data_fingerprint="fedcba9876543210"),
        _inputs(tickers=["AAA"]),
        _inputs(start=dt.date(2020, 1, 1)),
        _inputs(end=dt.date(2021, 7, 1)),
        _inputs(dataset=DatasetConfig(timesteps=9)),
        _inputs(walk_forward=WalkForwardConfig(blocks=4)),
        _inputs(model=ModelConfig(units=(8, 2))),
        _inputs(training=TrainConfig(epochs=3)),
        _inputs(fold_index=2),
        _inputs(seed=4),
        _inputs(initial_weights=weights),
        _inputs(code_version="abc1235"),
        _inputs(code_digest="e" * 64),
        _inputs(environment={**ENV, "tensorflow": "2.0.1"}),
        _inputs(environment={**ENV, "keras_backend": "jax"}),
    ]
    keys = [fold_key(i) for i in changed]
    assert key not in keys
    assert len(set(keys)) == len(keys)


def test_warm_start_counts_by_file_bytes_not_path(tmp_path: Path):
    one, two = tmp_path / "run1" / "fold=0.keras", tmp_path / "run2" / "fold=0.keras"
    for path in (one, two):
        path.parent.mkdir()
        path.write_bytes(b"same weights")
    assert fold_key(_inputs(initial_weights=one)) == fold_key(_inputs(initial_weights=two))
    two.write_bytes(b"other weights")
    assert fold_key(_inputs(initial_weights=one)) != fold_key(_inputs(initial_weights=two))
    assert _inputs(initial_weights=one)["initial_weights_sha256"] == file_digest(one)  # not a zip: whole bytes


def test_warm_start_counts_the_weights_not_the_save_time(tmp_path: Path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer=keras.initializers.Ones())])
    first, later = tmp_path / "first.keras", tmp_path / "later.keras"
    model.save(first)
    # the same model saved later: only metadata.json's date_saved differs
    with zipfile.ZipFile(first) as src, zipfile.ZipFile(later, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "metadata.json":
                data = json.dumps({**json.loads(data), "date_saved": "2099-01-01@00:00:00"}).encode()
            dst.writestr(name, data)
    assert first.read_bytes() != later.read_bytes()
    assert model_digest(first) == model_digest(later)
    model.set_weights([w * 2 for w in model.get_weights()])
    model.save(later)
    assert model_digest(first) != model_digest(later)


def test_other_seeds_of_the_run_and_the_unused_training_seed_do_not_count():
    # the block trains with `seed` alone: --seeds 0,1 reuses the blocks of --seeds 0
    key = fold_key(_inputs())
    assert fold_key(_inputs(walk_forward=WalkForwardConfig(seeds=(3, 5)))) == key
    assert fold_key(_inputs(training=TrainConfig(epochs=2, seed=9))) == key


def test_keys_are_the_same_in_another_process():
    code = (
        "from tests.models.backtest.test_foldcache import _inputs; from models.backtest.foldcache import fold_key;"
        "print(fold_key(_inputs()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another hash seed: no key may depend on set or dict order
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=Path(__file__).parents[3]
    )
    assert out.stdout.strip().splitlines()[-1] == fold_key(_inputs())


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="fold_index=-1"):
        _inputs(fold_index=-1)
    with pytest.raises(ValueError, match="got key='nope'"):
        entry_dir("root", "nope")
    with pytest.raises(ValueError, match="Out of range float"):
        fold_key({"x": float("nan")})


def test_source_digest_sees_any_edit(tmp_path: Path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "notes.txt").write_text("not code\n")
    before = source_digest(pkg)
    (pkg / "notes.txt").write_text("changed\n")
    assert source_digest(pkg) == before
    (pkg / "a.py").write_text("x = 2\n")
    assert source_digest(pkg) != before


def _block(stem: Path, *, p_up: float = 0.2) -> Path:
    """Fake block files with the real layout (no run ids; the cache never looks inside the model file)."""
    preds = pd.DataFrame({"p_up": [p_up, 0.7], "fold": [1, 1]})
    write_parquet(preds, stem.with_suffix(".parquet"))
    write_parquet(pd.DataFrame({"prior:up": [0.3, 0.3]}), stem.with_suffix(".baselines.parquet"))
    write_json({"fold": 1, "seed": 3, "p_up": p_up}, stem.with_suffix(".json"))
    stem.with_suffix(".keras").write_bytes(b"PK fake keras zip")
    return stem


def test_store_lookup_restore_round_trip(tmp_path: Path):
    root, key = tmp_path / "data", fold_key(_inputs())
    assert lookup(root, key) is None
    src = _block(tmp_path / "run1" / "fold=1")
    folder = store(root, key, src, inputs={"note": "test"})
    assert folder == root / "cache" / "folds" / key[:2] / key
    assert lookup(root, key) == folder
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["inputs"] == {"note": "test"}

    # in any run: exactly the files training the block there writes (block files hold no run id)
    other = tmp_path / "run2" / "fold=1"
    restore(folder, other)
    for suffix in (".parquet", ".baselines.parquet", ".json", ".keras"):
        assert Path(f"{other}{suffix}").read_bytes() == Path(f"{src}{suffix}").read_bytes()
    assert not [p for p in other.parent.iterdir() if p.name.startswith(".")]  # each copy was atomic


def test_the_first_writer_wins(tmp_path: Path):
    root, key = tmp_path / "data", fold_key(_inputs())
    first = store(root, key, _block(tmp_path / "a" / "fold=1", p_up=0.1), inputs={})
    second = store(root, key, _block(tmp_path / "b" / "fold=1", p_up=0.3), inputs={})
    assert first == second
    assert json.loads((first / "block.json").read_text())["p_up"] == 0.1
    assert [p.name for p in first.parent.iterdir()] == [key]


def test_a_missing_block_file_stores_nothing(tmp_path: Path):
    root, key = tmp_path / "data", fold_key(_inputs())
    src = _block(tmp_path / "a" / "fold=1")
    src.with_suffix(".keras").unlink()
    with pytest.raises(FileNotFoundError):
        store(root, key, src, inputs={})
    assert list(entry_dir(root, key).parent.iterdir()) == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / "block.parquet").write_bytes((f / "block.parquet").read_bytes()[:-7]),  # truncated
        lambda f: (f / "block.keras").write_bytes(b"PK other bytes"),  # same kind of file, other content
        lambda f: (f / "block.json").unlink(),
        lambda f: (f / "manifest.json").write_text("{not json"),
    ],
)
def test_a_damaged_entry_is_dropped(tmp_path: Path, damage: Any, caplog: pytest.LogCaptureFixture):
    root, key = tmp_path / "data", fold_key(_inputs())
    folder = store(root, key, _block(tmp_path / "a" / "fold=1"), inputs={})
    damage(folder)
    with caplog.at_level("WARNING", logger="updown"):
        assert lookup(root, key) is None
    assert not folder.exists()
    assert list(folder.parent.iterdir()) == []  # moved aside and deleted
    assert "dropping damaged entry" in caplog.text


def test_restore_refuses_a_file_damaged_after_lookup(tmp_path: Path):
    root, key = tmp_path / "data", fold_key(_inputs())
    folder = store(root, key, _block(tmp_path / "a" / "fold=1"), inputs={})
    assert lookup(root, key) == folder
    (folder / "block.keras").write_bytes(b"PK torn")
    dst = tmp_path / "run2" / "fold=1"
    with pytest.raises(CorruptEntryError, match=r"block\.keras does not match the manifest"):
        restore(folder, dst)
    assert not dst.with_suffix(".keras").exists()
