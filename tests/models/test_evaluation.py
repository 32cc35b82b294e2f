import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from models.evaluation import classification_metrics, diebold_mariano, evaluate_predictions, prior_probs


def test_metrics_hand_example_and_sklearn_agreement():
    y = np.array([0, 1, 2, 2])
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25]])
    m = classification_metrics(y, probs)
    assert m["accuracy"] == 0.75
    assert m["log_loss"] == pytest.approx(-(np.log(0.7) + np.log(0.4) + np.log(0.8) + np.log(0.25)) / 4)
    assert m["log_loss"] == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]))
    assert m["brier"] == pytest.approx(np.mean(((probs - np.eye(3)[y]) ** 2).sum(axis=1)))
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert m["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_prior_is_smoothed_training_frequency():
    np.testing.assert_allclose(prior_probs(np.array([0, 0, 2])), [3 / 6, 1 / 6, 2 / 6])


def test_diebold_mariano_detects_a_real_difference_and_not_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(1.0, 0.1, 500)
    better = base - 0.05 + rng.normal(0, 0.01, 500)
    res = diebold_mariano(better, base, horizon=5)
    assert res["mean_diff"] < 0
    assert res["p_value"] < 1e-6
    noise = diebold_mariano(base + rng.normal(0, 0.1, 500), base + rng.normal(0, 0.1, 500), horizon=5)
    assert noise["p_value"] > 0.01
    assert np.isnan(diebold_mariano(base[:2], base[:2], horizon=5)["statistic"])


def _predictions(probs: np.ndarray, labels: list[str]) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=n),
            "fold": np.repeat([0, 1], [n // 2, n - n // 2]),
            "label": labels,
            "p_down": probs[:, 0],
            "p_flat": probs[:, 1],
            "p_up": probs[:, 2],
        }
    )


def test_diebold_mariano_hln_hand_computed():
    d = np.array([0.3, 0.1, 0.4, 0.2, -0.3, -0.1, 0.5, 0.6])
    # mean 0.2125; gamma0 = 0.08109375; gamma1 = 0.01935546875; long-run variance 0.1198046875
    # DM = 0.2125 / sqrt(0.1198046875 / 8) = 1.7364689520; HLN factor sqrt((8 + 1 - 4 + 2/8) / 8) = 0.8100925873
    res = diebold_mariano(d, np.zeros(8), horizon=2)
    assert res["mean_diff"] == pytest.approx(0.2125)
    assert res["statistic"] == pytest.approx(1.7364689520 * np.sqrt(5.25 / 8), rel=1e-9)
    assert res["statistic"] == pytest.approx(1.406700626, rel=1e-9)
    assert res["p_value"] == pytest.approx(0.2023270537, rel=1e-6)  # Student t, 7 degrees of freedom


def test_verdict_says_no_edge_for_two_equally_good_noisy_models():
    rng = np.random.default_rng(1)
    n = 400
    codes = rng.integers(0, 3, n)
    labels = list(np.array(["down", "flat", "up"])[codes])

    def noisy_model(seed: int) -> np.ndarray:
        logits = np.random.default_rng(seed).normal(0, 0.6, (n, 3))
        logits[np.arange(n), codes] += 0.3  # the same modest skill, different noise
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    model, other = noisy_model(10), noisy_model(11)
    out = evaluate_predictions(_predictions(model, labels), {"twin": other}, horizon=5)
    dm = out["comparisons"]["twin"]
    assert np.isfinite(dm["statistic"])
    assert dm["p_value"] > 0.05
    assert out["has_edge"] is False
    assert out["verdict"].startswith("No significant edge")
    assert "shows no significant edge over the twin baseline" in out["verdict"]


def test_verdict_says_edge_for_a_clearly_better_model():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3, 300)
    labels = list(np.array(["down", "flat", "up"])[codes])
    good = np.full((300, 3), 0.1)
    good[np.arange(300), codes] = 0.8
    prior = np.tile([1 / 3, 1 / 3, 1 / 3], (300, 1))
    out = evaluate_predictions(_predictions(good, labels), {"class_prior": prior}, horizon=5)
    assert out["has_edge"] is True
    assert "beats the class prior" in out["verdict"]
    assert set(out["per_fold"]) == {"0", "1"}
