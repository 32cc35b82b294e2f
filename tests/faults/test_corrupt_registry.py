"""Issue 19, round two: a corrupt registry file is named and recoverable (points 2, 6, 7).

One tiny model is trained once for the module; each test tampers with a copy of its registry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dataset import DatasetConfig
from features.prices.sources.synthetic import SyntheticMarket
from flows import exits
from flows.cli.commands import main
from models.serving.promotion import decide_promotion
from models.serving.registry import (
    CorruptModelError,
    champion_id,
    list_models,
    load_model,
    save_model,
    set_champion,
    unreadable_models,
)
from models.serving.scoring import train_production_model
from tests.support import TINY_MODEL, TINY_TRAIN

SOURCE = "synthetic:tickers=2,days=200,seed=1"


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("registry")
    prices = SyntheticMarket(tickers=2, days=200, seed=1).fetch()
    fitted, meta = train_production_model(prices, DatasetConfig(timesteps=5), TINY_MODEL, TINY_TRAIN, verbose=0)
    model_id = save_model(root, fitted, meta)
    set_champion(root, model_id, reason="test")
    return root, model_id


@pytest.fixture
def root(stored, tmp_path) -> Path:
    shutil.copytree(stored[0] / "models", tmp_path / "models")
    return tmp_path


def _cli(argv: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([*argv, "--data-root", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# ------------------------------------------------------------------ 2: a corrupt champion.json


def test_a_corrupt_champion_pointer_is_replaced_by_the_candidate(root):
    _truncate(root / "models" / "champion.json")
    with pytest.raises(CorruptModelError, match=r"champion\.json is corrupt"):
        champion_id(root)
    decision = decide_promotion(
        root, pd.DataFrame(), {"dataset": {"label": {}}}, pd.DataFrame(columns=["date", "ticker"]),
        np.array([], dtype="int64"), np.empty((0, 3)),
    )  # fmt: skip
    assert decision.promote is True
    assert decision.unusable_champion is True
    assert decision.reason.startswith("the current champion cannot be used: champion pointer ")
    assert "champion.json is corrupt" in decision.reason


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")  # the flows' tasks need an API
def test_train_says_the_champion_is_corrupt_and_promotes_the_new_model(root, capsys, monkeypatch, caplog):
    import flows.train

    monkeypatch.setattr(flows.train, "train_flow", flows.train.train_flow.fn)  # no Prefect server
    (root / "models" / "champion.json").write_text('{"model_id": ')
    status, out, err = _cli(
        ["train", "--source", SOURCE, "--timesteps", "5", "--units", "4", "--epochs", "1"], root, capsys
    )
    assert status == exits.OK, err
    new_id = out.strip().splitlines()[-1]
    assert champion_id(root) == new_id
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"model {new_id}: the current champion cannot be used: champion pointer" in m for m in warned)
    stored = json.loads((root / "models" / new_id / "metadata.json").read_text())
    assert stored["promotion"]["unusable_champion"] is True


# ------------------------------------------------------------------ 6: tampered metadata, one line


@pytest.mark.parametrize(
    ("tamper", "needle"),
    [
        (lambda meta: [], "is corrupt: a JSON list, not an object"),
        (lambda meta: {**meta, "scaler": {k: v for k, v in meta["scaler"].items() if k != "mean"}}, "lacks 'mean'"),
        (lambda meta: {**meta, "scaler": {**meta["scaler"], "scale": [1.0]}}, "scaler.scale and scaler.feature_names"),
    ],
)
def test_tampered_metadata_is_corrupt_and_named(tamper, needle, root, stored):
    card = root / "models" / stored[1] / "metadata.json"
    card.write_text(json.dumps(tamper(json.loads(card.read_text()))))
    with pytest.raises(CorruptModelError, match=needle) as caught:
        load_model(root)
    assert str(card) in str(caught.value)
    assert exits.status_of(caught.value) == exits.CORRUPT


def test_models_show_names_metadata_that_is_not_an_object(root, stored, capsys):
    card = root / "models" / stored[1] / "metadata.json"
    card.write_text("[]")
    status, out, err = _cli(["models", "show"], root, capsys)
    assert status == exits.CORRUPT
    assert out == ""
    assert err == f"updown models: error: model metadata {card} is corrupt: a JSON list, not an object\n"


# ------------------------------------------------------------------ 7: truncated files, named


def test_a_truncated_keras_file_is_called_corrupt_not_missing(root, stored):
    path = root / "models" / stored[1] / "model.keras"
    _truncate(path)
    with pytest.raises(CorruptModelError) as caught:
        load_model(root)
    message = str(caught.value)
    assert message == f"model file {path} is corrupt: not a whole .keras (zip) archive, truncated?"
    assert "File not found" not in message
    assert exits.status_of(caught.value) == exits.CORRUPT


def test_a_truncated_metadata_file_is_listed_as_corrupt(root, stored, capsys):
    card = root / "models" / stored[1] / "metadata.json"
    _truncate(card)
    assert list_models(root) == []
    (problem,) = unreadable_models(root).values()
    assert problem.startswith(f"model metadata {card} is corrupt (not JSON: ")
    status, out, err = _cli(["models", "list"], root, capsys)
    assert status == exits.CORRUPT
    assert out.strip() == f"no readable models under {root / 'models'}"
    assert err.startswith(f"updown models list: error: model {stored[1]} (the champion) is unreadable: {problem}")
