"""One self-contained ``report.html`` for a backtest run, readable by a quant in a minute.

The page needs nothing but a browser: styles are inline, charts are PNGs embedded as base64
``data:`` URIs, there is no JavaScript and no external asset. Sections, top to bottom: the run's setup
(full config and versions folded away), *at a glance* (the two verdicts, the model's headline numbers
beside its best baseline's, the trials count and the equity curve), the model against every baseline,
direction, strategy with its cost sensitivity, returns (monthly heatmap, years, drawdowns, rolling risk,
distribution), trading, signal (IC over time, quintiles, decay, per-year IC, Bayes-optimal figures for a
synthetic source), the cross-section in Qlib's terms (IC, ICIR, Rank IC, Rank ICIR and the top-k book against
the equal-weight universe, overall and per year, with the IC and cumulative quintile charts), classification
charts, per-block and per-year tables and a glossary. Every value
printed comes from the dicts the evaluation library returns (``metrics.json``); every string is
HTML-escaped. Tables are in :mod:`models.reporting.html_tables` and :mod:`models.reporting.html_sheet`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from features.storage.atomic import atomic_path
from models.reporting import html_sheet as sheet
from models.reporting.html_tables import (
    GLOSSARY,
    cost_table,
    direction_table,
    directional_table,
    fmt,
    group_table,
    headline_table,
    label,
    png_data_uri,
    ranking_table,
    strategy_table_html,
    table,
    verdict_box,
)

__all__ = ["CAPTIONS", "fmt", "png_data_uri", "render_report", "setup_rows", "write_report"]

CSS = """.note{background:#fff8e6;border-left:3px solid #e0a800;padding:.4rem .6rem}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5rem auto;max-width:1180px;color:#222;
line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
h3{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{padding:.3rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
table.text td,table.text th{text-align:left;vertical-align:top}
td,th{white-space:nowrap}table.text td:last-child{white-space:normal}
.verdict{padding:.6rem 1rem;border-radius:6px;margin:.6rem 0}.verdict p{margin:.3rem 0}
.edge{background:#e8f5e9;border:1px solid #66bb6a}.noedge{background:#fff8e1;border:1px solid #ffb300}
.muted{color:#666;font-size:.85rem}.row{display:flex;gap:1.2rem;flex-wrap:wrap;align-items:flex-start}
.row>div{flex:1 1 340px;min-width:0}.verdict h3{margin:.1rem 0 .4rem}
.scroll{overflow-x:auto}img{max-width:100%;height:auto;border:1px solid #eee;margin:.4rem 0}
figure{margin:.4rem 0}figcaption{color:#666;font-size:.85rem}details{margin:.4rem 0}summary{cursor:pointer}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.8rem}
@media (max-width:600px){body{padding:0 .5rem;margin:.8rem auto}table{font-size:.78rem}th,td{padding:.2rem .35rem}}
"""

CAPTIONS = {
    "equity": "Equity (log scale) and drawdown after costs, against equal-weight buy-and-hold",
    "monthly": "Monthly net returns of the long/short (%)",
    "rolling_risk": "Rolling 6- and 12-month Sharpe and volatility of the long/short",
    "distribution": "Daily returns of the long/short against a normal",
    "exposure": "Exposure of the long/short over time",
    "cost": "Sharpe against trading cost",
    "ic": "IC and rank IC over time",
    "quintiles": "Mean forward return by score quintile",
    "autocorrelation": "Rank autocorrelation of the score by lag",
    "quantile_cumulative": "Cumulative gross return of each score quintile's equal-weight book and top minus bottom",
    "rolling_accuracy": "Rolling accuracy: the model, its two most accurate baselines and the class prior",
    "confusion": "Confusion matrix (rows realised, columns predicted)",
    "reliability": "Reliability diagram",
}


def _figure(images: Mapping[str, Path], key: str) -> str:
    if key not in images:
        return ""
    alt = html.escape(CAPTIONS.get(key, key))
    return f'<figure><img alt="{alt}" src="{png_data_uri(images[key])}"><figcaption>{alt}</figcaption></figure>'


def _scroll(fragment: str) -> str:
    """A wide table that scrolls sideways on a narrow screen instead of widening the page."""
    return f'<div class="scroll">{fragment}</div>'


def _period(folds: Sequence[Mapping[str, Any]] | None) -> str:
    spans = [(f["test_start"], f["test_end"]) for f in folds or [] if "test_start" in f and "test_end" in f]
    return f"{min(a for a, _ in spans)} to {max(b for _, b in spans)}" if spans else ""


def _book(strat: Mapping[str, Any]) -> str:
    """The long/short book in words: the demeaned score's neutrality, or the cross-sectional book and its k."""
    portfolio = strat.get("portfolio", "demeaned")
    if portfolio == "demeaned":
        return str(strat.get("neutral"))
    if portfolio == "quantile":
        return f"top minus bottom of {strat.get('quantiles')} score quantiles"
    drop = f", n_drop {strat.get('n_drop')}" if portfolio == "topk_dropout" else ""
    return f"{portfolio} (k {strat.get('topk')}{drop})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def setup_rows(run_info: Mapping[str, Any], folds: Sequence[Mapping[str, Any]] | None = None) -> list[list[str]]:
    """The run's setup as (field, value) rows: source, universe, periods, labels, model, training, costs."""
    config = run_info.get("config") or {}
    ds, lab = config.get("dataset") or {}, (config.get("dataset") or {}).get("label") or {}
    model, train = config.get("model") or {}, config.get("training") or {}
    wf, strat = config.get("walk_forward") or {}, config.get("strategy") or {}
    tickers = [str(t) for t in run_info.get("tickers") or []]
    universe = f"{len(tickers)} tickers" + (f": {', '.join(tickers)}" if 0 < len(tickers) <= 12 else "")
    rows = [
        ("run", str(run_info.get("run_id", ""))),
        ("source", str(run_info.get("source", ""))),
        ("preset", f"{run_info['preset']} (docs/presets.md; explicit options override it)" if run_info.get("preset")
         else ""),
        ("universe", universe if tickers else ""),
        ("data", f"{run_info['data_start']} to {run_info['data_end']}" if "data_start" in run_info else ""),
        ("test period", _period(folds)),
        ("labels", f"{lab['scheme']}" + (f" ±{fmt(lab.get('band'), 'pct')}" if lab.get("scheme") == "fixed" else "")
         + f", horizon {lab['horizon']} days, lag {lab['lag']}" if lab else ""),
        ("model", (("bidirectional " if model.get("bidirectional") else "") + "LSTM "
                   + "-".join(str(u) for u in model.get("units", [])) + f", dropout {model.get('dropout')}, "
                   + _count(len(ds.get("features", [])), "feature") + f" x {ds.get('timesteps')} days")
         if model else ""),
        ("training", f"{train['epochs']} epochs max, batch {train.get('batch_size')}, lr {model.get('learning_rate')}"
         if train else ""),
        ("walk-forward", f"{wf['blocks']} blocks, {wf.get('window')} window, seeds "
         + ", ".join(str(s) for s in wf.get("seeds", [])) if wf else ""),
        ("costs", f"{fmt(strat['cost_bps'], digits=1)} bps per unit of turnover, "
         f"{fmt(strat.get('borrow_bps'), digits=1)} bps/yr borrow, "
         f"risk-free {fmt(strat.get('risk_free'), 'pct')}, book {_book(strat)}"
         if strat else ""),
    ]  # fmt: skip
    return [[k, v] for k, v in rows if v]


def _setup(run_info: Mapping[str, Any] | None, folds: Sequence[Mapping[str, Any]] | None) -> str:
    if not run_info:
        return ""
    rows = setup_rows(run_info, folds)
    half = (len(rows) + 1) // 2  # two short columns keep the glance on the first screen
    out = sheet.side_by_side(
        table(["setup", ""], rows[:half], cls="text"), table(["setup, continued", ""], rows[half:], cls="text")
    )
    full = {k: v for k, v in run_info.items() if k in ("config", "versions", "code_version", "data_fingerprint")}
    if full:
        text = html.escape(json.dumps(full, indent=1, sort_keys=True, default=str))
        out += f"<details><summary>full configuration and versions</summary><pre>{text}</pre></details>"
    return out


def _best_baseline(ev: Mapping[str, Any]) -> str | None:
    soft = {n: m["log_loss"] for n, m in ev["baselines"].items() if m.get("log_loss") is not None}
    return min(soft, key=lambda n: soft[n]) if soft else None


def glance_rows(ev: Mapping[str, Any], strategy: Mapping[str, Any] | None) -> list[list[str]]:
    """Headline rows of the model and its best baseline (lowest log-loss): accuracy, log-loss, hit rate, IC."""
    best = _best_baseline(ev)
    directional = (ev.get("verdicts") or {}).get("directional") or {}
    rank = directional.get("rank_ic") or {}
    rows = [["model", fmt(ev["model"]["accuracy"], "pct"), fmt(ev["model"]["log_loss"]),
             fmt(directional.get("model_hit_rate"), "pct"), fmt(rank.get("model_mean"), digits=4)]]  # fmt: skip
    if best:
        c = (directional.get("comparisons") or {}).get(best) or {}
        r = (rank.get("comparisons") or {}).get(best) or {}
        rows.append([f"best baseline: {label(best)}", fmt(ev["baselines"][best]["accuracy"], "pct"),
                     fmt(ev["baselines"][best]["log_loss"]), fmt(c.get("hit_rate"), "pct"),
                     fmt(r.get("baseline_mean"), digits=4)])  # fmt: skip
    return rows


def compare_hint(run_ids: Sequence[str]) -> str:
    """The ``updown report --compare ...`` line for the runs of this search, to copy (a static page runs nothing)."""
    if len(run_ids) < 2:
        return ""
    command = html.escape("updown report --compare " + " ".join(run_ids))
    return f'<p class="muted">Compare the runs of this search side by side:</p><pre>{command}</pre>'


def _glance(
    ev: Mapping[str, Any], strategy: Mapping[str, Any] | None, images: Mapping[str, Path], search_runs: Sequence[str]
) -> str:
    verdicts = ev.get("verdicts") or {}
    probabilistic = verdicts.get("probabilistic") or {
        "has_edge": ev["has_edge"], "verdict": ev["verdict"], "verdict_lines": ev.get("verdict_lines"),
    }  # fmt: skip
    boxes = [verdict_box("Probabilistic verdict (log-loss)", probabilistic)]
    if verdicts.get("directional"):
        boxes.append(verdict_box("Directional verdict (sign calls and rank IC)", verdicts["directional"]))
    n_trials = ((probabilistic.get("trials") or {}).get("n_trials")) or (strategy or {}).get("settings", {}).get(
        "n_trials"
    )
    forecast = table(["forecast", "accuracy", "log-loss", "hit rate", "rank IC"], glance_rows(ev, strategy))
    money = ""
    if strategy:
        m = strategy["metrics"]
        rows = [[label(v), fmt(m[v]["annualised_return"], "pct"), fmt(m[v]["sharpe"], digits=2),
                 fmt(m[v]["max_drawdown"], "pct"), fmt(m[v].get("alpha"), "pct"), fmt(m[v].get("dsr"), "pct")]
                for v in m]  # fmt: skip
        money = table(["net of costs", "return/yr", "Sharpe", "max DD", "alpha", "DSR"], rows)
    trials = f'<p class="muted">N = {fmt(n_trials, "int")} configuration(s) tried on this universe.</p>'
    trials += compare_hint(search_runs)
    return (
        "<h2>At a glance</h2>" + sheet.side_by_side(*boxes)
        + sheet.side_by_side(_scroll(forecast), _scroll(money) + trials) + _figure(images, "equity")
    )  # fmt: skip


def render_report(
    evaluation: Mapping[str, Any],
    *,
    strategy: Mapping[str, Any] | None = None,
    folds: Sequence[Mapping[str, Any]] | None = None,
    images: Mapping[str, Path] | None = None,
    title: str = "Backtest report",
    run_info: Mapping[str, Any] | None = None,
    tearsheet: Mapping[str, Any] | None = None,
    search_runs: Sequence[str] = (),
    notes: Sequence[str] = (),
    cross_section: Mapping[str, Any] | None = None,
) -> str:
    """The report as one HTML string.

    Args:
        evaluation: :func:`models.evaluation.metrics.evaluate_predictions` output.
        strategy: :meth:`models.evaluation.strategy.StrategyResult.to_json` output, or None.
        folds: per-block summaries (``fold``, ``test_start``, ``test_end`` ...), or None.
        images: chart key (:data:`CAPTIONS`) -> PNG path; each is embedded in its section.
        title: page title.
        run_info: ``metrics.json``'s run entries (run id, source, tickers, data range, config, versions).
        tearsheet: :func:`models.reporting.sheet.build_tearsheet` output (plus ``bayes``), or None.
        search_runs: ids of the runs of this run's search (trials ledger); two or more show the
            ``updown report --compare`` line beside N.
        notes: caveats about the samples, shown under the setup (e.g. label windows cut by a halt).
        cross_section: :func:`models.evaluation.cross_section.cross_section_report`'s summary, or None.
    """
    images = images or {}
    ts = tearsheet or {}
    body = [f"<h1>{html.escape(title)}</h1>", _setup(run_info, folds)]
    body += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    body += [_glance(evaluation, strategy, images, search_runs)]
    body += [
        "<h2>Model against baselines, same samples</h2>",
        _scroll(headline_table(evaluation)),
    ]
    directional = (evaluation.get("verdicts") or {}).get("directional")
    if directional:
        body += ["<h2>Direction against baselines</h2>", _scroll(directional_table(directional))]
    if strategy:
        body += [
            "<h2>Strategy</h2>",
            _scroll(strategy_table_html(strategy)),
            "<h3>Cost sensitivity</h3>",
            sheet.side_by_side(_scroll(cost_table(strategy)), _figure(images, "cost")),
        ]
    cs_charts = bool(cross_section and cross_section.get("meaningful"))  # then the IC chart moves there
    body += _returns(ts, images) + _trading(ts, images) + _signal(evaluation, ts, images, ic_chart=not cs_charts)
    if cross_section:
        body += ["<h2>Cross-section, in Qlib's terms</h2>",
                 sheet.cross_section_html(cross_section, [_figure(images, "ic"),
                                                          _figure(images, "quantile_cumulative")])]  # fmt: skip
    body.append("<h2>Classification</h2>")
    body += [
        _figure(images, "rolling_accuracy"),
        sheet.side_by_side(_figure(images, "confusion"), _figure(images, "reliability")),
    ]
    body += ["<h2>Per walk-forward block</h2>", _scroll(group_table(evaluation, "fold", folds))]
    body += ["<h2>Per year</h2>", _scroll(group_table(evaluation, "year", None))]
    body.append("<h2>Glossary</h2>" + table(["term", "meaning"], GLOSSARY, cls="text"))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _returns(ts: Mapping[str, Any], images: Mapping[str, Path]) -> list[str]:
    returns = ts.get("returns") or {}
    if not returns:
        return []
    main = returns.get("long_short") or next(iter(returns.values()))
    return [
        "<h2>Returns</h2>", _figure(images, "monthly"),
        "<details><summary>monthly returns as a table</summary>" + sheet.monthly_table(main["monthly"]) + "</details>",
        sheet.side_by_side(sheet.yearly_table(returns), sheet.drawdown_table(main["drawdowns"])),
        _figure(images, "rolling_risk"),
        sheet.side_by_side(_figure(images, "distribution"), sheet.distribution_table(main["distribution"])),
    ]  # fmt: skip


def _trading(ts: Mapping[str, Any], images: Mapping[str, Path]) -> list[str]:
    if not ts.get("trading"):
        return []
    return ["<h2>Trading</h2>", sheet.trading_table(ts["trading"]), _figure(images, "exposure")]


def _signal(
    ev: Mapping[str, Any], ts: Mapping[str, Any], images: Mapping[str, Path], *, ic_chart: bool = True
) -> list[str]:
    signal = ts.get("signal") or {}
    out = ["<h2>Signal</h2>"]
    out += [ranking_table(ev["ranking"]) if ev.get("ranking") else ""]
    out += [direction_table(ev["direction"]) if ev.get("direction") else ""]
    out += [_figure(images, "ic") if ic_chart else ""]
    if signal:
        out += [
            sheet.side_by_side(
                sheet.ic_year_table(signal["ic_by_year"]),
                sheet.quintile_table(signal),
                sheet.autocorrelation_table(signal["score_autocorrelation"]),
            )
        ]
        out += [sheet.side_by_side(_figure(images, "quintiles"), _figure(images, "autocorrelation"))]
    if ts.get("bayes"):
        out += ["<h3>Against the Bayes-optimal forecaster</h3>", sheet.bayes_table(ts["bayes"], ev["model"])]
    return out


def write_report(html_text: str, path: Path) -> Path:
    """Write ``html_text`` to ``path`` atomically (UTF-8); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    return path
