"""One self-contained HTML page that puts several backtest runs side by side.

Users tune by comparing runs: the page shows the configuration keys that differ between them (flattened,
one column per run), their headline metrics (both verdicts, trials, the model's accuracy, log-loss and rank
IC, the best baseline, the long/short's net return, Sharpe, drawdown, alpha and DSR) and their long/short
net equity curves on one chart. Every number comes from each run folder's ``metrics.json`` and
``equity.parquet``; the chart is embedded as a base64 PNG, as in ``report.html``: no external asset.
"""

from __future__ import annotations

import hashlib
import html
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.storage.layout import DataRoot
from models.reporting.html_report import CSS, write_report
from models.reporting.html_tables import fmt, label, png_data_uri, table
from models.reporting.sheet import net_returns
from models.reporting.sheet_plots import plot_equity_comparison

__all__ = [
    "compare_path",
    "config_differences",
    "flatten",
    "headline_rows",
    "load_runs",
    "render_comparison",
    "write_comparison",
]

_VARIANT = "long_short"
_CSS = "table.cmp td{white-space:normal;min-width:9rem;vertical-align:top}table.cmp td:first-child{white-space:nowrap}"
_SETUP_KEYS = ("source", "tickers", "data_start", "data_end")  # beside ``config``: what the run was given


def flatten(mapping: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": value}``; lists stay values (JSON text in the page)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def _setup(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {**{k: metrics[k] for k in _SETUP_KEYS if k in metrics}, **flatten(metrics.get("config") or {})}


def config_differences(runs: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Rows ``[key, value of run 1, value of run 2, ...]`` for every setup key whose values differ.

    Args:
        runs: run id -> ``metrics.json`` content. The setup is its ``source``, ``tickers``, data range and
            flattened ``config``; a key missing from a run shows as "-".

    Returns:
        The differing keys, sorted; [] when the runs share one configuration.
    """
    setups = [_setup(m) for m in runs.values()]
    keys = sorted({k for s in setups for k in s})
    rows = []
    for key in keys:
        values = [json.dumps(s[key], sort_keys=True) if key in s else "-" for s in setups]
        if len(set(values)) > 1:
            rows.append([key, *(v.strip('"') for v in values)])
    return rows


def _best_baseline(metrics: Mapping[str, Any]) -> str | None:
    soft = {n: m["log_loss"] for n, m in (metrics.get("baselines") or {}).items() if m.get("log_loss") is not None}
    return min(soft, key=lambda n: soft[n]) if soft else None


def _verdict(metrics: Mapping[str, Any], kind: str) -> str:
    verdict = (metrics.get("verdicts") or {}).get(kind) or {}
    if not verdict:
        return "n/a"
    lines = verdict.get("verdict_lines") or [verdict.get("verdict", "")]
    return ("edge: " if verdict.get("has_edge") else "no edge: ") + str(lines[0])


def headline_rows(runs: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Rows ``[metric, run 1, run 2, ...]`` of the headline numbers, formatted as ``report.html`` does."""
    cols: list[list[str]] = []
    for m in runs.values():
        best = _best_baseline(m)
        rank = ((m.get("verdicts") or {}).get("directional") or {}).get("rank_ic") or {}
        ls = (((m.get("strategy") or {}).get("metrics")) or {}).get(_VARIANT) or {}
        base = (m.get("baselines") or {}).get(best or "") or {}
        cols.append([
            _verdict(m, "probabilistic"), _verdict(m, "directional"),
            fmt((m.get("trials") or {}).get("n_trials"), "int"),
            fmt(m["model"]["accuracy"], "pct"), fmt(m["model"]["log_loss"]), fmt(rank.get("model_mean"), digits=4),
            label(best) if best else "n/a", fmt(base.get("accuracy"), "pct"), fmt(base.get("log_loss")),
            fmt(ls.get("annualised_return"), "pct"), fmt(ls.get("sharpe"), digits=2),
            fmt(ls.get("max_drawdown"), "pct"), fmt(ls.get("alpha"), "pct"), fmt(ls.get("dsr"), "pct"),
        ])  # fmt: skip
    names = ("probabilistic verdict", "directional verdict", "N trials", "model accuracy", "model log-loss",
             "model rank IC", "best baseline", "best baseline accuracy", "best baseline log-loss",
             "long/short net return/yr", "long/short Sharpe", "long/short max drawdown", "long/short alpha",
             "long/short DSR")  # fmt: skip
    return [[name, *(c[i] for c in cols)] for i, name in enumerate(names)]


def load_runs(root: DataRoot, run_ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], pd.DataFrame]]:
    """Each run's ``metrics.json`` and ``equity.parquet``, by id (ids validated by :class:`DataRoot`).

    Raises:
        ValueError: fewer than two ids, a repeated id, or an id that is not a safe folder name.
        FileNotFoundError: naming the first id that is not a finished run with ``metrics.json``.
    """
    if len(run_ids) < 2:
        raise ValueError(f"--compare needs two or more run ids, got run_ids={list(run_ids)!r}")
    if len(set(run_ids)) < len(run_ids):
        raise ValueError(f"--compare needs distinct run ids, got run_ids={list(run_ids)!r}")
    folders = {run_id: root.backtest_run(run_id) for run_id in run_ids}  # validates every id first
    finished = set(root.finished_runs())
    out = {}
    for run_id, folder in folders.items():
        if run_id not in finished or not (folder / "metrics.json").is_file():
            raise FileNotFoundError(f"no finished backtest run run_id={run_id!r} under {root.backtest_dir}")
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        out[run_id] = (metrics, pd.read_parquet(folder / "equity.parquet"))
    return out


