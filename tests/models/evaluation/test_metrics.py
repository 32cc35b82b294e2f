import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, log_loss, matthews_corrcoef, precision_recall_fscore_support

from models.evaluation.metrics import (
    TIDY_COLUMNS,
    classification_metrics,
    diebold_mariano,
    evaluate_predictions,
    expected_calibration_error,
    is_hard,
    metrics_table,
    prior_probs,
    reliability_table,
)


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
            "date": pd.bdate_range("2020-09-01", periods=n),
            "fold": np.repeat([0, 1], [n // 2, n - n // 2]),
            "label": labels,
            "p_down": probs[:, 0],
            "p_flat": probs[:, 1],
            "p_up": probs[:, 2],
        }
    )


def test_diebold_mariano_hln_hand_computed():
    d = np.array([0.3, 0.1, 0.4, 0.2, -0.3, -0.1, 0.5, 0.6])
    # mean 0.2125; gamma_0..3 = 0.08109375, 0.01935546875, -0.0428515625, -0.02552734375 (n = ceil(4 (8/100)^(2/9))
    # = 3 lags): s0 = -0.016953125, s1 = -0.285859375, Newey-West (1994) bandwidth 1.1447 (s1^2/s0^2 8)^(1/3)
    # = 15.05, capped at T - 1 = 7. Bartlett: LRV = gamma_0 + 2 sum_j (1 - j/8) gamma_j = 0.02482421875, below
    # the truncated estimate over the overlap's lag 1 (horizon 2), gamma_0 + 2 gamma_1 = 0.1198046875, which
    # is used instead. DM = 0.2125 / sqrt(0.1198046875 / 8) = 1.7364828; HLN factor
    # sqrt((8 + 1 - 4 + 2/8) / 8) = 0.8100925873.
    res = diebold_mariano(d, np.zeros(8), horizon=2)
    assert res["mean_diff"] == pytest.approx(0.2125)
    assert res["bandwidth"] == 7.0
    assert res["statistic"] == pytest.approx(0.2125 / np.sqrt(0.1198046875 / 8) * np.sqrt(5.25 / 8), rel=1e-9)
    assert res["statistic"] == pytest.approx(1.4067006261, rel=1e-9)
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


HAND_Y = np.array([0, 1, 2, 2])
HAND_P = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25]])


def test_mcc_and_per_class_hand_example():
    m = classification_metrics(HAND_Y, HAND_P)
    # predicted (0, 1, 2, 0); t = (1, 1, 2), p = (2, 1, 1), 3 of 4 right:
    # (3 * 4 - t.p) / sqrt((16 - p.p)(16 - t.t)) = (12 - 5) / sqrt(10 * 10) = 0.7
    assert m["mcc"] == pytest.approx(0.7)
    assert m["per_class"]["down"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert m["per_class"]["up"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}


def test_metrics_agree_with_sklearn_on_random_data():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 500)
    probs = rng.dirichlet([1, 1, 1], 500)
    pred = probs.argmax(axis=1)
    m = classification_metrics(y, probs)
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    prec, rec, f1, sup = precision_recall_fscore_support(y, pred, labels=[0, 1, 2])
    for k, name in enumerate(["down", "flat", "up"]):
        assert m["per_class"][name]["precision"] == pytest.approx(prec[k])
        assert m["per_class"][name]["recall"] == pytest.approx(rec[k])
        assert m["per_class"][name]["f1"] == pytest.approx(f1[k])
        assert m["per_class"][name]["support"] == sup[k]


def test_metrics_on_a_single_class_slice_do_not_warn():
    m = classification_metrics(np.array([2, 2]), np.array([[0.1, 0.2, 0.7], [0.6, 0.2, 0.2]]))
    assert m["balanced_accuracy"] == 0.5
    assert m["mcc"] == 0.0


def test_ece_hand_example():
    # One sample per bin with 10 bins: gaps |1-0.7|, |1-0.4|, |1-0.8|, |0-0.5| -> mean 0.4.
    assert expected_calibration_error(HAND_Y, HAND_P, bins=10) == pytest.approx(0.4)
    # Two bins: (0, 0.5] holds 0.4 (right) and 0.5 (wrong): |0.5 - 0.45| = 0.05;
    # (0.5, 1] holds 0.7 and 0.8 (both right): |1 - 0.75| = 0.25 -> 0.5 * 0.05 + 0.5 * 0.25 = 0.15.
    assert expected_calibration_error(HAND_Y, HAND_P, bins=2) == pytest.approx(0.15)
    table = reliability_table(HAND_Y, HAND_P, bins=2)
    assert table["count"].tolist() == [2, 2]
    np.testing.assert_allclose(table["confidence"], [0.45, 0.75])
    np.testing.assert_allclose(table["accuracy"], [0.5, 1.0])
    assert classification_metrics(HAND_Y, HAND_P)["ece"] == pytest.approx(0.4)


