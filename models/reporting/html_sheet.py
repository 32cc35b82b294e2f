"""HTML sections of the tear sheet: returns, trading and signal tables (from ``metrics.json``'s ``tearsheet``).

Each function takes the JSON of :func:`models.reporting.sheet.build_tearsheet` (and the strategy's) and returns
an HTML fragment; charts are passed in as ``<figure>`` fragments already built by the page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from models.reporting.html_tables import fmt, label, table

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def side_by_side(*parts: str) -> str:
    """Fragments in a row that wraps on a narrow screen."""
    return '<div class="row">' + "".join(f"<div>{p}</div>" for p in parts if p) + "</div>"


def yearly_table(returns: Mapping[str, Any]) -> str:
    """Compounded return of each calendar year, one column per variant."""
    names = list(returns)
    years = sorted({y for v in names for y in returns[v]["yearly"]})
    rows = [[y, *(fmt(returns[v]["yearly"].get(y), "pct") for v in names)] for y in years]
    return table(["year", *(label(v) for v in names)], rows, caption="Compounded net return of each calendar year.")


def monthly_table(monthly: Mapping[str, float]) -> str:
    """Years x months table of net returns in percent (the heatmap's numbers)."""
    years = sorted({k[:4] for k in monthly})
    rows = [[y, *(fmt(monthly.get(f"{y}-{m:02d}"), "pct") for m in range(1, 13))] for y in years]
    return f'<div class="scroll">{table(["year", *_MONTHS], rows)}</div>'


def drawdown_table(drawdowns: Sequence[Mapping[str, Any]]) -> str:
    """The worst drawdowns: start, trough, recovery, depth, length."""
    rows = [
        [str(i), d["start"], d["trough"], d["recovery"] or "not yet", fmt(d["depth"], "pct"), fmt(d["length"], "int")]
        for i, d in enumerate(drawdowns, start=1)
    ]
    return table(["#", "start", "trough", "recovery", "depth", "days"], rows,
                 caption="Worst five drawdowns of the long/short net equity; days from start to recovery (or to the "
                 "last date), in trading days.")  # fmt: skip


def distribution_table(dist: Mapping[str, float]) -> str:
    """Moments and tail of the daily returns beside a normal's."""
    rows = [
        ["mean daily return", fmt(dist["mean"], "pct", 4)],
        ["daily volatility", fmt(dist["std"], "pct", 4)],
        ["skew (normal: 0)", fmt(dist["skew"], digits=2)],
        ["excess kurtosis (normal: 0)", fmt(dist["excess_kurtosis"], digits=2)],
        ["1-day VaR 95% (historical)", fmt(dist["var_95"], "pct", 4)],
        ["1-day VaR 95% (normal)", fmt(dist["normal_var_95"], "pct", 4)],
        ["1-day CVaR 95%", fmt(dist["cvar_95"], "pct", 4)],
        ["best / worst day", f"{fmt(dist['best_day'], 'pct', 4)} / {fmt(dist['worst_day'], 'pct', 4)}"],
    ]
    return table(["long/short net, daily", ""], rows)


_TRADING = (
    ("position changes (ticker-days)", "position_changes", "int"),
    ("position changes per year", "position_changes_per_year", "num1"),
    ("average holding period (days)", "average_holding_days", "num1"),
    ("turnover per year (x capital)", "annual_turnover", "num1"),
    ("profit factor", "profit_factor", "num"),
    ("average gross exposure", "exposure", "pct"),
    ("average net exposure", "net_exposure", "pct"),
)


def trading_table(trading: Mapping[str, Mapping[str, Any]]) -> str:
    """How each variant trades."""
    names = list(trading)
    rows = [[name, *(fmt(trading[v].get(key), kind) for v in names)] for name, key, kind in _TRADING]
    return table(["", *(label(v) for v in names)], rows,
                 caption="A position change is a ticker-day whose side (long, short or none) changes; the holding "
                 "period is the trading days a ticker keeps one side. Profit factor: sum of winning days over the "
                 "loss of losing days, net.")  # fmt: skip


def ic_year_table(by_year: Mapping[str, Mapping[str, Any]]) -> str:
    """Mean IC and rank IC of each calendar year."""
    rows = [
        [y, fmt(f["ic"], digits=4), fmt(f["rank_ic"], digits=4), fmt(f["n_dates"], "int")] for y, f in by_year.items()
    ]
    return table(["year", "IC", "rank IC", "dates"], rows)


def quintile_table(signal: Mapping[str, Any]) -> str:
    """Mean forward return of each score quintile and the top-minus-bottom spread."""
    quintiles = signal["quintile_returns"]
    rows = [[q, fmt(f["mean_return"], "pct", 4), fmt(f["n"], "int")] for q, f in quintiles.items()]
    rows.append(["5 - 1", fmt(signal.get("quintile_spread"), "pct", 4), ""])
    return table(["quintile", "mean forward return", "rows"], rows)


def autocorrelation_table(auto: Mapping[str, float]) -> str:
    """Rank autocorrelation of the score by lag."""
    return table(["lag (dates)", "rank autocorrelation"], [[k, fmt(v)] for k, v in auto.items()])


def bayes_table(bayes: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    """The Bayes-optimal forecaster's accuracy and log-loss beside the model's, on the same test rows."""
    rows = [
        ["accuracy (expected)", fmt(model.get("accuracy"), "pct"), fmt(bayes["accuracy"], "pct"),
         fmt(bayes["accuracy_gap"], "pct")],
        ["log-loss (expected)", fmt(model.get("log_loss")), fmt(bayes["log_loss"]), fmt(bayes["log_loss_gap"])],
        ["accuracy (realised labels)", fmt(model.get("accuracy"), "pct"), fmt(bayes["realised_accuracy"], "pct"), ""],
        ["log-loss (realised labels)", fmt(model.get("log_loss")), fmt(bayes.get("realised_log_loss")), ""],
    ]  # fmt: skip
    captured = bayes.get("captured_share")
    share = (
        f" The model captured {fmt(captured, 'pct')} of the log-loss gain attainable over the class prior "
        "((prior - model) / (prior - optimal), realised labels)."
        if captured is not None
        else ""
    )
    return table(["", "model", "Bayes-optimal", "model - optimal"], rows,
                 caption=f"The synthetic market's true class probabilities on the same {fmt(bayes['rows'], 'int')} "
                 f"test rows: the best any forecaster can do.{share}")  # fmt: skip


def _periods(cs: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [("all", cs["overall"]), *((str(y), f) for y, f in cs["by_year"].items())]


def qlib_ic_table(cs: Mapping[str, Any]) -> str:
    """IC, ICIR, Rank IC, Rank ICIR and their HAC t-statistics, overall and per year."""
    rows = [
        [p, fmt(f["ic"], digits=4), fmt(f["icir"], digits=3), fmt(f["ic_t_stat"], digits=2),
         fmt(f["rank_ic"], digits=4), fmt(f["rank_icir"], digits=3), fmt(f["rank_ic_t_stat"], digits=2),
         fmt(f["n_dates"], "int")]
        for p, f in _periods(cs)
    ]  # fmt: skip
    return table(["period", "IC", "ICIR", "t (HAC)", "Rank IC", "Rank ICIR", "t (HAC)", "dates"], rows,
                 caption="Per-date correlation of the score with the forward return across tickers, averaged; "
                 "ICIR = mean / std of the daily values (Qlib's, not annualised); t from Newey-West.")  # fmt: skip


def baseline_ic_table(cs: Mapping[str, Any]) -> str:
    """The model's overall IC figures beside each baseline's, so an IC is read against what simple rules reach."""
    if not cs.get("baselines"):
        return ""
    rows = []
    for name, f in [("model", cs["overall"]), *cs["baselines"].items()]:
        if not f["n_dates"]:
            rows.append([name.replace("_", " "), *["n/a"] * 6, "0"])
            continue
        rows.append([name.replace("_", " "), fmt(f["ic"], digits=4), fmt(f["icir"], digits=3),
                     fmt(f["ic_t_stat"], digits=2), fmt(f["rank_ic"], digits=4), fmt(f["rank_icir"], digits=3),
                     fmt(f["rank_ic_t_stat"], digits=2), fmt(f["n_dates"], "int")])  # fmt: skip
    return table(
        ["forecast", "IC", "ICIR", "t (HAC)", "Rank IC", "Rank ICIR", "t (HAC)", "dates"],
        rows,
        caption="The same figures for each baseline's P(up) - P(down), all dates: an IC means little "
        "until it beats these; n/a: the forecast gives every ticker of a date the same score. The directional "
        "verdict tests the rank IC differences (Holm-adjusted).",
    )


def qlib_excess_table(cs: Mapping[str, Any]) -> str:
    """The top-k long book against the equal-weight universe, overall and per year (Qlib's conventions)."""
    book = cs["book"]
    rule = f"TopkDropout(topk={book['topk']}, n_drop={book['n_drop']})" if book["n_drop"] else f"top {book['topk']}"
    k = book.get("k_per_date_median")
    if k is not None and k < book["topk"]:  # too few tickers for k names on each side
        rule += f" (a median of {fmt(k, 'int')} names per date: k is at most half the tickers of a date)"
    rows = [
        [p, fmt(f["annualised_excess_return"], "pct"), fmt(f["excess_gross_annualised_return"], "pct"),
         fmt(f["information_ratio"], digits=2), fmt(f["max_drawdown"], "pct"),
         fmt(f["topk_annualised_return"], "pct"), fmt(f["universe_annualised_return"], "pct"), fmt(f["n_days"], "int")]
        for p, f in _periods(cs)
    ]  # fmt: skip
    return table(["period", "excess/yr", "before costs", "IR", "max DD", "top-k/yr", "universe/yr", "days"], rows,
                 caption=f"Long book {rule} (equal weight, {fmt(book['cost_bps'], digits=1)} bps costs) minus the "
                 "equal-weight universe, same timing. As Qlib: return/yr = 252 x mean daily, IR = mean / std x "
                 "sqrt(252), max DD of the summed daily excess returns.")  # fmt: skip


def cross_section_html(cs: Mapping[str, Any], figures: Sequence[str] = ()) -> str:
    """The cross-section section: the note, the two tables and the charts, or only the note when not meaningful."""
    note = f'<p class="note">{html.escape(str(cs.get("note", "")))}</p>'
    if not cs.get("meaningful"):
        return note
    tables = "".join(f'<div class="scroll">{t}</div>'
                     for t in (qlib_ic_table(cs), baseline_ic_table(cs), qlib_excess_table(cs)) if t)  # fmt: skip
    return note + tables + "".join(figures)
