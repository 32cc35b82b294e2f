"""Prefect artifacts: what a run shows in the Prefect UI next to its logs.

Artifacts are a view; the files in the data root are the record. Publishing never fails a run
(a run without an API, e.g. ``.fn()`` in tests, simply publishes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pandas as pd
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

_log = logging.getLogger("updown")
_HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "brier")
# The loss each Diebold-Mariano test compares (models.evaluation.metrics: per-sample losses averaged per date)
DM_LOSS_NAMES = {
    "log_loss": "log-loss (per-date mean)",
    "zero_one": "0-1 loss, i.e. error rate (per-date mean)",
}


def _num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "n/a"


def headline_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row for the model and one per baseline, with the comparison's p-value and the loss it is on.

    ``dm_p_value`` is the Diebold-Mariano (HLN) test of the model against that baseline, on the
    loss named in ``dm_loss`` (log-loss for probabilistic baselines, the 0-1 loss for hard ones).
    """
    rows = [
        {"subject": "model", **{k: _num(metrics["model"].get(k)) for k in _HEADLINE}, "dm_p_value": "", "dm_loss": ""}
    ]
    for name, values in metrics.get("baselines", {}).items():
        comparison = metrics.get("comparisons", {}).get(name, {})
        loss = comparison.get("loss")
        rows.append(
            {
                "subject": name,
                **{k: _num(values.get(k)) for k in _HEADLINE},
                "dm_p_value": _num(comparison.get("p_value")),
                "dm_loss": DM_LOSS_NAMES.get(loss, str(loss)) if loss else "n/a",
            }
        )
    return rows


def config_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The key settings of a backtest run, one markdown bullet each (from ``metrics["config"]``)."""
    config = metrics.get("config", {})
    data, wf = config.get("dataset", {}), config.get("walk_forward", {})
    model, training = config.get("model", {}), config.get("training", {})
    label = data.get("label", {})
    blocks = f"every {wf['retrain_every']} trading days" if wf.get("retrain_every") else wf.get("blocks")
    n_folds = len(metrics.get("folds", [])) or "n/a"
    return [
        f"- source `{metrics.get('source', 'n/a')}`, tickers {', '.join(metrics.get('tickers', [])) or 'n/a'}, "
        f"data {metrics.get('data_start')}..{metrics.get('data_end')}",
        f"- walk-forward: {n_folds} blocks (blocks: {blocks}), {wf.get('window', 'expanding')} window, "
        f"seeds {wf.get('seeds', 'n/a')}, warm start {wf.get('warm_start', False)}",
        f"- model: units {model.get('units')}, dropout {model.get('dropout')}, bidirectional "
        f"{model.get('bidirectional')}, optimiser {model.get('optimizer')}, learning rate {model.get('learning_rate')}",
        f"- training: epochs {training.get('epochs')}, batch size {training.get('batch_size')}, "
        f"patience {training.get('patience')}, seed {training.get('seed')}",
        f"- data: timesteps {data.get('timesteps')}, label {label.get('scheme')} horizon {label.get('horizon')} "
        f"lag {label.get('lag')} band {label.get('band')}",
    ]


_CROSS_SECTION = (
    ("ic", 4), ("icir", 3), ("ic_t_stat", 2), ("rank_ic", 4), ("rank_icir", 3), ("rank_ic_t_stat", 2),
    ("annualised_excess_return", 4), ("information_ratio", 2), ("max_drawdown", 4), ("n_dates", 0),
)  # fmt: skip


def cross_section_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """Qlib's table (``metrics.json``'s ``cross_section``): one row overall and one per year; [] when not meaningful."""
    cs = metrics.get("cross_section") or {}
    if not cs.get("meaningful"):
        return []
    periods = [("all", cs["overall"]), *((str(y), f) for y, f in cs.get("by_year", {}).items())]
    return [
        {"period": p, **{k: str(f.get(k, "n/a")) if d == 0 else _num(f.get(k), d) for k, d in _CROSS_SECTION}}
        for p, f in periods
    ]


def cross_section_lines(metrics: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the cross-section: the overall Qlib figures, or the note saying why there are none."""
    cs = metrics.get("cross_section")
    if not cs:
        return []
    if not cs.get("meaningful"):
        return ["", f"Cross-section: {cs.get('note', 'not meaningful')}"]
    o, book = cs["overall"], cs.get("book", {})
    name = f"TopkDropout(topk={book.get('topk')}, n_drop={book['n_drop']})" if book.get("n_drop") else (
        f"top {book.get('topk')}")  # fmt: skip
    return [
        "", "## Cross-section (Qlib's terms)", "",
        f"- IC {_num(o.get('ic'))}, ICIR {_num(o.get('icir'), 3)} (t {_num(o.get('ic_t_stat'), 2)}); "
        f"Rank IC {_num(o.get('rank_ic'))}, Rank ICIR {_num(o.get('rank_icir'), 3)} "
        f"(t {_num(o.get('rank_ic_t_stat'), 2)}), over {o.get('n_dates')} dates",
        f"- {name} long book against the equal-weight universe: annualised excess return "
        f"{_num(o.get('annualised_excess_return'))}, IR {_num(o.get('information_ratio'), 2)}, "
        f"max drawdown {_num(o.get('max_drawdown'))}",
        f"- {cs.get('note', '')}",
    ]  # fmt: skip


