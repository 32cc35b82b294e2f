"""The directional verdict beside the probabilistic one: a volatility forecaster wins on log-loss and not on
direction; a forecaster of the sign wins on direction."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.labels import CLASSES
from models.evaluation.directional import sign_loss
from models.evaluation.metrics import evaluate_predictions, metrics_table

BAND = 0.01


def _market(seed: int, *, tickers: int = 30, days: int = 250) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One-day returns whose volatility (0.4% or 3%) is known in advance and whose sign is a coin flip."""
    rng = np.random.default_rng(seed)
    n = tickers * days
    vol = rng.choice([0.004, 0.03], n)
    z = rng.standard_normal(n)
    r = vol * z
    label = np.where(r > BAND, "up", np.where(r < -BAND, "down", "flat"))
    keys = pd.DataFrame({"date": np.repeat(pd.bdate_range("2020-01-01", periods=days), tickers),
                         "ticker": np.tile([f"T{k}" for k in range(tickers)], days)})  # fmt: skip
    return keys.assign(forward_return=r, label=label), vol, z


def _frame(keys: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    return keys.assign(p_down=probs[:, 0], p_flat=probs[:, 1], p_up=probs[:, 2],
                       predicted=np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)])  # fmt: skip


def _baselines(keys: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
    freq = keys["label"].value_counts(normalize=True).reindex(CLASSES).to_numpy()
    rng = np.random.default_rng(seed)
    return {"class_prior": np.tile(freq, (len(keys), 1)), "noise": rng.dirichlet([20, 20, 20], len(keys))}


def test_a_volatility_forecaster_wins_on_log_loss_but_not_on_direction():
    keys, vol, _ = _market(0)
    rng = np.random.default_rng(1)
    p_flat = 2 * stats.norm.cdf(BAND / vol) - 1  # the exact chance of staying inside the band
    tilt = rng.normal(0, 0.01, len(keys))  # no knowledge of the sign
    probs = np.column_stack([(1 - p_flat) / 2 - tilt, p_flat, (1 - p_flat) / 2 + tilt]).clip(1e-4, 1)
    probs /= probs.sum(axis=1, keepdims=True)
    ev = evaluate_predictions(_frame(keys, probs), _baselines(keys, 2), horizon=1)
    assert ev["has_edge"] is True  # the probabilistic verdict is won by forecasting size
    assert ev["verdicts"]["probabilistic"]["has_edge"] is True
    directional = ev["verdicts"]["directional"]
    assert directional["has_edge"] is False
    assert directional["ranking_edge"] is False
    assert directional["verdict"].startswith("No significant directional edge")
    assert abs(directional["model_hit_rate"] - 0.5) < 0.03
    assert directional["n_calls"] == int((probs.argmax(axis=1) != 1).sum())
    assert ev["verdict"] == ev["verdicts"]["probabilistic"]["verdict"]  # the old key is the probabilistic verdict


def test_a_sign_forecaster_wins_on_direction_and_ranking():
    keys, _, z = _market(3)
    rng = np.random.default_rng(4)
    knows = rng.random(len(keys)) < 0.2  # right about the sign on a fifth of the rows, a guess elsewhere
    guess = np.where(knows, np.sign(z), rng.choice([-1.0, 1.0], len(keys)))
    probs = np.column_stack([0.4 - 0.05 * guess, np.full(len(keys), 0.2), 0.4 + 0.05 * guess])
    ev = evaluate_predictions(_frame(keys, probs), _baselines(keys, 5), horizon=1)
    directional = ev["verdicts"]["directional"]
    assert directional["has_edge"] is True
    assert directional["verdict"].startswith("Directional edge")
    assert directional["model_hit_rate"] > 0.55
    assert directional["ranking_edge"] is True
    assert directional["rank_ic"]["model_mean"] > 0.1
    prior = directional["rank_ic"]["comparisons"]["class_prior"]
    assert prior["baseline_mean"] == 0.0  # a constant score ranks nothing
    for c in directional["comparisons"].values():
        assert c["p_holm"] >= c["p_value"]
    table = metrics_table(ev)
    row = table[(table["metric"] == "has_directional_edge") & (table["subject"] == "model")]
    assert row["value"].tolist() == [1.0]
    assert ((table["metric"] == "dir_dm_p_holm") & (table["subject"] == "noise")).sum() == 1


def test_sign_loss_hand_example():
    probs = np.array([[0.2, 0.3, 0.5], [0.5, 0.3, 0.2], [0.3, 0.4, 0.3], [0.1, 0.1, 0.8]])
    realised = np.array([1.0, 1.0, -1.0, -1.0])
    np.testing.assert_allclose(sign_loss(probs, realised), [0.0, 1.0, 0.5, 1.0])


def test_the_directional_verdict_without_forward_returns_uses_the_labels():
    keys, _, z = _market(6, tickers=5, days=60)
    probs = np.column_stack([0.4 - 0.1 * np.sign(z), np.full(len(keys), 0.2), 0.4 + 0.1 * np.sign(z)])
    ev = evaluate_predictions(_frame(keys.drop(columns="forward_return"), probs), _baselines(keys, 7), horizon=1)
    directional = ev["verdicts"]["directional"]
    assert directional["realised_direction"] == "realised label, flat excluded"
    assert directional["rank_ic"] is None
    assert directional["n_calls"] == int((keys["label"] != "flat").sum())
    assert directional["model_hit_rate"] == pytest.approx(1.0)
