"""HTML tables of the backtest report: the model against its baselines, direction, strategy, blocks and years.

Helpers for :mod:`models.reporting.html_report`: :func:`fmt` formats one value, :func:`table` builds an escaped
``<table>``; the other functions turn one part of ``metrics.json`` into a table. Every string is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

GLOSSARY = (
    ("Accuracy", "share of predictions whose class (down, flat or up) was right."),
    ("Balanced accuracy", "accuracy averaged over the three classes, so a rare class counts as much as a common one."),
    ("Log-loss", "how much probability the forecast put on what happened (lower is better); the main yardstick."),
    ("Brier score", "squared error of the probabilities (lower is better, 0 to 2)."),
    ("ECE", "calibration error: the gap between stated confidence and the share actually right."),
    ("Diebold-Mariano p", "chance of a loss difference this large if model and baseline were equally good."),
    ("Holm p", "the p-value adjusted for testing against several baselines at once (Holm's step-down)."),
    ("Probabilistic verdict", "is the model's log-loss better than every baseline's? Can be won by forecasting size."),
    ("Directional verdict", "are the model's up/down calls right more often than every baseline's?"),
    ("SPA / Reality Check p", "chance that the best of the configurations tried beats its baseline this much by luck."),
    ("Alpha / beta", "return not explained by the equal-weight market, and the exposure to it."),
    ("Active returns", "returns after hedging the market exposure (beta) away; PSR, DSR and the interval use them."),
    ("IC", "correlation, across tickers on each date, between P(up) - P(down) and the realised return."),
    ("ICIR / Rank ICIR", "mean daily IC (rank IC) over its standard deviation, as Qlib reports it (not annualised)."),
    (
        "Top-k book",
        "equal-weight long of the k best scores; Qlib's excess return, IR and max drawdown compare it "
        "with the equal-weight universe.",
    ),
    ("Sharpe", "annualised mean daily return divided by its volatility, no risk-free rate."),
    ("PSR / DSR", "probability the true active Sharpe exceeds 0 / exceeds what luck across the configurations gives."),
    ("Break-even cost", "trading cost per unit of turnover, in basis points, that would wipe out the profit."),
)


def fmt(value: Any, kind: str = "num", digits: int = 3) -> str:
    """Format a table cell: ``num`` (``digits`` decimals), ``pct`` (percent), ``int``, ``p`` (p-value);
    "n/a" when missing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if kind == "p":
        return "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"
    if kind == "pct":
        return f"{100 * float(value):.{max(digits - 2, 1)}f}%"
    if kind == "num1":
        return f"{float(value):.1f}"
    if kind == "int":
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "", cls: str = "") -> str:
    """An escaped ``<table>`` (``cls``: its CSS class) with an optional caption under it."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    cap = f'<p class="muted">{html.escape(caption)}</p>' if caption else ""
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{cap}"


def png_data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of a PNG file."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG"):
        raise ValueError(f"path must be a PNG file, got {path}")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


_NAMES = {"long_short": "long/short", "long_only": "long only", "buy_and_hold": "buy and hold"}


def label(name: str) -> str:
    return _NAMES.get(name, name.replace("_", " "))


_HEADLINE = (
    ("accuracy", "accuracy", "pct"),
    ("balanced acc.", "balanced_accuracy", "pct"),
    ("macro-F1", "macro_f1", "num"),
    ("MCC", "mcc", "num"),
    ("log-loss", "log_loss", "num"),
    ("Brier", "brier", "num"),
    ("ECE", "ece", "num"),
)


def _result(c: Mapping[str, Any]) -> str:
    if c["significant_edge"]:
        return "model better"
    return "model worse" if c["significantly_worse"] else "no significant difference"


def headline_table(ev: Mapping[str, Any]) -> str:
    header = ["", *(h for h, _, _ in _HEADLINE), "test", "p-value", "Holm p", "result"]
    rows = [["model", *(fmt(ev["model"].get(k), f) for _, k, f in _HEADLINE), "", "", "", ""]]
    for name, m in ev["baselines"].items():
        c = ev["comparisons"][name]
        test = "DM on accuracy" if c["loss"] == "zero_one" else "DM on log-loss"
        rows.append(
            [
                label(name),
                *(fmt(m.get(k), f) for _, k, f in _HEADLINE),
                test,
                fmt(c["p_value"], "p"),
                fmt(c.get("p_holm"), "p"),
                _result(c),
            ]
        )
    caption = (
        f"{fmt(ev['n'], 'int')} samples on {fmt(ev['n_dates'], 'int')} dates, identical for every row; "
        f"significance level {ev.get('alpha', 0.05):g}. A hard baseline (probabilities 0 or 1) has no log-loss, "
        "Brier or ECE and is compared on accuracy."
    )
    return table(header, rows, caption=caption)


_STRATEGY_ROWS = (
    ("alpha vs buy and hold (annualised)", "alpha", "pct"),
    ("beta to buy and hold", "beta", "num"),
    ("active Sharpe (appraisal ratio)", "active_sharpe", "num"),
    ("information ratio", "information_ratio", "num"),
    ("tracking error", "tracking_error", "pct"),
    ("net exposure", "net_exposure", "pct"),
    ("total return (compounded)", "total_return", "pct"),
    ("annualised return", "annualised_return", "pct"),
    ("annualised volatility", "annualised_volatility", "pct"),
    ("Sharpe (annualised)", "sharpe", "num"),
    ("Sortino (annualised)", "sortino", "num"),
    ("max drawdown", "max_drawdown", "pct"),
    ("Calmar", "calmar", "num"),
    ("turnover per year (x capital)", "annual_turnover", "num1"),
    ("hit rate (days)", "hit_rate", "pct"),
    ("average exposure", "exposure", "pct"),
    ("PSR (active)", "psr", "pct"),
    ("DSR (active)", "dsr", "pct"),
    ("break-even cost (bps)", "break_even_cost_bps", "num"),
)


def _interval(ci: Mapping[str, Any]) -> str:
    return f"{fmt(ci['lower'], digits=2)} to {fmt(ci['upper'], digits=2)}"


def strategy_table_html(strategy: Mapping[str, Any]) -> str:
    metrics = strategy["metrics"]
    names = list(metrics)
    rows = [[name, *(fmt(metrics[v].get(key), kind) for v in names)] for name, key, kind in _STRATEGY_ROWS]
    rows.insert(3, ["active Sharpe 95% interval (bootstrap)", *(_interval(metrics[v]["sharpe_ci"]) for v in names)])
    s = strategy.get("settings", {})
    book = "dollar-neutral (score demeaned per date)" if s.get("neutral", "demean") == "demean" else "+1 up / -1 down"
    caption = (
        f"Decision at the close, entry {s.get('lag', '?')} day(s) later, held {s.get('horizon', '?')} days; "
        f"long/short {book}; net of {fmt(s.get('cost_bps'), digits=1)} bps per unit of turnover and "
        f"{fmt(s.get('borrow_bps'), digits=1)} bps a year on shorts; risk-free rate {fmt(s.get('risk_free'), 'pct')}. "
        "Alpha, beta and active returns against buy and hold's gross returns; PSR, DSR and the interval are on "
        f"active returns. DSR deflates for {s.get('n_trials', 1)} configuration(s) tried. "
        "Break-even n/a: no profit before costs."
    )
    return table(["", *(label(v) for v in names)], rows, caption=caption)


def cost_table(strategy: Mapping[str, Any]) -> str:
    """Annualised return and Sharpe of each variant at each cost of the grid ("" without a grid)."""
    names = list(strategy["metrics"])
    grid = strategy.get("cost_sensitivity") or []
    by = {(r["variant"], r["cost_bps"]): r for r in grid}
    header = ["cost (bps)", *(f"{label(v)} return/yr" for v in names), *(f"{label(v)} Sharpe" for v in names)]
    rows = []
    for c in sorted({r["cost_bps"] for r in grid}):
        returns = [fmt(by[(v, c)]["annualised_return"], "pct") for v in names]
        rows.append([fmt(c, digits=1), *returns, *(fmt(by[(v, c)]["sharpe"], digits=2) for v in names)])
    return table(header, rows) if rows else ""


def group_table(ev: Mapping[str, Any], kind: str, folds: Sequence[Mapping[str, Any]] | None) -> str:
    bases = ev[f"baselines_per_{kind}"]
    hard = {n: ev["comparisons"][n]["loss"] == "zero_one" for n in bases}
    info = {str(f.get("fold")): f for f in folds or []}
    header = [kind, *(["test period"] if kind == "fold" else []), "samples", "model accuracy", "model log-loss"]
    header += [f"{label(n)} {'accuracy' if hard[n] else 'log-loss'}" for n in bases]
    rows = []
    for key, m in ev[f"per_{kind}"].items():
        cells = [key]
        if kind == "fold":
            f = info.get(key, {})
            cells.append(f"{f['test_start']} to {f['test_end']}" if "test_start" in f else "")
        cells += [fmt(m["n"], "int"), fmt(m["accuracy"], "pct"), fmt(m["log_loss"])]
        cells += [
            fmt(per[key]["accuracy"], "pct") if hard[n] else fmt(per[key]["log_loss"]) for n, per in bases.items()
        ]
        rows.append(cells)
    return table(header, rows)


def ranking_table(r: Mapping[str, Any]) -> str:
    rows = [
        ["IC (Pearson)", *(fmt(r[k], digits=4) for k in ("ic_mean", "ic_std")), fmt(r["ic_t_stat"], digits=2)],
        ["rank IC (Spearman)", *(fmt(r[k], digits=4) for k in ("rank_ic_mean", "rank_ic_std")),
         fmt(r["rank_ic_t_stat"], digits=2)],
    ]  # fmt: skip
    return table(["score P(up) - P(down)", "mean", "std", "t-stat"], rows, caption=r.get("note", ""))


def direction_table(d: Mapping[str, Any]) -> str:
    rows = [
        [fmt(d["n"], "int"), fmt(d["hit_rate"], "pct"), fmt(d["expected_hit_rate"], "pct"),
         fmt(d["statistic"], digits=2), fmt(d["p_value"], "p")],
    ]  # fmt: skip
    caption = (
        f"Up/down calls only ({fmt(d.get('flat_predictions_excluded'), 'int')} flat calls excluded), against the "
        f"{d.get('realised_direction', 'realised direction')}. Pesaran-Timmermann assumes independent samples, "
        "so with overlapping horizons it is optimistic; it does not decide the verdict."
    )
    return table(
        ["direction calls", "hit rate", "by chance", "PT statistic", "p-value (one-sided)"], rows, caption=caption
    )


def directional_table(d: Mapping[str, Any]) -> str:
    ranking = (d.get("rank_ic") or {}).get("comparisons") or {}
    header = ["", "hit rate", "DM p", "Holm p", "result", "rank IC", "rank IC Holm p", "rank IC result"]
    model_ic = (d.get("rank_ic") or {}).get("model_mean")
    rows = [["model", fmt(d["model_hit_rate"], "pct"), "", "", "", fmt(model_ic, digits=4), "", ""]]
    for name, c in d["comparisons"].items():
        r = ranking.get(name)
        ic_cells = [fmt(r["baseline_mean"], digits=4), fmt(r["p_holm"], "p"), _result(r)] if r else ["n/a"] * 3
        rows.append([label(name), fmt(c["hit_rate"], "pct"), fmt(c["p_value"], "p"), fmt(c["p_holm"], "p"),
                     _result(c), *ic_cells])  # fmt: skip
    caption = (
        f"Sign of P(up) - P(down) on the model's {fmt(d['n_calls'], 'int')} up/down calls "
        f"({fmt(d['flat_predictions_excluded'], 'int')} flat calls excluded), against the {d['realised_direction']}; "
        "a forecaster with P(up) = P(down) scores a coin flip. Diebold-Mariano on the per-date 0-1 loss and on the "
        "per-date rank IC difference (a constant score ranks nothing: IC 0), Holm-adjusted over the baselines."
    )
    return table(header, rows, caption=caption)


def _trials_note(verdict: Mapping[str, Any]) -> str:
    t = verdict.get("trials")
    if not t:
        return ""
    n = int(t["n_trials"])
    text = (
        f"{n} configuration{'s' if n != 1 else ''} tried on this universe over overlapping test periods; "
        f"across them, SPA p={fmt(t.get('spa_p_value'), 'p')}, "
        f"Reality Check p={fmt(t.get('reality_check_p_value'), 'p')} "
        f"({fmt(t.get('spa_dates'), 'int')} shared dates)."
    )
    return f'<p class="muted">{html.escape(text)}</p>'


def verdict_box(title: str, verdict: Mapping[str, Any]) -> str:
    lines = list(verdict.get("verdict_lines") or [verdict["verdict"]])
    body = f"<p><strong>{html.escape(lines[0])}</strong></p>"
    if lines[1:]:
        detail = "".join(f"<p>{html.escape(s)}</p>" for s in lines[1:])
        body += f"<details><summary>against each baseline ({len(lines) - 1})</summary>{detail}</details>"
    kind = "edge" if verdict["has_edge"] else "noedge"
    return f'<div class="verdict {kind}"><h3>{html.escape(title)}</h3>{body}{_trials_note(verdict)}</div>'
