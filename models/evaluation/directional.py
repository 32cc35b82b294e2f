"""The directional verdict: does the model call the *sign* of the move, and rank tickers, better than the baselines?

The probabilistic verdict (log-loss) can be won by forecasting *how much* prices move: a model that
knows when the ±band will be crossed beats the class prior without knowing which way. This verdict
asks only about direction, with its own tests:

* **Sign calls.** The call of a forecaster is ``sign(P(up) - P(down))``. It is scored on the rows where
  the model does not predict flat (its directional calls) and the realised direction is known (sign of
  the forward return, zero returns dropped; without returns the realised label, flat dropped). The
  0-1 loss is 1 for a wrong sign, 0 for a right one and 1/2 for a forecaster with no opinion
  (``P(up) = P(down)``, e.g. the majority class predicting flat): a coin flip. The model's loss and
  each baseline's, on the same rows, are averaged per date and compared by the Diebold-Mariano test
  (:func:`models.evaluation.significance.diebold_mariano`, Newey-West variance, bandwidth at least
  ``horizon - 1``), the p-values Holm-adjusted over the baselines (:func:`models.evaluation.multiple.holm`).
  ``has_edge`` is true when the model significantly beats every baseline.
* **Ranking.** The daily rank IC (Spearman, :mod:`models.evaluation.ranking`) of the model's score and of
  each baseline's; a date on which a forecaster's scores are all equal (the class prior, the majority
  class) ranks nothing and counts as IC 0. The per-date difference is tested like a loss difference
  (Diebold-Mariano on ``-IC``), Holm-adjusted; ``ranking_edge`` is true when the model's rank IC is
  significantly above every baseline's. The model's own rank IC and its HAC t-statistic are in
  ``rank_ic``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from models.evaluation.multiple import holm
from models.evaluation.ranking import daily_ic, score
from models.evaluation.significance import diebold_mariano, per_date_mean

__all__ = ["directional_evaluation", "realised_direction", "sign_loss"]


def realised_direction(predictions: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, str]:
    """+1 / -1 realised direction of each row, 0 where unknown, and where it came from."""
    if "forward_return" in predictions:
        r = predictions["forward_return"].to_numpy(dtype="float64")
        return np.where(np.isfinite(r), np.sign(np.nan_to_num(r)), 0.0), "sign of the forward return"
    return np.select([y == 2, y == 0], [1.0, -1.0], 0.0), "realised label, flat excluded"


def sign_loss(probs: np.ndarray, realised: np.ndarray) -> np.ndarray:
    """0-1 loss of the call ``sign(P(up) - P(down))`` against ``realised`` (+1/-1); 1/2 where the call is 0."""
    call = np.sign(score(probs))
    return np.where(call == 0, 0.5, (call != np.asarray(realised)).astype("float64"))


def _rank_ic(dates: np.ndarray, probs: np.ndarray, forward_return: np.ndarray, all_dates: np.ndarray) -> np.ndarray:
    ic = daily_ic(dates, score(probs), forward_return)["rank_ic"]
    return np.asarray(ic.reindex(all_dates).fillna(0.0).to_numpy(dtype="float64"))


def _usable_dates(dates: np.ndarray, forward_return: np.ndarray) -> np.ndarray:
    """Dates with at least 2 tickers whose returns differ: where a rank IC can exist."""
    frame = pd.DataFrame({"date": dates, "r": forward_return})
    frame = frame[np.isfinite(frame["r"])]
    spread = frame.groupby("date", sort=True)["r"].agg(["count", "nunique"])
    return np.asarray(spread.index[(spread["count"] >= 2) & (spread["nunique"] >= 2)])


def _flag(res: dict[str, Any], p_adj: float, alpha: float) -> dict[str, Any]:
    return {
        **res, "p_holm": p_adj,
        "significant_edge": bool(res["mean_diff"] < 0 and p_adj < alpha),
        "significantly_worse": bool(res["mean_diff"] > 0 and p_adj < alpha),
    }  # fmt: skip


def directional_evaluation(
    predictions: pd.DataFrame,
    probs: np.ndarray,
    baselines: dict[str, np.ndarray],
    *,
    y: np.ndarray,
    horizon: int,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The directional verdict of the model against every baseline (see the module docstring).

    Args:
        predictions: ``date`` and, when present, ``forward_return`` (else ``y`` gives the direction).
        probs: the model's (n, 3) probabilities, class order down/flat/up.
        baselines: name -> (n, 3) probabilities, row-aligned.
        y: int (n,) realised classes 0/1/2.
        horizon: label horizon (Newey-West bandwidth at least ``horizon - 1``).
        alpha: level of the family-wise (Holm) tests.

    Returns:
        ``realised_direction``, ``n_calls`` (rows scored), ``n_dates``, ``flat_predictions_excluded``,
        ``model_hit_rate``, ``comparisons`` ({baseline: ``hit_rate``, DM ``mean_diff, statistic,
        p_value, bandwidth``, ``p_holm``, ``significant_edge``, ``significantly_worse``}), ``rank_ic``
        (model mean, HAC t-statistic, and {baseline: its mean and the Holm-adjusted test of the
        difference}; None without forward returns), ``has_edge``, ``ranking_edge``, ``verdict_lines``.
    """
    dates = predictions["date"].to_numpy()
    realised, source = realised_direction(predictions, y)
    called = probs.argmax(axis=1) != 1
    rows = called & (realised != 0)
    d = dates[rows]
    loss_model = sign_loss(probs[rows], realised[rows])
    raw: dict[str, dict[str, Any]] = {}
    for name, p in baselines.items():
        loss_base = sign_loss(np.asarray(p)[rows], realised[rows])
        res = diebold_mariano(per_date_mean(loss_model, d), per_date_mean(loss_base, d), horizon=horizon)
        raw[name] = {**res, "hit_rate": float(1 - loss_base.mean()) if len(d) else float("nan")}
    adjusted = holm(np.array([c["p_value"] for c in raw.values()]))
    comparisons = {n: _flag(c, float(a), alpha) for (n, c), a in zip(raw.items(), adjusted, strict=True)}
    out: dict[str, Any] = {
        "realised_direction": source,
        "n_calls": int(rows.sum()),
        "n_dates": len(np.unique(d)),
        "flat_predictions_excluded": int((~called).sum()),
        "model_hit_rate": float(1 - loss_model.mean()) if len(d) else float("nan"),
        "loss": "sign of P(up) - P(down), 0-1 loss on the model's up/down calls",
        "correction": "holm",
        "comparisons": comparisons,
        "rank_ic": _rank_ic_block(predictions, probs, baselines, horizon=horizon, alpha=alpha),
    }
    out["has_edge"] = bool(comparisons) and all(c["significant_edge"] for c in comparisons.values())
    ranking = out["rank_ic"]
    out["ranking_edge"] = bool(ranking and ranking["comparisons"]) and all(
        c["significant_edge"] for c in ranking["comparisons"].values()
    )
    out["verdict_lines"] = _lines(out, alpha)
    out["verdict"] = " ".join(out["verdict_lines"])
    return out


