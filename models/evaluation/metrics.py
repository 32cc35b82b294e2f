"""Honest scoring of out-of-sample predictions against baselines on the same samples.

:func:`evaluate_predictions` scores the model and every baseline (:mod:`models.learn.baselines`) on
exactly the same rows — accuracy, balanced accuracy, macro-F1, MCC, log-loss, Brier score, ECE,
per-class precision/recall/F1 and the confusion matrix, overall, per walk-forward block and per
calendar year — adds the ranking IC (:mod:`models.evaluation.ranking`) and the Pesaran-Timmermann direction
test, and compares the model with each baseline by a Diebold-Mariano test (Harvey-Leybourne-Newbold
correction, :mod:`models.evaluation.significance`) on per-sample losses averaged per date first, because
same-day samples are not independent.

A baseline whose probabilities are all exactly 0 or 1 (e.g. the majority class) is a *hard*
classifier: its log-loss, Brier score and ECE would only measure the zeros, so they are reported as
None and it is compared on the 0-1 loss (error rate). Every other baseline is compared on log-loss.

Two verdicts, side by side (``verdicts``): the **probabilistic** one (log-loss; ``has_edge`` and
``verdict`` at the top level are this one) is true only when the model is significantly better than
*every* baseline, each p-value Holm-adjusted over the baselines so that every "beats" sentence holds
family-wise; otherwise the verdict starts with "No significant edge". The **directional** one
(:mod:`models.evaluation.directional`) asks the same of the sign calls, and of the rank IC.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from features.labels import CLASSES, PROB_COLUMNS
from features.storage.atomic import json_ready
from models.evaluation.directional import directional_evaluation
from models.evaluation.multiple import holm
from models.evaluation.ranking import information_coefficient
from models.evaluation.significance import diebold_mariano, per_date_mean, pesaran_timmermann

__all__ = [
    "PROB_COLUMNS",
    "TIDY_COLUMNS",
    "classification_metrics",
    "diebold_mariano",
    "evaluate_predictions",
    "expected_calibration_error",
    "is_hard",
    "json_ready",
    "label_codes",
    "matthews_corrcoef",
    "metrics_table",
    "prior_probs",
    "reliability_table",
    "sample_log_loss",
]

TIDY_COLUMNS = ("metric", "subject", "scope", "value")
_EPS = 1e-12
_PROBABILISTIC = ("log_loss", "brier", "ece")


def label_codes(labels: pd.Series) -> np.ndarray:
    """Class names (down/flat/up) to codes 0/1/2."""
    lookup = {name: k for k, name in enumerate(CLASSES)}
    return labels.map(lookup).to_numpy(dtype="int64")


def sample_log_loss(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy ``-log p[y]`` in nats (probabilities clipped at 1e-12)."""
    return -np.log(np.clip(probs[np.arange(len(y)), y], _EPS, 1.0))


def is_hard(probs: np.ndarray) -> bool:
    """True when every probability is exactly 0 or 1 (a hard classifier such as the majority class)."""
    p = np.asarray(probs, dtype="float64")
    return bool(len(p)) and bool(np.all((p == 0.0) | (p == 1.0)))


