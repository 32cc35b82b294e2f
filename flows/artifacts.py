"""Prefect artifacts: what a run shows in the Prefect UI next to its logs.

Artifacts are a view; the files in the data root are the record. Publishing never fails a run
(a run without an API, e.g. ``.fn()`` in tests, simply publishes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext, TaskRunContext

_log = logging.getLogger("updown")
_HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "brier")


def _num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "n/a"


def headline_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row for the model and one per baseline, with the comparison's p-value."""
    rows = [{"subject": "model", **{k: _num(metrics["model"].get(k)) for k in _HEADLINE}, "dm_p_value": ""}]
    for name, values in metrics.get("baselines", {}).items():
        comparison = metrics.get("comparisons", {}).get(name, {})
        rows.append(
            {
                "subject": name,
                **{k: _num(values.get(k)) for k in _HEADLINE},
                "dm_p_value": _num(comparison.get("p_value")),
            }
        )
    return rows


def backtest_markdown(metrics: Mapping[str, Any]) -> str:
    """A short markdown summary: verdict, strategy headline, where the files are."""
    lines = [
        f"# Backtest {metrics.get('run_id', '')}",
        "",
        f"**{metrics.get('verdict_lines', [metrics['verdict']])[0]}**",
        "",
    ]
    lines += [f"- {line}" for line in metrics.get("verdict_lines", [])[1:]]
    strategy = metrics.get("strategy", {}).get("metrics", {})
    for variant in ("long_short", "long_only", "buy_and_hold"):
        m = strategy.get(variant)
        if m:
            ci = m.get("sharpe_ci", {})
            lines.append(
                f"- {variant.replace('_', ' ')}: annualised return {_num(m.get('annualised_return'))}, "
                f"Sharpe {_num(m.get('sharpe'), 2)} (95% CI {_num(ci.get('lower'), 2)}..{_num(ci.get('upper'), 2)}), "
                f"max drawdown {_num(m.get('max_drawdown'))}"
            )
    lines += [
        "",
        f"Tickers: {', '.join(metrics.get('tickers', []))}; "
        f"data {metrics.get('data_start')}..{metrics.get('data_end')}",
    ]
    return "\n".join(lines)


def publish_backtest_artifacts(metrics: Mapping[str, Any], run_id: str) -> None:
    """Headline-metrics table and markdown summary of a backtest run."""
    try:
        create_table_artifact(
            table=headline_rows(metrics), key="backtest-headline", description=f"Headline metrics of run {run_id}"
        )
        create_markdown_artifact(markdown=backtest_markdown(metrics), key="backtest-summary", description=run_id)
    except Exception as exc:  # the UI view must never sink a finished run
        _log.warning("could not publish Prefect artifacts for %s: %s", run_id, exc)


def _in_run() -> bool:
    """Artifacts belong to a flow or task run; ``.fn()`` calls have none and publish nothing."""
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def signal_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The day's signals, strongest first: ticker, call, probabilities and ``p_up - p_down``."""
    score = frame["p_up"] - frame["p_down"]
    order = score.sort_values(ascending=False, kind="stable").index
    return [
        {
            "ticker": str(frame.at[i, "ticker"]),
            "predicted": str(frame.at[i, "predicted"]),
            "p_down": _num(float(frame.at[i, "p_down"])),
            "p_flat": _num(float(frame.at[i, "p_flat"])),
            "p_up": _num(float(frame.at[i, "p_up"])),
            "score": _num(float(score[i])),
            "model_id": str(frame.at[i, "model_id"]),
        }
        for i in order
    ]


def scorecard_markdown(card: Sequence[Mapping[str, Any]]) -> str:
    """The live scorecard as a markdown table (one row per model)."""
    lines = [
        "| model | settled | live acc (window) | expected acc [interval] | live log-loss (window) | expected "
        "| status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in card:
        lines.append(
            f"| {row['model_id']} | {row['n']} | {_num(row['window_accuracy'])} | {_num(row['expected_accuracy'])} "
            f"[{_num(row['accuracy_lower'])}..{_num(row['accuracy_upper'])}] | {_num(row['window_log_loss'])} | "
            f"{_num(row['expected_log_loss'])} | {row['status']} |"
        )
    return "\n".join(lines)


def publish_daily_artifacts(
    frame: pd.DataFrame, as_of: pd.Timestamp, *, scorecard: Sequence[Mapping[str, Any]] | None = None
) -> None:
    """Table of the day's signals and, when there is one, the live scorecard."""
    day = f"{as_of:%Y-%m-%d}"
    if not _in_run():
        return
    try:
        create_table_artifact(table=signal_rows(frame), key="daily-signals", description=f"Signals of {day}")
        if scorecard:
            create_markdown_artifact(
                markdown=f"# Live scorecard after {day}\n\n{scorecard_markdown(scorecard)}",
                key="daily-scorecard",
                description=f"Settled predictions up to {day}",
            )
    except Exception as exc:  # the UI view must never sink a finished run
        _log.warning("could not publish Prefect artifacts for %s: %s", day, exc)


def model_card(metadata: Mapping[str, Any]) -> str:
    """A markdown model card: data, architecture, validation metrics, promotion decision."""
    arch = metadata.get("architecture", {})
    val = metadata.get("validation", {})
    promotion = metadata.get("promotion", {})
    label = metadata.get("dataset", {}).get("label", {})
    lines = [
        f"# Model {metadata.get('model_id', '')}",
        "",
        f"- data: {', '.join(metadata.get('tickers', []))}, {metadata.get('data_start')}..{metadata.get('data_end')}",
        f"- architecture: units {arch.get('units')}, dropout {arch.get('dropout')}, "
        f"bidirectional {arch.get('bidirectional')}, optimiser {arch.get('optimizer')}",
        f"- label: {label.get('scheme')} scheme, horizon {label.get('horizon')}, lag {label.get('lag')}, "
        f"band {label.get('band')}",
        f"- validation: accuracy {_num(val.get('accuracy'))}, log-loss {_num(val.get('log_loss'))}, "
        f"balanced accuracy {_num(val.get('balanced_accuracy'))} on {val.get('n', 'n/a')} samples",
        f"- promotion: {promotion.get('reason', 'n/a')}",
        f"- code version {metadata.get('code_version', 'n/a')}",
    ]
    return "\n".join(lines)


def publish_train_artifacts(metadata: Mapping[str, Any], model_id: str) -> None:
    """The model card of a stored model."""
    if not _in_run():
        return
    try:
        create_markdown_artifact(
            markdown=model_card({**metadata, "model_id": model_id}), key="model-card", description=model_id
        )
    except Exception as exc:  # the UI view must never sink a finished run
        _log.warning("could not publish Prefect artifacts for %s: %s", model_id, exc)
