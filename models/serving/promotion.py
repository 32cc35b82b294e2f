"""Champion promotion: a new model replaces the champion only when it is better out of sample.

"Better" means a lower log-loss than the current champion on the *same* samples: the new model's
**holdout**, the last ``holdout_fraction`` of its training dates, cut off before anything was fitted
and purged and embargoed like the validation slice (:func:`models.learn.training.chronological_holdout`).
Neither the candidate's weights, nor its early stopping, nor its temperature saw those samples, so
the candidate was not fitted on them in any way; the champion was trained earlier, or on other
data (if its training data overlapped the holdout, the comparison favours the champion, which errs
on the side of keeping it). A champion that cannot be used (its pointer, metadata or model
file corrupt or missing) is replaced by the candidate, and the reason names the file. A model
trained with ``holdout_fraction=0`` has no holdout: then the validation slice is used and the
reason says so, since early stopping (and the temperature) chose on it and flatter the candidate.
Models whose labels mean different things (horizon, lag, band, scheme) are not comparable: such
a model is promoted only with ``force``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.labels import PROB_COLUMNS
from models.evaluation.metrics import sample_log_loss
from models.learn.classifier import LSTMClassifier
from models.serving.registry import RegistryError, champion_id, load_model
from models.serving.scoring import score_keys


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a candidate becomes champion, why, and the numbers behind it."""

    promote: bool
    reason: str
    champion_id: str | None = None
    candidate_log_loss: float | None = None
    champion_log_loss: float | None = None
    n_compared: int = 0
    unusable_champion: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def promotion_samples(fitted: LSTMClassifier) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, str]:
    """(keys, labels, probabilities, slice name) promotion compares on: the holdout, else the validation slice."""
    if len(getattr(fitted, "holdout_rows_", ())):
        return fitted.holdout_keys_, fitted.holdout_labels_, fitted.holdout_probs_, "holdout"
    return fitted.val_keys_, fitted.val_labels_, fitted.val_probs_, VALIDATION_FALLBACK


VALIDATION_FALLBACK = "validation slice (no holdout: early stopping and calibration used it)"


def decide_promotion(
    root: Any,
    prices: pd.DataFrame,
    candidate_meta: dict[str, Any],
    val_keys: pd.DataFrame,
    val_labels: np.ndarray,
    candidate_val_probs: np.ndarray,
    *,
    force: bool = False,
    on: str = "holdout",
) -> PromotionDecision:
    """Compare a freshly trained candidate with the current champion on its holdout (:func:`promotion_samples`).

    Args:
        root: The data root holding the registry.
        prices: The prices the candidate was trained on (enough history for the champion's windows).
        candidate_meta: The candidate's metadata (its ``dataset.label`` is compared with the champion's).
        val_keys: ``date, ticker`` of the validation samples, row-aligned with ``val_labels``.
        val_labels: int classes of those samples.
        candidate_val_probs: the candidate's (calibrated) probabilities on them, shape (n, 3).
        force: promote regardless of the comparison (the reason says so).
        on: the name of the slice compared on, for the reason (``holdout``, or :data:`VALIDATION_FALLBACK`).
    """
    y = np.asarray(val_labels, dtype="int64")
    candidate_ll = float(sample_log_loss(y, candidate_val_probs).mean()) if len(y) else None
    try:
        current = champion_id(root)
    except RegistryError as exc:  # a corrupt pointer names no usable champion: the candidate replaces it
        reason = f"the current champion cannot be used: {exc}"
        return PromotionDecision(True, reason, None, candidate_ll, unusable_champion=True)
    if current is None:
        return PromotionDecision(True, "no champion yet", None, candidate_ll, None, len(y))
    try:
        champion = load_model(root, current)
    except RegistryError as exc:
        reason = f"current champion {current} cannot be used: {exc}"
        return PromotionDecision(True, reason, current, candidate_ll, unusable_champion=True)
    if champion.card_["dataset"]["label"] != candidate_meta["dataset"]["label"]:
        reason = (
            f"labels differ from champion {current} ({champion.card_['dataset']['label']} vs "
            f"{candidate_meta['dataset']['label']}): not comparable"
        )
        return PromotionDecision(force, reason + ("; promoted with --force" if force else "; use --force"), current)
    champ = score_keys(champion, prices, val_keys)
    keys = pd.MultiIndex.from_frame(val_keys.loc[:, ["date", "ticker"]])
    at = keys.get_indexer(pd.MultiIndex.from_frame(champ.loc[:, ["date", "ticker"]]))
    if len(at) == 0:
        return PromotionDecision(True, f"champion {current} cannot score the {on}; promoted", current, candidate_ll)
    cand_ll = float(sample_log_loss(y[at], candidate_val_probs[at]).mean())
    champ_ll = float(sample_log_loss(y[at], champ.loc[:, list(PROB_COLUMNS)].to_numpy()).mean())
    better = cand_ll < champ_ll - 1e-9  # a tie (to rounding) keeps the champion
    verdict = "beats" if better else "does not beat"
    reason = f"{on} log-loss {cand_ll:.5f} {verdict} champion {current}'s {champ_ll:.5f} on {len(at)} samples"
    if force and not better:
        reason += "; promoted with --force"
    return PromotionDecision(better or force, reason, current, cand_ll, champ_ll, len(at))