def reliability_table(y: np.ndarray, probs: np.ndarray, *, bins: int = 10) -> pd.DataFrame:
    """Reliability curve of the top-label confidence (the largest probability of each sample).

    Bins are equal-width on [0, 1] and right-closed, ``(lower, upper]`` (the first also holds 0), as in
    Guo et al. (2017).

    Args:
        y: int array (n,) of true classes 0/1/2.
        probs: float array (n, 3).
        bins: number of bins (>= 1).

    Returns:
        One row per bin: ``bin, lower, upper, count, confidence`` (mean top probability),
        ``accuracy`` (share whose top class was right) and ``gap`` (accuracy - confidence);
        NaN confidence/accuracy/gap in empty bins.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got bins={bins}")
    p = np.asarray(probs, dtype="float64")
    conf = p.max(axis=1)
    hit = (p.argmax(axis=1) == np.asarray(y)).astype("float64")
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.digitize(conf, edges[1:-1], right=True)
    count = np.bincount(idx, minlength=bins).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
        acc = np.bincount(idx, weights=hit, minlength=bins) / count
    return pd.DataFrame(
        {"bin": np.arange(bins), "lower": edges[:-1], "upper": edges[1:], "count": count,
         "confidence": mean_conf, "accuracy": acc, "gap": acc - mean_conf}
    )  # fmt: skip


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, *, bins: int = 10) -> float:
    """ECE: ``sum_b (n_b / n) |accuracy_b - confidence_b|`` over :func:`reliability_table` bins."""
    table = reliability_table(y, probs, bins=bins)
    used = table["count"] > 0
    weights = table["count"][used] / table["count"].sum()
    return float((weights * table["gap"][used].abs()).sum())


def matthews_corrcoef(confusion: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K) of a confusion matrix, as scikit-learn computes it.

    ``(c s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t))`` with ``c`` correct, ``s`` samples, ``t`` true and ``p``
    predicted counts per class; 0 when either side has a single class (the denominator vanishes).
    """
    cm = np.asarray(confusion, dtype="float64")
    t, p, s, c = cm.sum(axis=1), cm.sum(axis=0), cm.sum(), np.trace(cm)
    denom = (s**2 - p @ p) * (s**2 - t @ t)
    return float((c * s - t @ p) / np.sqrt(denom)) if denom > 0 else 0.0


def classification_metrics(
    y: np.ndarray, probs: np.ndarray, *, probabilistic: bool = True, bins: int = 10
) -> dict[str, Any]:
    """Accuracy-type, probabilistic and per-class metrics, and the confusion matrix.

    Args:
        y: int array (n,) of true classes 0/1/2.
        probs: float array (n, 3) of predicted probabilities.
        probabilistic: False for hard classifiers: ``log_loss``, ``brier`` and ``ece`` are None.
        bins: ECE bins.

    Returns:
        ``n, accuracy, balanced_accuracy, macro_f1, mcc, log_loss`` (nats), ``brier`` (sum over the
        3 classes, 0..2), ``ece``, ``confusion_matrix`` (rows = true, columns = predicted, class
        order down/flat/up) and ``per_class`` ({class: precision, recall, f1, support}).
    """
    y = np.asarray(y, dtype="int64")
    probs = np.asarray(probs, dtype="float64")
    pred = probs.argmax(axis=1)
    onehot = np.eye(len(CLASSES))[y]
    labels = list(range(len(CLASSES)))
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    cm = skm.confusion_matrix(y, pred, labels=labels)
    present = support > 0  # sklearn's balanced accuracy, without its warning for classes absent from y
    out: dict[str, Any] = {
        "n": len(y),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "balanced_accuracy": float(np.mean(np.diag(cm)[present] / support[present])) if present.any() else float("nan"),
        "macro_f1": float(skm.f1_score(y, pred, average="macro", labels=labels, zero_division=0)),
        "mcc": matthews_corrcoef(cm),
        "log_loss": float(sample_log_loss(y, probs).mean()),
        "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()),
        "ece": expected_calibration_error(y, probs, bins=bins),
        "confusion_matrix": cm.tolist(),
        "per_class": {
            name: {"precision": float(prec[k]), "recall": float(rec[k]), "f1": float(f1[k]), "support": int(support[k])}
            for k, name in enumerate(CLASSES)
        },
    }
    if not probabilistic:
        out.update(dict.fromkeys(_PROBABILISTIC))
    return out