def render_comparison(runs: Mapping[str, Mapping[str, Any]], *, chart: Path | None = None) -> str:
    """The comparison page as one HTML string.

    Args:
        runs: run id -> ``metrics.json`` content, in column order.
        chart: PNG of the equity curves (:func:`models.reporting.sheet_plots.plot_equity_comparison`), embedded.
    """
    ids = list(runs)
    title = f"Comparing {len(ids)} backtest runs"
    diffs = config_differences(runs)
    body = [f"<h1>{html.escape(title)}</h1>", '<p class="muted">Each run\'s full report: '
            + html.escape(", ".join(f"{i}/report.html" for i in ids)) + "</p>"]  # fmt: skip
    body += ["<h2>Configuration that differs</h2>"]
    body += [f'<div class="scroll">{table(["key", *ids], diffs, cls="text")}</div>' if diffs
             else '<p class="muted">The runs share one configuration.</p>']  # fmt: skip
    headline = table(["", *ids], headline_rows(runs), cls="cmp")
    body += ["<h2>Headline metrics</h2>", f'<div class="scroll">{headline}</div>']
    body += [
        '<p class="muted">Strategy figures are the long/short book net of costs; the best baseline is the one with '
        "the lowest log-loss; N trials counts the configurations of each run's search (the DSR deflates for them)."
        "</p>"
    ]
    if chart is not None:
        alt = "Long/short net equity of every run (log scale)"
        body += ["<h2>Equity curves</h2>", f'<figure><img alt="{alt}" src="{png_data_uri(chart)}">'
                 f"<figcaption>{alt}</figcaption></figure>"]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def compare_path(root: DataRoot, run_ids: Sequence[str]) -> Path:
    """``reports/backtest/compare-<12 hex digits of the ids' sha256>.html``: one file per set of runs, in order."""
    digest = hashlib.sha256("|".join(run_ids).encode()).hexdigest()[:12]
    return root.backtest_dir / f"compare-{digest}.html"


def write_comparison(root: DataRoot, run_ids: Sequence[str], *, out: Path | None = None) -> Path:
    """Write the comparison page of ``run_ids`` to ``out`` (default :func:`compare_path`); returns its path.

    Raises:
        ValueError, FileNotFoundError: as :func:`load_runs`.
    """
    loaded = load_runs(root, run_ids)
    path = Path(out) if out is not None else compare_path(root, run_ids)
    with tempfile.TemporaryDirectory() as tmp:
        curves = {run_id: net_returns(equity, _VARIANT) for run_id, (_, equity) in loaded.items()}
        chart = plot_equity_comparison(curves, Path(tmp) / "equity.png")
        page = render_comparison({run_id: metrics for run_id, (metrics, _) in loaded.items()}, chart=chart)
    return write_report(page, path)