def backtest_markdown(metrics: Mapping[str, Any], run_dir: str | None = None) -> str:
    """A short markdown summary: verdict, strategy headline, key config, where the files are."""
    lines = [
        f"# Backtest {metrics.get('run_id', '')}",
        "",
        f"**{metrics.get('verdict_lines', [metrics['verdict']])[0]}**",
        "",
    ]
    lines += [f"- {line}" for line in metrics.get("verdict_lines", [])[1:]]
    directional = metrics.get("verdicts", {}).get("directional")
    if directional:
        lines += ["", f"**{directional['verdict_lines'][0]}**", ""]
        lines += [f"- {line}" for line in directional["verdict_lines"][1:]]
    trials = metrics.get("trials", {})
    if "n_trials" in trials:
        spa = trials.get("spa", {}).get("log_loss_diff", {})
        lines.append(
            f"- trials: {trials['n_trials']} configuration(s) on this universe over overlapping test periods; "
            f"SPA p (log-loss) {_num(spa.get('consistent'))}, Reality Check p {_num(spa.get('upper'))}"
        )
    strategy = metrics.get("strategy", {}).get("metrics", {})
    for variant in ("long_short", "long_only", "buy_and_hold"):
        m = strategy.get(variant)
        if m:
            ci = m.get("sharpe_ci", {})
            lines.append(
                f"- {variant.replace('_', ' ')}: annualised return {_num(m.get('annualised_return'))}, "
                f"Sharpe {_num(m.get('sharpe'), 2)}, alpha {_num(m.get('alpha'))}, beta {_num(m.get('beta'), 2)}, "
                f"active Sharpe {_num(m.get('active_sharpe'), 2)} "
                f"(95% CI {_num(ci.get('lower'), 2)}..{_num(ci.get('upper'), 2)}), "
                f"max drawdown {_num(m.get('max_drawdown'))}"
            )
    lines += cross_section_lines(metrics)
    lines += ["", "## Configuration", "", *config_lines(metrics)]
    comparisons = metrics.get("comparisons", {})
    if comparisons:
        by_loss: dict[str, list[str]] = {}
        for name, c in comparisons.items():
            by_loss.setdefault(DM_LOSS_NAMES.get(c.get("loss"), str(c.get("loss"))), []).append(name)
        lines += ["", "Diebold-Mariano (HLN) p-values compare the model with each baseline on:"]
        lines += [f"- {loss}: {', '.join(names)}" for loss, names in by_loss.items()]
    if run_dir:
        report = f"{run_dir.rstrip('/')}/report.html"
        link = report if "://" in report else Path(report).resolve().as_uri()
        lines += ["", f"Run folder: `{run_dir}`; full report: [report.html]({link})"]
    return "\n".join(lines)


def publish_backtest_artifacts(metrics: Mapping[str, Any], run_id: str, *, run_dir: str | None = None) -> None:
    """Headline-metrics table and markdown summary of a backtest run (``run_dir``: its folder or URL)."""
    try:
        create_table_artifact(
            table=headline_rows(metrics),
            key="backtest-headline",
            description=f"Headline metrics of run {run_id}; dm_p_value: Diebold-Mariano on the dm_loss column",
        )
        create_markdown_artifact(
            markdown=backtest_markdown(metrics, run_dir), key="backtest-summary", description=run_id
        )
        cross = cross_section_rows(metrics)
        if cross:
            create_table_artifact(
                table=cross,
                key="backtest-cross-section",
                description=f"IC, ICIR, Rank IC, Rank ICIR (HAC t) and the top-k book against the equal-weight "
                f"universe, overall and per year, of run {run_id}",
            )
    except Exception as exc:  # the UI view must never sink a finished run
        _log.warning("could not publish Prefect artifacts for %s: %s", run_id, exc)


def _in_run() -> bool:
    """Artifacts belong to a flow or task run; ``.fn()`` calls have none and publish nothing."""
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class BlockProgress:
    """Walk-forward progress: "block k of N" in the run log and a Prefect progress artifact.

    Created once the backtest has its run id, it names the flow run ``backtest-<run id>`` (the
    run folder's name) and creates the artifact at 0%. Called with (blocks done, blocks in all)
    as each block's result arrives (the engine's ``on_block_done`` hook), it moves both on.
    """

    def __init__(self, *, run_id: str) -> None:
        from flows.common import rename_flow_run  # here, not at the top: flows.common loads Keras

        self.run_id = run_id
        self._artifact: UUID | None = None
        if not _in_run():
            return
        rename_flow_run(f"backtest-{run_id}")
        try:
            self._artifact = cast(
                UUID,
                create_progress_artifact(
                    progress=0.0, key="backtest-progress", description=f"Walk-forward blocks of backtest {run_id}"
                ),
            )
        except Exception as exc:  # the UI view must never sink a run
            _log.warning("could not create the progress artifact of %s: %s", run_id, exc)

    def __call__(self, finished: int, total: int) -> None:
        from flows.common import run_logger

        run_logger().info("block %d of %d done", finished, total)
        if self._artifact is not None:
            try:
                update_progress_artifact(self._artifact, progress=100.0 * finished / total)
            except Exception as exc:  # the UI view must never sink a run
                _log.warning("could not update the progress artifact of %s: %s", self.run_id, exc)


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
