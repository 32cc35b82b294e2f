"""PNG charts of a backtest: equity and drawdown, confusion matrix, reliability diagram, rolling accuracy.

Each ``plot_*`` function draws on its own :class:`matplotlib.figure.Figure` (the Agg renderer, no
pyplot and no global state, so it is safe in worker threads), writes the PNG atomically to ``path``
(:func:`features.storage.atomic.atomic_path`) and returns ``path``. The numbers each chart shows come from pure
functions (:func:`equity_curves`, :func:`rolling_accuracy`) that are tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullFormatter, StrMethodFormatter

from features.labels import CLASSES, PROB_COLUMNS
from features.storage.atomic import atomic_path
from models.evaluation.strategy import VARIANTS, drawdown

_DPI = 100
_NAMES = {"long_short": "long/short", "long_only": "long only", "buy_and_hold": "buy and hold (equal weight)"}


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically, without a timestamp (the same figure gives the same bytes)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": None})
    return path


def log_axis_ticks(low: float, high: float, *, n: int = 7) -> np.ndarray:
    """About ``n`` round tick values covering ``[low, high]`` (> 0), for a log axis whose range spans less than a
    decade, where matplotlib's own locator labels only one or two values."""
    if not (0 < low <= high and math.isfinite(high)):
        raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
    values = np.asarray(MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high), dtype="float64")
    values = values[(values > 0) & (values >= low * 0.98) & (values <= high * 1.02)]
    return values if len(values) >= 2 else np.array([low, high], dtype="float64")


def label_log_axis(ax: Axes, low: float, high: float) -> None:
    """Round labelled ticks on the y log axis of ``ax`` over ``[low, high]`` (no minor labels)."""
    if high / low > 10:  # a decade or more: matplotlib's log locator labels it well
        return
    ticks = log_axis_ticks(low, high)
    ax.yaxis.set_major_locator(FixedLocator(ticks.tolist()))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.2f}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


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
    equity = curves[[f"{v}_equity" for v in VARIANTS]].to_numpy(dtype="float64")
    label_log_axis(top, min(float(np.nanmin(equity)), 1.0), max(float(np.nanmax(equity)), 1.0))
    top.set_ylabel("growth of 1 (log scale)")
    top.set_title(title)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown (%)")
    bottom.grid(alpha=0.3)
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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


def chart_baselines(acc: pd.DataFrame, *, prior: str = "class_prior", best: int = 2) -> list[str]:
    """Columns to draw from :func:`rolling_accuracy`: ``model``, the ``best`` baselines by mean accuracy, the prior."""
    others = acc.drop(columns=["model", prior], errors="ignore").mean().sort_values(ascending=False, kind="stable")
    return ["model", *list(others.index[:best]), *([prior] if prior in acc.columns else [])]


def plot_rolling_accuracy(
    predictions: pd.DataFrame,
    path: Path,
    *,
    window: int = 63,
    baselines: Mapping[str, np.ndarray] | None = None,
    title: str = "",
) -> Path:
    """Rolling accuracy of the model, its two most accurate baselines and the class prior over ``window`` dates."""
    acc = rolling_accuracy(predictions, window=window, baselines=baselines)
    acc = acc.loc[:, chart_baselines(acc)]
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    x = acc.index.to_numpy()
    for i, name in enumerate(acc.columns):
        width, colour, dash = (1.8, "C0", "-") if name == "model" else (1.0, f"C{i}", "-")
        if name == "class_prior":
            colour, dash = "0.35", "--"
        ax.plot(x, 100 * acc[name].to_numpy(), label=str(name).replace("_", " "), linewidth=width, color=colour,
                linestyle=dash)  # fmt: skip
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or f"Rolling accuracy over {window} decision dates")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path)