def test_reliability_table_keeps_empty_bins_as_nan():
    table = reliability_table(HAND_Y, HAND_P, bins=5)
    assert table["count"].tolist() == [0, 1, 1, 2, 0]  # (0.2, 0.4], (0.4, 0.6], (0.6, 0.8]
    assert np.isnan(table.loc[0, "accuracy"])
    assert table["upper"].iloc[-1] == 1.0


def test_hard_baseline_is_compared_on_accuracy_and_has_no_log_loss():
    rng = np.random.default_rng(5)
    n = 300
    codes = rng.integers(0, 3, n)
    labels = list(np.array(["down", "flat", "up"])[codes])
    good = np.full((n, 3), 0.15)
    good[np.arange(n), codes] = 0.7
    majority = np.tile([0.0, 1.0, 0.0], (n, 1))
    assert is_hard(majority)
    assert not is_hard(good)
    out = evaluate_predictions(_predictions(good, labels), {"majority_class": majority}, horizon=5)
    assert out["baselines"]["majority_class"]["log_loss"] is None
    assert out["baselines"]["majority_class"]["accuracy"] == pytest.approx(np.mean(codes == 1))
    c = out["comparisons"]["majority_class"]
    assert c["loss"] == "zero_one"
    assert c["model_value"] == pytest.approx(1.0)
    assert c["significant_edge"] is True
    assert "beats the majority class baseline on accuracy" in out["verdict"]


def test_edge_needs_every_baseline_and_the_result_is_strict_json():
    rng = np.random.default_rng(6)
    n = 400
    codes = rng.integers(0, 3, n)
    labels = list(np.array(["down", "flat", "up"])[codes])
    right = rng.uniform(0.6, 0.9, n)
    good = np.repeat(((1 - right) / 2)[:, None], 3, axis=1)
    good[np.arange(n), codes] = right
    oracle = np.full((n, 3), 0.01)
    oracle[np.arange(n), codes] = 0.98
    prior = np.tile([1 / 3, 1 / 3, 1 / 3], (n, 1))
    frame = _predictions(good, labels).assign(ticker="AAA", forward_return=rng.normal(0, 0.02, n))
    out = evaluate_predictions(frame, {"class_prior": prior, "oracle": oracle}, horizon=5)
    assert out["comparisons"]["class_prior"]["significant_edge"] is True
    assert out["comparisons"]["oracle"]["significantly_worse"] is True
    assert out["has_edge"] is False
    assert out["verdict"].startswith("No significant edge: the model beats 1 of 2 baselines")
    assert "is significantly worse than the oracle baseline" in out["verdict"]
    assert out["verdict_lines"][0] in out["verdict"]
    json.dumps(out, allow_nan=False)  # NaN (e.g. the IC on one ticker) became null
    assert out["ranking"]["n_dates"] == 0
    assert set(out["per_year"]) == {"2020", "2021", "2022"}  # 400 business days from September 2020
    assert set(out["baselines_per_fold"]["oracle"]) == {"0", "1"}
    assert out["direction"]["realised_direction"] == "sign of the forward return"


def test_direction_uses_up_down_calls_only():
    probs = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
    frame = _predictions(probs, ["up", "down", "up", "down", "flat"]).assign(
        forward_return=[0.03, -0.02, 0.05, -0.01, 0.004]
    )
    d = evaluate_predictions(frame, {}, horizon=1)["direction"]
    assert d["flat_predictions_excluded"] == 1
    assert d["n"] == 4
    assert d["hit_rate"] == pytest.approx(0.5)  # up/up, down/down right; up on -0.01 and down on +0.004 wrong


def test_no_baselines_is_never_an_edge():
    probs = np.tile([0.2, 0.2, 0.6], (10, 1))
    out = evaluate_predictions(_predictions(probs, ["up"] * 10), {}, horizon=1)
    assert out["has_edge"] is False
    assert out["verdict"].startswith("No significant edge")


