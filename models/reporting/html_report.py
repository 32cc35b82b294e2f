"""One self-contained ``report.html`` for a backtest run, readable by a portfolio manager.

The page needs nothing but a browser: styles are inline, charts are PNGs embedded as base64
``data:`` URIs, there is no JavaScript and no external asset. Sections, top to bottom: the two verdicts
side by side (probabilistic and directional, each with the number of configurations tried and the
Reality Check / SPA p-value across them), the headline table (model against each baseline on the
same samples), the directional table, strategy results and
their cost sensitivity, ranking and direction tests, per-block and per-year tables, charts and a
short glossary. Every value printed comes from the dicts the evaluation library returns; every
string is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from features.storage.atomic import atomic_path

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{padding:.3rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
.verdict{padding:.8rem 1rem;border-radius:6px;margin:1rem 0}
.edge{background:#e8f5e9;border:1px solid #66bb6a}.noedge{background:#fff8e1;border:1px solid #ffb300}
.muted{color:#666;font-size:.85rem}.verdicts{display:flex;gap:1rem}.verdicts>div{flex:1}
.verdict h3{margin:.1rem 0 .4rem;font-size:1rem}img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
"""

_GLOSSARY = (
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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    cap = f'<p class="muted">{html.escape(caption)}</p>' if caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{cap}"


def png_data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of a PNG file."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG"):
        raise ValueError(f"path must be a PNG file, got {path}")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


_NAMES = {"long_short": "long/short", "long_only": "long only", "buy_and_hold": "buy and hold"}


def _label(name: str) -> str:
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