def prior_probs(train_labels: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Training class frequencies (add-one smoothed so no class has probability 0)."""
    counts = np.bincount(np.asarray(train_labels, dtype="int64"), minlength=n_classes) + 1.0
    return counts / counts.sum()


def _grouped(y: np.ndarray, probs: np.ndarray, groups: np.ndarray, *, hard: bool, bins: int) -> dict[str, Any]:
    out = {}
    for key, idx in pd.Series(np.arange(len(y))).groupby(groups, sort=True).indices.items():
        out[str(key)] = classification_metrics(y[idx], probs[idx], probabilistic=not hard, bins=bins)
    return out


def _direction(predictions: pd.DataFrame, y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Pesaran-Timmermann on the model's up/down calls (flat calls have no direction)."""
    called = pred != 1
    if "forward_return" in predictions:
        r = predictions["forward_return"].to_numpy(dtype="float64")
        keep, realised_up, source = called & np.isfinite(r) & (r != 0), r > 0, "sign of the forward return"
    else:
        keep, realised_up, source = called & (y != 1), y == 2, "realised label, flat excluded"
    res = pesaran_timmermann(pred[keep] == 2, realised_up[keep])
    return {**res, "realised_direction": source, "flat_predictions_excluded": int((~called).sum())}


def _compare(
    y: np.ndarray, model: np.ndarray, base: np.ndarray, dates: np.ndarray, *, hard: bool, horizon: int
) -> dict[str, Any]:
    err_m = (model.argmax(axis=1) != y).astype("float64")
    err_b = (base.argmax(axis=1) != y).astype("float64")
    zero_one = diebold_mariano(per_date_mean(err_m, dates), per_date_mean(err_b, dates), horizon=horizon)
    if hard:
        res, loss = dict(zero_one), "zero_one"
        values = (float(1 - err_m.mean()), float(1 - err_b.mean()))  # reported as accuracy
    else:
        loss = "log_loss"
        loss_m, loss_b = sample_log_loss(y, model), sample_log_loss(y, base)
        res = diebold_mariano(per_date_mean(loss_m, dates), per_date_mean(loss_b, dates), horizon=horizon)
        values = (float(loss_m.mean()), float(loss_b.mean()))
    return {**res, "loss": loss, "model_value": values[0], "baseline_value": values[1], "zero_one": zero_one}


def _holm_flags(comparisons: dict[str, dict[str, Any]], alpha: float) -> dict[str, dict[str, Any]]:
    """Holm-adjusted p-values over the baselines, and the verdict flags from them."""
    adjusted = holm(np.array([c["p_value"] for c in comparisons.values()]))
    out = {}
    for (name, c), p in zip(comparisons.items(), adjusted, strict=True):
        out[name] = {
            **c, "p_holm": float(p),
            "significant_edge": bool(c["mean_diff"] < 0 and p < alpha),
            "significantly_worse": bool(c["mean_diff"] > 0 and p < alpha),
        }  # fmt: skip
    return out


def _sentence(name: str, c: dict[str, Any]) -> str:
    word = (
        "beats" if c["significant_edge"]
        else "is significantly worse than" if c["significantly_worse"]
        else "shows no significant edge over"
    )  # fmt: skip
    hard = c["loss"] == "zero_one"
    on, test = ("accuracy", "Diebold-Mariano on the error rate") if hard else ("log-loss", "Diebold-Mariano")
    p, p_holm = c["p_value"], c.get("p_holm", c["p_value"])
    result = (
        f"{test} p={p:.3g}, Holm p={p_holm:.3g}" if math.isfinite(p)
        else f"{test} undefined: identical losses or too few dates"
    )  # fmt: skip
    return (
        f"The model {word} the {name.replace('_', ' ')} baseline on {on} "
        f"({c['model_value']:.4f} vs {c['baseline_value']:.4f}, {result})."
    )


def _headline(comparisons: dict[str, dict[str, Any]], alpha: float) -> tuple[bool, str]:
    wins = sum(c["significant_edge"] for c in comparisons.values())
    if not comparisons:
        return False, "No significant edge: there were no baselines to compare with."
    if wins == len(comparisons):
        return True, (
            f"Edge: the model significantly beats every baseline on log-loss (Diebold-Mariano, Holm-adjusted over "
            f"{len(comparisons)} baselines, {alpha:g} level)."
        )
    if wins == 0:
        return False, "No significant edge over the baselines."
    return False, f"No significant edge: the model beats {wins} of {len(comparisons)} baselines, not all of them."


def evaluate_predictions(
    predictions: pd.DataFrame,
    baselines: dict[str, np.ndarray],
    *,
    horizon: int,
    alpha: float = 0.05,
    bins: int = 10,
    meaningful_tickers: int = 10,
) -> dict[str, Any]:
    """Score the model and each baseline on exactly the same samples, and say which wins.

    Args:
        predictions: Backtest predictions (``date``, ``label``, ``p_down/p_flat/p_up``; optional
            ``fold``, ``ticker``, ``forward_return``).
        baselines: name -> probabilities (n, 3), row-aligned with ``predictions``.
        horizon: label horizon, for the Diebold-Mariano lag window.
        alpha: significance level of the verdicts.
        bins: calibration bins.
        meaningful_tickers: tickers per date below which the IC is flagged as not meaningful.

    Returns:
        JSON-ready dict (NaN as None): ``n, n_dates, alpha``; ``model`` and ``baselines`` metrics;
        ``per_fold`` and ``per_year`` model metrics; ``baselines_per_fold`` and
        ``baselines_per_year`` ({name: {key: metrics}}); ``reliability`` (the model's table as
        records); ``ranking`` (IC, when ``forward_return`` is present, else None); ``direction``
        (Pesaran-Timmermann); ``comparisons`` ({baseline: test on its loss + ``zero_one`` test});
        ``has_edge``; ``verdict`` (one paragraph) and ``verdict_lines`` (its sentences).
    """
    y = label_codes(predictions["label"])
    if (y < 0).any() or len(y) == 0:
        raise ValueError("predictions must hold at least one row and every label must be down, flat or up")
    probs = predictions.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    for name, p in baselines.items():
        if np.shape(p) != probs.shape:
            raise ValueError(f"baseline {name!r} must have shape {probs.shape}, got {np.shape(p)}")
    dates = predictions["date"].to_numpy()
    years = pd.DatetimeIndex(dates).year.to_numpy()
    folds = predictions["fold"].to_numpy() if "fold" in predictions else np.zeros(len(y), dtype="int64")
    hard = {name: is_hard(p) for name, p in baselines.items()}
    out: dict[str, Any] = {
        "n": len(y),
        "n_dates": len(np.unique(dates)),
        "alpha": alpha,
        "model": classification_metrics(y, probs, bins=bins),
        "baselines": {
            n: classification_metrics(y, p, probabilistic=not hard[n], bins=bins) for n, p in baselines.items()
        },
        "per_fold": _grouped(y, probs, folds, hard=False, bins=bins),
        "per_year": _grouped(y, probs, years, hard=False, bins=bins),
        "baselines_per_fold": {n: _grouped(y, p, folds, hard=hard[n], bins=bins) for n, p in baselines.items()},
        "baselines_per_year": {n: _grouped(y, p, years, hard=hard[n], bins=bins) for n, p in baselines.items()},
        "reliability": reliability_table(y, probs, bins=bins).to_dict(orient="records"),
        "ranking": None,
        "direction": _direction(predictions, y, probs.argmax(axis=1)),
        "comparisons": _holm_flags(
            {n: _compare(y, probs, p, dates, hard=hard[n], horizon=horizon) for n, p in baselines.items()}, alpha
        ),
    }
    if "forward_return" in predictions:
        out["ranking"] = information_coefficient(
            dates,
            probs,
            predictions["forward_return"].to_numpy(dtype="float64"),
            meaningful_tickers=meaningful_tickers,
            horizon=horizon,  # overlapping horizon-day returns: the HAC bandwidth is never below horizon - 1
        )
    out["has_edge"], headline = _headline(out["comparisons"], alpha)
    out["verdict_lines"] = [headline, *(_sentence(n, c) for n, c in out["comparisons"].items())]
    out["verdict"] = " ".join(out["verdict_lines"])
    directional = directional_evaluation(predictions, probs, baselines, y=y, horizon=horizon, alpha=alpha)
    out["verdicts"] = {
        "probabilistic": {
            "has_edge": out["has_edge"], "verdict": out["verdict"], "verdict_lines": out["verdict_lines"],
            "loss": "log-loss (0-1 loss for hard baselines)", "test": "Diebold-Mariano (HLN, Newey-West)",
            "correction": "holm",
        },
        "directional": directional,
    }  # fmt: skip
    return json_ready(out)


_SCALARS = ("n", "accuracy", "balanced_accuracy", "macro_f1", "mcc", "log_loss", "brier", "ece")


def _metric_rows(subject: str, scope: str, m: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    rows = [(k, subject, scope, m[k]) for k in _SCALARS if k in m]
    for cls, values in m.get("per_class", {}).items():
        rows += [(f"{k}_{cls}", subject, scope, values[k]) for k in ("precision", "recall", "f1", "support")]
    return rows


def metrics_table(evaluation: dict[str, Any], *extra: pd.DataFrame) -> pd.DataFrame:
    """The scalar results of :func:`evaluate_predictions` as a tidy long table (for metrics.parquet).

    Args:
        evaluation: the dict :func:`evaluate_predictions` returned.
        extra: more frames with :data:`TIDY_COLUMNS` to append (e.g. :func:`models.evaluation.strategy.strategy_table`).

    Returns:
        Frame with ``metric`` (e.g. ``accuracy``, ``recall_up``, ``dm_p_value``, ``ic_mean``),
        ``subject`` (``model`` or a baseline name), ``scope`` (``all``, ``fold=K`` or ``year=YYYY``)
        and ``value`` (float64; NaN where undefined, e.g. a hard baseline's log-loss).
    """
    rows = _metric_rows("model", "all", evaluation["model"])
    for key, m in evaluation["per_fold"].items():
        rows += _metric_rows("model", f"fold={key}", m)
    for key, m in evaluation["per_year"].items():
        rows += _metric_rows("model", f"year={key}", m)
    for name, m in evaluation["baselines"].items():
        rows += _metric_rows(name, "all", m)
        for key, fm in evaluation["baselines_per_fold"][name].items():
            rows += _metric_rows(name, f"fold={key}", fm)
        for key, ym in evaluation["baselines_per_year"][name].items():
            rows += _metric_rows(name, f"year={key}", ym)
    for name, c in evaluation["comparisons"].items():
        rows += [(f"dm_{k}", name, "all", c[k]) for k in ("mean_diff", "statistic", "p_value")]
        rows.append(("dm_p_holm", name, "all", c.get("p_holm")))
        rows.append(("dm_significant_edge", name, "all", float(c["significant_edge"])))
    directional = (evaluation.get("verdicts") or {}).get("directional")
    if directional:
        rows.append(("dir_hit_rate", "model", "all", directional["model_hit_rate"]))
        rows.append(("dir_n_calls", "model", "all", directional["n_calls"]))
        for name, c in directional["comparisons"].items():
            rows.append(("dir_hit_rate", name, "all", c["hit_rate"]))
            rows += [(f"dir_dm_{k}", name, "all", c[k]) for k in ("mean_diff", "statistic", "p_value", "p_holm")]
            rows.append(("dir_significant_edge", name, "all", float(c["significant_edge"])))
        for name, c in ((directional.get("rank_ic") or {}).get("comparisons") or {}).items():
            rows.append(("rank_ic_mean", name, "all", c["baseline_mean"]))
            rows += [(f"rank_ic_dm_{k}", name, "all", c[k]) for k in ("mean_diff", "statistic", "p_value", "p_holm")]
            rows.append(("rank_ic_significant_edge", name, "all", float(c["significant_edge"])))
        rows.append(("has_directional_edge", "model", "all", float(directional["has_edge"])))
        rows.append(("has_ranking_edge", "model", "all", float(directional["ranking_edge"])))
    ranking = evaluation.get("ranking") or {}
    rows += [
        (k, "model", "all", v) for k, v in ranking.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    direction = evaluation.get("direction") or {}
    rows += [
        (f"pt_{k}", "model", "all", direction[k])
        for k in ("n", "hit_rate", "expected_hit_rate", "statistic", "p_value")
    ]
    rows.append(("has_edge", "model", "all", float(evaluation["has_edge"])))
    table = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    table["value"] = pd.to_numeric(table["value"], errors="coerce").astype("float64")
    frames = [table, *(f.loc[:, list(TIDY_COLUMNS)] for f in extra)]
    return pd.concat(frames, ignore_index=True) if extra else table
