"""Prefect artifacts: what a run shows in the Prefect UI next to its logs.

Artifacts are a view; the files in the data root are the record. Publishing never fails a run
(a run without an API, e.g. ``.fn()`` in tests, simply publishes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

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