def _headline_table(ev: Mapping[str, Any]) -> str:
    header = ["", *(h for h, _, _ in _HEADLINE), "test", "p-value", "Holm p", "result"]
    rows = [["model", *(fmt(ev["model"].get(k), f) for _, k, f in _HEADLINE), "", "", "", ""]]
    for name, m in ev["baselines"].items():
        c = ev["comparisons"][name]
        test = "DM on accuracy" if c["loss"] == "zero_one" else "DM on log-loss"
        rows.append(
            [
                _label(name),
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
    return _table(header, rows, caption=caption)


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


def _strategy_section(strategy: Mapping[str, Any]) -> str:
    metrics = strategy["metrics"]
    names = list(metrics)
    rows = [[label, *(fmt(metrics[v].get(key), kind) for v in names)] for label, key, kind in _STRATEGY_ROWS]
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
    out = _table(["", *(_label(v) for v in names)], rows, caption=caption)
    grid = strategy.get("cost_sensitivity") or []
    by = {(r["variant"], r["cost_bps"]): r for r in grid}
    header = ["cost (bps)", *(f"{_label(v)} ann. return" for v in names), *(f"{_label(v)} Sharpe" for v in names)]
    rows = []
    for c in sorted({r["cost_bps"] for r in grid}):
        returns = [fmt(by[(v, c)]["annualised_return"], "pct") for v in names]
        rows.append([fmt(c, digits=1), *returns, *(fmt(by[(v, c)]["sharpe"], digits=2) for v in names)])
    return out + ("<h3>Cost sensitivity</h3>" + _table(header, rows) if rows else "")


def _group_table(ev: Mapping[str, Any], kind: str, folds: Sequence[Mapping[str, Any]] | None) -> str:
    bases = ev[f"baselines_per_{kind}"]
    hard = {n: ev["comparisons"][n]["loss"] == "zero_one" for n in bases}
    info = {str(f.get("fold")): f for f in folds or []}
    header = [kind, *(["test period"] if kind == "fold" else []), "samples", "model accuracy", "model log-loss"]
    header += [f"{_label(n)} {'accuracy' if hard[n] else 'log-loss'}" for n in bases]
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
    return _table(header, rows)


def _ranking(r: Mapping[str, Any]) -> str:
    rows = [
        ["IC (Pearson)", *(fmt(r[k], digits=4) for k in ("ic_mean", "ic_std")), fmt(r["ic_t_stat"], digits=2)],
        ["rank IC (Spearman)", *(fmt(r[k], digits=4) for k in ("rank_ic_mean", "rank_ic_std")),
         fmt(r["rank_ic_t_stat"], digits=2)],
    ]  # fmt: skip
    return _table(["score P(up) - P(down)", "mean", "std", "t-stat"], rows, caption=r.get("note", ""))


def _direction(d: Mapping[str, Any]) -> str:
    rows = [
        [fmt(d["n"], "int"), fmt(d["hit_rate"], "pct"), fmt(d["expected_hit_rate"], "pct"),
         fmt(d["statistic"], digits=2), fmt(d["p_value"], "p")],
    ]  # fmt: skip
    caption = (
        f"Up/down calls only ({fmt(d.get('flat_predictions_excluded'), 'int')} flat calls excluded), against the "
        f"{d.get('realised_direction', 'realised direction')}. Pesaran-Timmermann assumes independent samples, "
        "so with overlapping horizons it is optimistic; it does not decide the verdict."
    )
    return _table(
        ["direction calls", "hit rate", "by chance", "PT statistic", "p-value (one-sided)"], rows, caption=caption
    )


def _directional_table(d: Mapping[str, Any]) -> str:
    ranking = (d.get("rank_ic") or {}).get("comparisons") or {}
    header = ["", "hit rate", "DM p", "Holm p", "result", "rank IC", "rank IC Holm p", "rank IC result"]
    model_ic = (d.get("rank_ic") or {}).get("model_mean")
    rows = [["model", fmt(d["model_hit_rate"], "pct"), "", "", "", fmt(model_ic, digits=4), "", ""]]
    for name, c in d["comparisons"].items():
        r = ranking.get(name)
        ic_cells = [fmt(r["baseline_mean"], digits=4), fmt(r["p_holm"], "p"), _result(r)] if r else ["n/a"] * 3
        rows.append([_label(name), fmt(c["hit_rate"], "pct"), fmt(c["p_value"], "p"), fmt(c["p_holm"], "p"),
                     _result(c), *ic_cells])  # fmt: skip
    caption = (
        f"Sign of P(up) - P(down) on the model's {fmt(d['n_calls'], 'int')} up/down calls "
        f"({fmt(d['flat_predictions_excluded'], 'int')} flat calls excluded), against the {d['realised_direction']}; "
        "a forecaster with P(up) = P(down) scores a coin flip. Diebold-Mariano on the per-date 0-1 loss and on the "
        "per-date rank IC difference (a constant score ranks nothing: IC 0), Holm-adjusted over the baselines."
    )
    return _table(header, rows, caption=caption)


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


def _verdict_box(title: str, verdict: Mapping[str, Any]) -> str:
    lines = list(verdict.get("verdict_lines") or [verdict["verdict"]])
    body = f"<p><strong>{html.escape(lines[0])}</strong></p>" + "".join(f"<p>{html.escape(s)}</p>" for s in lines[1:])
    kind = "edge" if verdict["has_edge"] else "noedge"
    return f'<div class="verdict {kind}"><h3>{html.escape(title)}</h3>{body}{_trials_note(verdict)}</div>'


def render_report(
    evaluation: Mapping[str, Any],
    *,
    strategy: Mapping[str, Any] | None = None,
    folds: Sequence[Mapping[str, Any]] | None = None,
    images: Mapping[str, Path] | None = None,
    title: str = "Backtest report",
    run_info: Mapping[str, Any] | None = None,
) -> str:
    """The report as one HTML string.

    Args:
        evaluation: :func:`models.evaluation.metrics.evaluate_predictions` output.
        strategy: :meth:`models.evaluation.strategy.StrategyResult.to_json` output, or None.
        folds: per-block summaries (``fold``, ``test_start``, ``test_end`` ...), or None.
        images: caption -> PNG path, embedded in order.
        title: page title.
        run_info: label -> value shown under the title (run id, data range, tickers...).
    """
    verdicts = evaluation.get("verdicts") or {}
    probabilistic = verdicts.get("probabilistic") or {
        "has_edge": evaluation["has_edge"], "verdict": evaluation["verdict"],
        "verdict_lines": evaluation.get("verdict_lines"),
    }  # fmt: skip
    boxes = [_verdict_box("Probabilistic verdict (log-loss)", probabilistic)]
    if verdicts.get("directional"):
        boxes.append(_verdict_box("Directional verdict (sign calls and rank IC)", verdicts["directional"]))
    info = _table(["run", ""], [[str(k), str(v)] for k, v in run_info.items()]) if run_info else ""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        info,
        f'<div class="verdicts">{"".join(boxes)}</div>',
        "<h2>Model against baselines, same samples</h2>",
        _headline_table(evaluation),
    ]
    if verdicts.get("directional"):
        body += ["<h2>Direction against baselines</h2>", _directional_table(verdicts["directional"])]
    if strategy:
        body += ["<h2>Strategy</h2>", _strategy_section(strategy)]
    body.append("<h2>Ranking and direction</h2>")
    body += [_ranking(evaluation["ranking"]) if evaluation.get("ranking") else ""]
    body += [_direction(evaluation["direction"]) if evaluation.get("direction") else ""]
    body += ["<h2>Per walk-forward block</h2>", _group_table(evaluation, "fold", folds)]
    body += ["<h2>Per year</h2>", _group_table(evaluation, "year", None)]
    if images:
        body.append("<h2>Charts</h2>")
        for caption, path in images.items():
            alt = html.escape(caption)
            body.append(f'<figure><img alt="{alt}" src="{png_data_uri(path)}"><figcaption>{alt}</figcaption></figure>')
    body.append("<h2>Glossary</h2>" + _table(["term", "meaning"], _GLOSSARY))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_report(html_text: str, path: Path) -> Path:
    """Write ``html_text`` to ``path`` atomically (UTF-8); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    return path
