"""Counting the trials behind a result: which runs belong to one search, and what they imply.

A *trial* is one configuration run on one universe over one test period. Runs on the same universe
(the set of tickers) whose test periods overlap are trials of one search, whatever the exact data
fingerprint: moving ``--end`` by a day does not start a new search. Re-running a configuration on an
overlapping period of the same universe replaces its earlier trial instead of adding one.

From the search (the *family* of the current run) come

* ``n_trials``: the number of configurations, for the Deflated Sharpe Ratio and shown beside the verdicts;
* each strategy variant's own variance of the per-day active Sharpe ratios across the family (the DSR's
  ``V``, Bailey & López de Prado 2014);
* White's Reality Check / Hansen's SPA (:func:`models.evaluation.multiple.superior_predictive_ability`)
  over the family's per-date loss differences, on the dates all of them share: is the best
  configuration's edge over its own best baseline more than the best of ``n_trials`` would show by luck?

Every trial stores, next to the ledger, one Parquet file of per-date loss differences
(:func:`per_date_differences`): ``log_loss_diff`` (the model's log-loss minus that of the run's best
probabilistic baseline) and ``sign_loss_diff`` (the model's 0-1 sign loss on its up/down calls minus
that of the run's best baseline on the same rows). Negative is better for the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.labels import PROB_COLUMNS
from models.evaluation.directional import realised_direction, sign_loss
from models.evaluation.metrics import is_hard, label_codes, sample_log_loss
from models.evaluation.multiple import superior_predictive_ability
from models.evaluation.significance import per_date_mean

__all__ = [
    "DIFFERENCE_COLUMNS",
    "family",
    "family_spa",
    "per_date_differences",
    "sharpe_variances",
    "trial_entry",
    "universe_key",
    "update_ledger",
]

DIFFERENCE_COLUMNS = ("log_loss_diff", "sign_loss_diff")


def universe_key(tickers: Iterable[Any]) -> str:
    """The universe as a key: its distinct tickers, sorted, comma-separated."""
    return ",".join(sorted({str(t) for t in tickers}))


def trial_entry(
    *, universe: str, test_start: str, test_end: str, config_key: str, data_fingerprint: str,
    daily_sharpe: Mapping[str, float], run_id: str = "",
) -> dict[str, Any]:  # fmt: skip
    """One ledger entry; ``losses`` names its Parquet file of per-date differences, ``run_id`` its run folder."""
    ident = hashlib.sha256("|".join((universe, config_key, test_start, test_end)).encode()).hexdigest()[:16]
    return {
        "universe": universe, "test_start": test_start, "test_end": test_end, "config": config_key,
        "data": data_fingerprint, "daily_sharpe": {k: float(v) for k, v in daily_sharpe.items()},
        "losses": f"{ident}.parquet", "run_id": run_id,
    }  # fmt: skip


def _overlaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return bool(a["test_start"] <= b["test_end"] and b["test_start"] <= a["test_end"])


def _same_search(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return "universe" in a and a["universe"] == b["universe"] and _overlaps(a, b)


def update_ledger(
    trials: Sequence[Mapping[str, Any]], entry: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ledger with ``entry`` added, replacing its configuration's trials of the same search.

    Entries of the old format (keyed only on the data fingerprint, no ``universe``) are kept but never
    counted.

    Returns:
        ``(ledger, replaced)``: the new ledger and the loss files of the entries ``entry`` replaced.
    """
    replaced = [t for t in trials if _same_search(t, entry) and t["config"] == entry["config"]]
    kept = [dict(t) for t in trials if not any(t is r for r in replaced)]
    return [*kept, dict(entry)], [str(r["losses"]) for r in replaced if r.get("losses") != entry["losses"]]


def family(trials: Sequence[Mapping[str, Any]], entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trials of ``entry``'s search: same universe, test period overlapping ``entry``'s (``entry`` included)."""
    return [dict(t) for t in trials if _same_search(t, entry)]


def sharpe_variances(members: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Each variant's sample variance (ddof=1) of the members' per-day Sharpe ratios; 0 below 2 finite values."""
    variants = sorted({v for t in members for v in t.get("daily_sharpe", {})})
    out = {}
    for v in variants:
        values = np.array([t["daily_sharpe"].get(v, np.nan) for t in members], dtype="float64")
        values = values[np.isfinite(values)]
        out[v] = float(values.var(ddof=1)) if len(values) > 1 else 0.0
    return out


def per_date_differences(predictions: pd.DataFrame, baselines: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per-date loss differences of the model against its best baselines (see the module docstring).

    Args:
        predictions: ``date, label, p_down, p_flat, p_up`` and, when present, ``forward_return``.
        baselines: name -> (n, 3) probabilities, row-aligned.

    Returns:
        ``date`` and :data:`DIFFERENCE_COLUMNS` (NaN where no baseline qualifies or the date has no
        up/down call), one row per date, sorted.
    """
    y = label_codes(predictions["label"])
    probs = predictions.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    dates = predictions["date"].to_numpy(dtype="datetime64[ns]")
    uniq = np.unique(dates)
    out = pd.DataFrame({"date": uniq, "log_loss_diff": np.nan, "sign_loss_diff": np.nan})
    soft = {n: sample_log_loss(y, np.asarray(p)) for n, p in baselines.items() if not is_hard(np.asarray(p))}
    if soft:
        best = min(soft, key=lambda n: float(soft[n].mean()))
        out["log_loss_diff"] = per_date_mean(sample_log_loss(y, probs) - soft[best], dates)
    realised, _ = realised_direction(predictions, y)
    rows = (probs.argmax(axis=1) != 1) & (realised != 0)
    if rows.any() and baselines:
        losses = {n: sign_loss(np.asarray(p)[rows], realised[rows]) for n, p in baselines.items()}
        best = min(losses, key=lambda n: float(losses[n].mean()))
        diff = pd.Series(per_date_mean(sign_loss(probs[rows], realised[rows]) - losses[best], dates[rows]),
                         index=np.unique(dates[rows]))  # fmt: skip
        out["sign_loss_diff"] = diff.reindex(uniq).to_numpy()
    return out


def family_spa(frames: Sequence[pd.DataFrame], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Reality Check / SPA over the members' per-date differences, on the dates they all share.

    Args:
        frames: one :func:`per_date_differences` frame per member of the search.
        n_boot: bootstrap resamples.
        seed: seed of the bootstrap.

    Returns:
        ``{column: {lower, consistent, upper, statistic, best, k, T, block, n_boot}}`` for each column of
        :data:`DIFFERENCE_COLUMNS`; p-values NaN when fewer than 4 dates are shared.
    """
    out: dict[str, Any] = {}
    for column in DIFFERENCE_COLUMNS:
        series = [f.set_index("date")[column].dropna() for f in frames]
        joined = pd.concat(series, axis=1, join="inner").sort_index() if series else pd.DataFrame()
        diffs = joined.to_numpy(dtype="float64")
        out[column] = superior_predictive_ability(
            np.zeros(len(diffs)), diffs.reshape(len(diffs), len(series)), n_boot=n_boot, seed=seed
        )
    return out
