"""Killed processes and failing disks: every store stays readable and holds the old or the new
version, never a torn one (writes are temp file + fsync + rename; readers ignore temp files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.prices.sources.synthetic import SyntheticMarket
from features.prices.store import PriceStore
from features.storage.atomic import write_parquet
from features.storage.quarantine import CorruptFileError
from models.serving.predictions import prediction_frame, read_daily, write_daily

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from features.prices.sources.synthetic import SyntheticMarket
    from features.prices.store import PriceStore
    from models.serving.predictions import prediction_frame, write_daily

    root, what = sys.argv[1], sys.argv[2]
    versions = [SyntheticMarket(tickers=1, days=20000, seed=s).fetch() for s in (1, 2)]
    i = 0
    if what == "model":
        import keras
        from models.serving.registry import save_model
        model = keras.Sequential([keras.Input((30, 8)), keras.layers.LSTM(256), keras.layers.Dense(3)])
        import os
        run = os.getpid()
        save_model(root, model, {"n": -1}, model_id=f"m{run}-warmup")
    print("ready", flush=True)
    while True:
        if what == "model":
            save_model(root, model, {"n": i}, model_id=f"m{run}-{i:05d}")
        elif what == "prices":
            PriceStore(root).replace("SYN00", versions[i % 2])
        else:
            keys = pd.DataFrame({"date": pd.Timestamp("2024-01-02"), "ticker": [f"T{k}" for k in range(20000)]})
            p = np.full((20000, 3), 1 / 3); p[:, i % 2] += 0.1; p /= p.sum(axis=1, keepdims=True)
            write_daily(root, pd.Timestamp("2024-01-02"), prediction_frame(keys, p, horizon=5, model_id=f"v{i % 2}"))
        i += 1
    """
)


def _kill_while_writing(root: Path, what: str, delays: list[float]) -> None:
    for delay in delays:
        with subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), what], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
        ) as proc:
            try:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "ready"
                time.sleep(delay)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_during_price_writes_never_tears_the_file(tmp_path):
    versions = [SyntheticMarket(tickers=1, days=20000, seed=s).fetch() for s in (1, 2)]
    _kill_while_writing(tmp_path, "prices", [0.3, 0.8, 1.5])
    stored = PriceStore(tmp_path).read(["SYN00"])
    assert any(stored.reset_index(drop=True).equals(v.reset_index(drop=True)) for v in versions)
    assert PriceStore(tmp_path).tickers() == ["SYN00"]  # leftover temp files are never taken for data


@pytest.mark.slow
def test_sigkill_during_report_writes_never_tears_the_partition(tmp_path):
    _kill_while_writing(tmp_path, "report", [0.3, 0.8, 1.5])
    frame = read_daily(tmp_path)
    assert len(frame) == 20000
    assert frame["model_id"].nunique() == 1  # one whole version, not a mix
    np.testing.assert_allclose(frame[["p_down", "p_flat", "p_up"]].sum(axis=1), 1.0)


@pytest.mark.slow
def test_sigkill_while_saving_models_leaves_only_whole_models(tmp_path):
    import keras

    from models.serving.registry import list_models

    _kill_while_writing(tmp_path, "model", [0.7, 1.9])
    listed = list_models(tmp_path)
    assert listed  # some finished before the kill
    for meta in listed:  # every model the registry lists is whole: it loads
        folder = tmp_path / "models" / meta["model_id"]
        assert keras.saving.load_model(folder / "model.keras", safe_mode=True, compile=False).output_shape == (None, 3)
    hidden = [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]
    assert all(name.startswith(".m") for name in hidden)  # a torn save is only ever a hidden temp folder