def _rank_ic_block(
    predictions: pd.DataFrame, probs: np.ndarray, baselines: dict[str, np.ndarray], *, horizon: int, alpha: float
) -> dict[str, Any] | None:
    if "forward_return" not in predictions:
        return None
    dates = predictions["date"].to_numpy()
    r = predictions["forward_return"].to_numpy(dtype="float64")
    usable = _usable_dates(dates, r)
    model = _rank_ic(dates, probs, r, usable)
    raw = {}
    for name, p in baselines.items():
        base = _rank_ic(dates, np.asarray(p), r, usable)
        raw[name] = {**diebold_mariano(-model, -base, horizon=horizon), "baseline_mean": _mean(base)}
    adjusted = holm(np.array([c["p_value"] for c in raw.values()]))
    return {
        "model_mean": _mean(model),
        "n_dates": len(usable),
        "comparisons": {n: _flag(c, float(a), alpha) for (n, c), a in zip(raw.items(), adjusted, strict=True)},
    }


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def _p(p: float) -> str:
    return f"{p:.3g}" if math.isfinite(p) else "undefined"


def _lines(out: dict[str, Any], alpha: float) -> list[str]:
    comps = out["comparisons"]
    wins = sum(c["significant_edge"] for c in comps.values())
    test = f"Diebold-Mariano on the 0-1 sign loss, Holm-adjusted over {len(comps)} baselines, {alpha:g} level"
    calls = f"hit rate {100 * out['model_hit_rate']:.1f}% on {out['n_calls']:,} up/down calls"
    if not comps:
        head = "No significant directional edge: there were no baselines to compare with."
    elif out["has_edge"]:
        head = f"Directional edge: the model's up/down calls beat every baseline's ({calls}; {test})."
    else:
        head = (
            f"No significant directional edge: the model's calls beat {wins} of {len(comps)} baselines "
            f"({calls}; {test})."
        )
    lines = [head]
    for name, c in comps.items():
        word = (
            "beats" if c["significant_edge"] else "is significantly worse than" if c["significantly_worse"]
            else "shows no significant edge over"
        )  # fmt: skip
        lines.append(
            f"On direction the model {word} the {name.replace('_', ' ')} baseline "
            f"(hit rate {100 * out['model_hit_rate']:.1f}% vs {100 * c['hit_rate']:.1f}%, "
            f"p={_p(c['p_value'])}, Holm p={_p(c['p_holm'])})."
        )
    ranking = out["rank_ic"]
    if ranking and ranking["n_dates"]:
        better = "above every baseline's" if out["ranking_edge"] else "not significantly above every baseline's"
        lines.append(
            f"Rank IC of P(up) - P(down): {ranking['model_mean']:.4f} over {ranking['n_dates']:,} dates, {better} "
            "(Diebold-Mariano on the per-date rank IC difference, Holm-adjusted)."
        )
    return lines