def test_metrics_table_is_tidy_and_matches_the_dict():
    rng = np.random.default_rng(8)
    n = 200
    codes = rng.integers(0, 3, n)
    labels = list(np.array(["down", "flat", "up"])[codes])
    probs = rng.dirichlet([2, 2, 2], n)
    frame = _predictions(probs, labels)
    out = evaluate_predictions(
        frame,
        {"class_prior": np.tile([0.3, 0.4, 0.3], (n, 1)), "majority_class": np.tile([0.0, 1.0, 0.0], (n, 1))},
        horizon=5,
    )
    table = metrics_table(out)
    assert tuple(table.columns) == TIDY_COLUMNS
    assert table["value"].dtype == np.float64
    assert not table.duplicated(["metric", "subject", "scope"]).any()

    def value(metric: str, subject: str, scope: str) -> float:
        row = table[(table["metric"] == metric) & (table["subject"] == subject) & (table["scope"] == scope)]
        assert len(row) == 1
        return float(row["value"].iloc[0])

    assert value("accuracy", "model", "all") == pytest.approx(out["model"]["accuracy"])
    assert value("log_loss", "model", "fold=1") == pytest.approx(out["per_fold"]["1"]["log_loss"])
    assert value("recall_up", "class_prior", "year=2020") == pytest.approx(
        out["baselines_per_year"]["class_prior"]["2020"]["per_class"]["up"]["recall"]
    )
    assert math.isnan(value("log_loss", "majority_class", "all"))
    assert value("dm_p_value", "class_prior", "all") == pytest.approx(out["comparisons"]["class_prior"]["p_value"])
    assert value("has_edge", "model", "all") == 0.0
    extra = pd.DataFrame({"metric": ["sharpe"], "subject": ["long_short"], "scope": ["all"], "value": [0.5]})
    assert len(metrics_table(out, extra)) == len(table) + 1


def test_honesty_noise_predictions_have_no_edge_and_a_sharpe_interval_around_zero():
    from features.dataset import DatasetConfig, build_panel
    from features.labels import CLASSES
    from features.prices.sources.synthetic import SyntheticMarket
    from models.evaluation.strategy import backtest_strategy
    from models.learn.baselines import BaselineData, fit_baselines

    prices = SyntheticMarket(tickers=5, days=800, seed=21, signal=0.0).fetch()  # a random walk
    panel = build_panel(prices, DatasetConfig(timesteps=5))
    data = BaselineData.from_panel(panel, adj_close=prices["adj_close"].to_numpy(), lags=2)
    samples = panel.samples()
    calendar = np.unique(panel.dates[samples])
    start = calendar[int(len(calendar) * 0.5)]
    train_rows = samples[panel.label_end[samples] < calendar[int(len(calendar) * 0.5) - 6]]
    test_rows = samples[panel.dates[samples] >= start]
    baselines = fit_baselines(data.take(train_rows), data.take(test_rows), seed=0)
    noise = np.random.default_rng(0).dirichlet([4, 4, 4], len(test_rows))
    keys = panel.keys.iloc[test_rows].reset_index(drop=True)
    frame = keys.assign(
        p_down=noise[:, 0],
        p_flat=noise[:, 1],
        p_up=noise[:, 2],
        predicted=np.asarray(CLASSES, dtype=object)[noise.argmax(axis=1)],
        label=np.asarray(CLASSES, dtype=object)[panel.label[test_rows]],
        forward_return=panel.forward_return[test_rows],
        fold=(keys["date"] >= keys["date"].iloc[len(keys) // 2]).astype("int32"),
    )
    out = evaluate_predictions(frame, baselines, horizon=5)
    assert out["has_edge"] is False
    assert out["verdict"].startswith("No significant edge")
    assert not any(c["significant_edge"] for c in out["comparisons"].values())
    strategy = backtest_strategy(frame, prices, lag=1, horizon=5, n_boot=300, seed=0)
    for variant in ("long_short", "long_only"):
        ci = strategy.metrics[variant]["sharpe_ci"]
        assert ci["lower"] < 0 < ci["upper"], variant


def test_identical_forecasts_are_no_edge_and_say_why():
    probs = np.random.default_rng(9).dirichlet([2, 2, 2], 60)
    labels = list(np.array(["down", "flat", "up"])[np.random.default_rng(10).integers(0, 3, 60)])
    out = evaluate_predictions(_predictions(probs, labels), {"twin": probs.copy()}, horizon=5)
    assert out["comparisons"]["twin"]["p_value"] is None
    assert out["has_edge"] is False
    assert "Diebold-Mariano undefined: identical losses or too few dates" in out["verdict"]