def test_two_writers_of_one_partition_leave_one_whole_version(tmp_path):
    """Two daily runs for the same date at once: the partition is one run's, never a mix."""
    code = textwrap.dedent(
        """
        import sys, numpy as np, pandas as pd
        from models.serving.predictions import prediction_frame, write_daily
        root, tag = sys.argv[1], sys.argv[2]
        keys = pd.DataFrame({"date": pd.Timestamp("2024-01-02"), "ticker": [f"T{k}" for k in range(5000)]})
        for i in range(15):
            p = np.random.default_rng(i).dirichlet([1, 1, 1], size=5000)
            write_daily(root, pd.Timestamp("2024-01-02"), prediction_frame(keys, p, horizon=5, model_id=tag))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), tag]) for tag in ("run-a", "run-b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    frame = read_daily(tmp_path)
    assert len(frame) == 5000
    assert frame["model_id"].nunique() == 1
    assert len(list((tmp_path / "reports" / "daily" / "date=2024-01-02").iterdir())) == 1


def test_disk_error_at_write_leaves_old_data_and_no_temp_file(tmp_path, monkeypatch):
    keys = pd.DataFrame({"date": pd.Timestamp("2024-01-02"), "ticker": ["A", "B"]})
    old = prediction_frame(keys, np.array([[0.2, 0.3, 0.5], [0.5, 0.3, 0.2]]), horizon=5, model_id="old")
    path = write_daily(tmp_path, pd.Timestamp("2024-01-02"), old)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(pq, "write_table", full_disk)
    new = old.assign(model_id="new")
    with pytest.raises(OSError, match="No space left"):
        write_daily(tmp_path, pd.Timestamp("2024-01-02"), new)
    monkeypatch.undo()
    assert (read_daily(tmp_path)["model_id"] == "old").all()
    assert [p.name for p in path.parent.iterdir()] == ["predictions.parquet"]


def test_disk_error_while_saving_a_model_leaves_no_half_model(tmp_path, monkeypatch):
    import keras

    from models.serving.registry import RegistryError, list_models, load_model, save_model

    model = keras.Sequential([keras.Input((2, 1)), keras.layers.LSTM(2), keras.layers.Dense(3, activation="softmax")])

    def broken_save(self, *args, **kwargs):
        raise OSError(5, "Input/output error (injected)")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="Input/output error"):
        save_model(tmp_path, model, {"classes": ["down", "flat", "up"]}, model_id="m1")
    monkeypatch.undo()
    assert list_models(tmp_path) == []
    assert not (tmp_path / "models" / "m1").exists()
    assert [p for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")] == []
    with pytest.raises(RegistryError, match="no champion"):
        load_model(tmp_path)


def test_corrupt_report_partition_is_named_and_quarantined(tmp_path):
    keys = pd.DataFrame({"date": pd.Timestamp("2024-01-02"), "ticker": ["A"]})
    path = write_daily(
        tmp_path,
        pd.Timestamp("2024-01-02"),
        prediction_frame(keys, np.array([[0.2, 0.3, 0.5]]), horizon=5, model_id="m"),
    )
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.raises(CorruptFileError, match=r"date=2024-01-02.*predictions\.parquet was corrupt.*quarantined as"):
        read_daily(tmp_path)
    assert not path.exists()  # moved aside (tests/faults/test_data_files.py has the rest)


def test_truncated_price_file_is_quarantined_and_other_tickers_still_read(tmp_path):
    store = PriceStore(tmp_path)
    store.write(SyntheticMarket(tickers=2, days=50, seed=1).fetch())
    store.path("SYN00").write_bytes(store.path("SYN00").read_bytes()[:100])
    assert store.read(["SYN00"]).empty  # quarantined, then absent
    assert "SYN00.parquet was corrupt" in store.quarantined["SYN00"]
    assert len(store.read(["SYN01"])) == 50


def test_atomic_write_cleans_its_half_written_temp_file(tmp_path, monkeypatch):
    real = pq.write_table

    def half_then_fail(table, where, **kwargs):
        real(table.slice(0, 1), where, **kwargs)  # some bytes reach the temp file...
        raise OSError(5, "Input/output error (injected)")  # ...then the disk fails

    monkeypatch.setattr(pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="injected"):
        write_parquet(pd.DataFrame({"a": [1, 2, 3]}), tmp_path / "x.parquet")
    assert os.listdir(tmp_path) == []


def test_champion_pointer_is_never_half_written_while_a_train_promotes(tmp_path):
    """A daily run reading the champion while a train run re-points it sees one whole id, every time."""
    import json

    from models.serving.registry import champion_id, models_dir

    for name in ("aaa", "bbb"):
        (models_dir(tmp_path) / name).mkdir(parents=True)
        (models_dir(tmp_path) / name / "model.keras").write_bytes(b"stand-in")  # set_champion checks it exists
    code = textwrap.dedent(
        """
        import sys
        from models.serving.registry import set_champion
        root = sys.argv[1]
        for i in range(300):
            set_champion(root, "aaa" if i % 2 else "bbb", reason=f"flip {i}")
        """
    )
    with subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) as proc:
        seen = set()
        while proc.poll() is None:
            current = champion_id(tmp_path)  # raises on a torn or half-written pointer
            if current is not None:
                seen.add(current)
        assert proc.returncode == 0
    assert seen  # the reader overlapped the writes
    assert seen <= {"aaa", "bbb"}
    assert json.loads((models_dir(tmp_path) / "champion.json").read_text())["model_id"] in {"aaa", "bbb"}
