"""PNG charts of a backtest: equity and drawdown, confusion matrix, reliability diagram, rolling accuracy.

Each ``plot_*`` function draws on its own :class:`matplotlib.figure.Figure` (the Agg renderer, no
pyplot and no global state, so it is safe in worker threads), writes the PNG atomically to ``path``
(:func:`features.storage.atomic.atomic_path`) and returns ``path``. The numbers each chart shows come from pure
functions (:func:`equity_curves`, :func:`rolling_accuracy`) that are tested on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from features.labels import CLASSES, PROB_COLUMNS
from features.storage.atomic import atomic_path
from models.evaluation.strategy import VARIANTS, drawdown

_DPI = 100
_NAMES = {"long_short": "long/short", "long_only": "long only", "buy_and_hold": "buy and hold (equal weight)"}


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": None})
    return path


def equity_curves(daily: pd.DataFrame, *, variants: Sequence[str] = VARIANTS, net: bool = True) -> pd.DataFrame:
    """Compounded equity (starting at 1) and drawdown of each variant.

    Args:
        daily: :attr:`models.evaluation.strategy.StrategyResult.daily`.
        variants: which variants.
        net: after costs (else before).

    Returns:
        Frame indexed by date with ``<variant>_equity`` and ``<variant>_drawdown`` (<= 0) columns.
    """
    kind = "net" if net else "gross"
    out = {}
    for v in variants:
        r = daily[f"{v}_{kind}"].to_numpy(dtype="float64")
        out[f"{v}_equity"] = np.cumprod(1 + r)
        out[f"{v}_drawdown"] = drawdown(r)
    return pd.DataFrame(out, index=pd.DatetimeIndex(daily["date"], name="date"))


def plot_equity(daily: pd.DataFrame, path: Path, *, title: str = "Equity after costs") -> Path:
    """Equity (log scale) and drawdown of the strategies against buy-and-hold, net of costs."""
    curves = equity_curves(daily)
    fig = Figure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    x = curves.index.to_numpy()
    for v in VARIANTS:
        style = {"color": "0.3", "linestyle": "--"} if v == "buy_and_hold" else {}
        top.plot(x, curves[f"{v}_equity"].to_numpy(), label=_NAMES[v], linewidth=1.2, **style)
        bottom.plot(x, 100 * curves[f"{v}_drawdown"].to_numpy(), linewidth=1.0, **style)
    top.set_yscale("log")
    top.yaxis.set_major_formatter(StrMethodFormatter("{x:.2f}"))
    top.yaxis.set_minor_formatter(StrMethodFormatter("{x:.2f}"))
    top.set_ylabel("growth of 1 (log scale)")
    top.set_title(title)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown (%)")
    bottom.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion_matrix(matrix: Sequence[Sequence[int]] | np.ndarray, path: Path, *, title: str = "") -> Path:
    """Confusion matrix (rows = realised, columns = predicted), cells show count and row share."""
    cm = np.asarray(matrix, dtype="float64")
    if cm.shape != (len(CLASSES), len(CLASSES)):
        raise ValueError(f"matrix must be {len(CLASSES)}x{len(CLASSES)}, got shape {cm.shape}")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig = Figure(figsize=(5, 4.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(j, i, f"{int(cm[i, j])}\n{share[i, j]:.0%}", ha="center", va="center", color=colour)
    ax.set_xticks(range(len(CLASSES)), CLASSES)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("realised")
    ax.set_title(title or "Confusion matrix (share of each realised class)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def plot_reliability(table: pd.DataFrame, path: Path, *, title: str = "Reliability of the top probability") -> Path:
    """Reliability diagram from :func:`models.evaluation.metrics.reliability_table`: accuracy vs confidence per bin."""
    frame = pd.DataFrame(table)
    used = frame[frame["count"] > 0]
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", label="perfectly calibrated")
    lower, acc, conf = (used[c].to_numpy(dtype="float64") for c in ("lower", "accuracy", "confidence"))
    width = used["upper"].to_numpy(dtype="float64") - lower
    ax.bar(lower, acc, width=width, align="edge", alpha=0.35, edgecolor="C0", label="share correct in the bin")
    ax.plot(conf, acc, marker="o", color="C0", label="mean confidence vs share correct")
    for left, w, n in zip(lower, width, used["count"].to_numpy(), strict=True):
        ax.text(left + w / 2, 0.02, f"n={int(n)}", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (largest predicted probability)")
    ax.set_ylabel("share correct")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def rolling_accuracy(
    predictions: pd.DataFrame, *, window: int = 63, baselines: Mapping[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Accuracy over the last ``window`` decision dates (all tickers of those dates pooled).

    Args:
        predictions: ``date``, ``label`` and ``p_down/p_flat/p_up`` (or ``predicted``).
        window: dates in the rolling window; the first ``window - 1`` dates are NaN.
        baselines: name -> probabilities (n, 3) row-aligned with ``predictions``, rolled the same way.

    Returns:
        Frame indexed by date with a ``model`` column and one per baseline, shares in [0, 1].
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got window={window}")
    y = predictions["label"].to_numpy()
    if set(PROB_COLUMNS) <= set(predictions.columns):
        probs = predictions.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
        predicted = np.asarray(CLASSES, dtype=object)[probs.argmax(axis=1)]
    else:
        predicted = predictions["predicted"].to_numpy()
    hits = {"model": predicted == y}
    for name, p in (baselines or {}).items():
        hits[name] = np.asarray(CLASSES, dtype=object)[np.asarray(p).argmax(axis=1)] == y
    frame = pd.DataFrame(hits, dtype="float64").assign(date=predictions["date"].to_numpy(), n=1.0)
    per_date = frame.groupby("date", sort=True).sum()
    rolled = per_date.rolling(window, min_periods=window).sum()
    return rolled.drop(columns="n").div(rolled["n"], axis=0)


def plot_rolling_accuracy(
    predictions: pd.DataFrame,
    path: Path,
    *,
    window: int = 63,
    baselines: Mapping[str, np.ndarray] | None = None,
    title: str = "",
) -> Path:
    """Rolling accuracy of the model (and of the given baselines) over ``window`` decision dates."""
    acc = rolling_accuracy(predictions, window=window, baselines=baselines)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    x = acc.index.to_numpy()
    for i, name in enumerate(acc.columns):
        width, colour = (1.6, "C0") if name == "model" else (0.9, f"C{i}")
        ax.plot(x, 100 * acc[name].to_numpy(), label=str(name).replace("_", " "), linewidth=width, color=colour)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or f"Rolling accuracy over {window} decision dates")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)
