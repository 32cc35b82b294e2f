"""Honest scoring of out-of-sample predictions against baselines on the same samples.

The first version covers what a reader needs to decide whether there is an edge: accuracy,
balanced accuracy, macro-F1, log-loss and Brier score for the model and for two baselines
(the class prior of each fold's training labels, and its majority class), plus a
Diebold-Mariano test (Harvey-Leybourne-Newbold correction) on log-loss. Losses are averaged
across tickers per date first, because same-day samples are not independent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

from features.labels import CLASSES

PROB_COLUMNS = ("p_down", "p_flat", "p_up")
_EPS = 1e-12


def label_codes(labels: pd.Series) -> np.ndarray:
    """Class names (down/flat/up) to codes 0/1/2."""
    lookup = {name: k for k, name in enumerate(CLASSES)}
    return labels.map(lookup).to_numpy(dtype="int64")


def sample_log_loss(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy ``-log p[y]`` in nats (probabilities clipped at 1e-12)."""
    return -np.log(np.clip(probs[np.arange(len(y)), y], _EPS, 1.0))


def classification_metrics(y: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, log-loss, Brier score and confusion matrix.

    Args:
        y: int array (n,) of true classes 0/1/2.
        probs: float array (n, 3) of predicted probabilities.
    """
    pred = probs.argmax(axis=1)
    onehot = np.eye(len(CLASSES))[y]
    labels = list(range(len(CLASSES)))
    return {
        "n": len(y),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)),
        "macro_f1": float(skm.f1_score(y, pred, average="macro", labels=labels, zero_division=0)),
        "log_loss": float(sample_log_loss(y, probs).mean()),
        "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()),
        "confusion_matrix": skm.confusion_matrix(y, pred, labels=labels).tolist(),
    }


def prior_probs(train_labels: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Training class frequencies (add-one smoothed so no class has probability 0)."""
    counts = np.bincount(np.asarray(train_labels, dtype="int64"), minlength=n_classes) + 1.0
    return counts / counts.sum()


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, *, horizon: int) -> dict[str, float]:
    """Diebold-Mariano test of equal expected loss, with the Harvey-Leybourne-Newbold correction.

    ``d_t = loss_a_t - loss_b_t``; negative mean means ``a`` is better. The long-run variance
    uses autocovariances up to lag ``horizon - 1`` (overlapping ``horizon``-day labels).

    Returns:
        ``mean_diff``, ``statistic`` (HLN-corrected) and two-sided ``p_value`` from Student t
        with T-1 degrees of freedom. NaN statistic when fewer than 3 observations or zero variance.
    """
    d = np.asarray(loss_a, dtype="float64") - np.asarray(loss_b, dtype="float64")
    T, h = len(d), max(int(horizon), 1)
    if T < 3:
        return {"mean_diff": float(d.mean()) if T else float("nan"), "statistic": float("nan"), "p_value": float("nan")}
    dc = d - d.mean()
    gammas = [float(dc[k:] @ dc[: T - k]) / T for k in range(min(h, T))]
    lrv = gammas[0] + 2 * sum(gammas[1:])
    if lrv <= 0:
        lrv = gammas[0]
    if lrv <= 0:
        return {"mean_diff": float(d.mean()), "statistic": float("nan"), "p_value": float("nan")}
    dm = d.mean() / np.sqrt(lrv / T)
    hln = dm * np.sqrt(max(T + 1 - 2 * h + h * (h - 1) / T, 1e-12) / T)
    p = 2 * stats.t.sf(abs(hln), df=T - 1)
    return {"mean_diff": float(d.mean()), "statistic": float(hln), "p_value": float(p)}


def evaluate_predictions(
    predictions: pd.DataFrame, baselines: dict[str, np.ndarray], *, horizon: int, alpha: float = 0.05
) -> dict[str, Any]:
    """Score the model and each baseline on exactly the same samples, and say which wins.

    Args:
        predictions: Backtest predictions (``label``, ``p_down/p_flat/p_up``, ``date``, ``fold``).
        baselines: name -> probabilities (n, 3), row-aligned with ``predictions``.
        horizon: label horizon, for the Diebold-Mariano lag window.
        alpha: significance level of the verdicts.

    Returns:
        JSON-ready dict: ``model`` and ``baselines`` metrics, ``per_fold`` model metrics,
        ``comparisons`` (DM test per baseline) and a plain-words ``verdict``.
    """
    y = label_codes(predictions["label"])
    probs = predictions.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    dates = predictions["date"].to_numpy()
    model_loss = pd.Series(sample_log_loss(y, probs)).groupby(dates).mean()
    out: dict[str, Any] = {
        "model": classification_metrics(y, probs),
        "baselines": {},
        "comparisons": {},
        "per_fold": {},
    }
    for fold, idx in predictions.groupby("fold").indices.items():
        out["per_fold"][str(fold)] = classification_metrics(y[idx], probs[idx])
    verdicts = []
    for name, bprobs in baselines.items():
        out["baselines"][name] = classification_metrics(y, bprobs)
        base_loss = pd.Series(sample_log_loss(y, bprobs)).groupby(dates).mean()
        dm = diebold_mariano(model_loss.to_numpy(), base_loss.to_numpy(), horizon=horizon)
        better = dm["mean_diff"] < 0 and dm["p_value"] < alpha
        worse = dm["mean_diff"] > 0 and dm["p_value"] < alpha
        dm["significant_edge"] = bool(better)
        out["comparisons"][name] = dm
        word = "beats" if better else "is significantly worse than" if worse else "shows no significant edge over"
        verdicts.append(
            f"The model {word} the {name.replace('_', ' ')} baseline on log-loss "
            f"({out['model']['log_loss']:.4f} vs {out['baselines'][name]['log_loss']:.4f}, "
            f"Diebold-Mariano p={dm['p_value']:.3g})."
        )
    edge = any(c["significant_edge"] for c in out["comparisons"].values())
    out["has_edge"] = bool(edge and all(c["significant_edge"] for c in out["comparisons"].values()))
    headline = "Edge: the model beats every baseline." if out["has_edge"] else "No significant edge over the baselines."
    out["verdict"] = " ".join([headline, *verdicts])
    return out
