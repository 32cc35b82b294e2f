"""Golden backtest: a tiny walk-forward run through the backtest flow gives the outputs stored before the
engine refactor (issue 14): to within 1e-10 on a machine of a CPU level that has a golden set, and within
rounding on any machine.

NumPy's exp and log and oneDNN's matrix kernels round differently on AVX-512 (x86-64-v4) and AVX2 (x86-64-v3)
machines, so the bits of a run depend on the CPU level: ``tests/golden/backtest-<level>/`` holds one set per
level seen (the x86-64-v4 set was written by the code before the refactor, on an AVX-512 Xeon; the x86-64-v3
set by the code of 2026-12-02 on an AVX2 EPYC, within rounding of the v4 set). Hosts of one level differ too,
though far less: on a Sapphire Rapids Xeon (AMX) the LSTM's predictions and the gradient-boosting baseline
equal the v4 set to the bit, but the logistic-regression baseline's probabilities are 5e-13 away (not OpenBLAS's
kernel or threads, NumPy's dispatch or the SciPy release: each was pinned in turn). So the run is compared
with its own level's set to :data:`SAME_LEVEL_ATOL` / :data:`SAME_LEVEL_RTOL` (strings and integers exactly),
which any change of the code exceeds by orders of magnitude, and with every set within rounding
(:data:`PROBABILITY_ATOL`, :data:`METRIC_RTOL`), so a machine of a level with no set is still checked.
``python tests/flows/test_backtest_golden.py`` writes this machine's level's set; do that only for a change
that is meant to change the numbers (and then on each level, or delete the sets you cannot rewrite), and say
so in the commit. Run ids, timestamps, wall time and library versions are taken out.
"""

from __future__ import annotations

import json
import math
import platform
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SOURCE = "synthetic:tickers=3,days=400,seed=7,signal=1.0"
VOLATILE = ("run_id", "created_at", "wall_seconds", "code_version", "versions")
# Between CPU levels: probabilities moved by up to 5e-8 and metrics by up to 7e-6 of their value (the
# skew of a 3-month return series). A change of the code moves them far more.
PROBABILITY_ATOL = 1e-6
METRIC_RTOL, METRIC_ATOL = 1e-4, 1e-7
# Same level, another host: 5e-13 seen (module docstring); a change of the code moves them by 1e-7 or more.
SAME_LEVEL_ATOL, SAME_LEVEL_RTOL = 1e-10, 1e-9
HOST_DEPENDENT = ("data_fingerprint",)  # a hash of the prices' bytes, which differ in the last bit

pytestmark = [pytest.mark.slow]


def cpu_level() -> str:
    """The x86-64 micro-architecture level NumPy dispatches to (``x86-64-v4`` = AVX-512), else the machine."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # another NumPy layout: name the machine only
        return platform.machine()
    for level in ("X86_V4", "X86_V3", "X86_V2"):
        if features.get(level):
            return "x86-64-" + level[-2:].lower()
    return platform.machine()


def golden_sets() -> list[Path]:
    return sorted(p for p in GOLDEN.glob("backtest-*") if p.is_dir())


def _run_backtest(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(stitched predictions, seed 0's stitched baseline probabilities, metrics.json without volatile keys)."""
    from features.dataset import DatasetConfig
    from flows.backtest import backtest_flow
    from models.backtest.walkforward import WalkForwardConfig
    from tests.support import TINY_MODEL, TINY_TRAIN

    run_dir = Path(
        backtest_flow(
            source=SOURCE,
            dataset=DatasetConfig(timesteps=8),
            model=TINY_MODEL,
            training=TINY_TRAIN,
            walk_forward=WalkForwardConfig(blocks=2, test_fraction=0.2, seeds=(0, 1), warm_start=True),
            data_root_dir=str(root),
            use_cache=False,
        )
    )
    run_id = run_dir.name
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    predictions["model_id"] = predictions["model_id"].str.replace(run_id, "RUN", regex=False)
    baselines = pd.concat(
        [pd.read_parquet(f) for f in sorted((run_dir / "folds" / "seed=0").glob("fold=*.baselines.parquet"))],
        ignore_index=True,
    )
    text = (run_dir / "metrics.json").read_text(encoding="utf-8")
    metrics = json.loads(re.sub(re.escape(run_id), "RUN", text))
    for key in VOLATILE:
        metrics.pop(key)
    metrics["trials"].pop("ledger")
    return predictions, baselines, metrics


def assert_metrics_close(
    ours: Any, theirs: Any, path: str = "metrics", *, rtol: float = METRIC_RTOL, atol: float = METRIC_ATOL
) -> None:
    """Equal structure, strings and integers; floats within ``rtol`` / ``atol``."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), path
        for key in ours:
            if key not in HOST_DEPENDENT:
                assert_metrics_close(ours[key], theirs[key], f"{path}/{key}", rtol=rtol, atol=atol)
    elif isinstance(ours, list) and isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_metrics_close(a, b, f"{path}[{i}]", rtol=rtol, atol=atol)
    elif isinstance(ours, float) and isinstance(theirs, float):
        same = (math.isnan(ours) and math.isnan(theirs)) or math.isclose(ours, theirs, rel_tol=rtol, abs_tol=atol)
        assert same, f"{path}: {ours!r} vs {theirs!r}"
    else:
        assert ours == theirs, f"{path}: {ours!r} vs {theirs!r}"


def assert_frames_close(ours: pd.DataFrame, theirs: pd.DataFrame, *, atol: float = PROBABILITY_ATOL) -> None:
    """Same columns, keys and dtypes; floats within ``atol`` (pandas' own tolerant comparison)."""
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=0, atol=atol)


@pytest.mark.usefixtures("prefect_harness")
def test_backtest_outputs_match_the_golden_files(tmp_path: Path) -> None:
    predictions, baselines, metrics = _run_backtest(tmp_path)
    sets = golden_sets()
    assert sets, f"no golden set under {GOLDEN}"
    for folder in sets:
        golden_predictions = pd.read_parquet(folder / "predictions.parquet")
        golden_baselines = pd.read_parquet(folder / "baselines.parquet")
        golden_metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        if folder.name == f"backtest-{cpu_level()}":  # this machine's CPU level: all but the last bits
            assert_frames_close(predictions, golden_predictions, atol=SAME_LEVEL_ATOL)
            assert_frames_close(baselines, golden_baselines, atol=SAME_LEVEL_ATOL)
            assert_metrics_close(metrics, golden_metrics, rtol=SAME_LEVEL_RTOL, atol=SAME_LEVEL_ATOL)
        assert_frames_close(predictions, golden_predictions)
        assert_frames_close(baselines, golden_baselines)
        assert_metrics_close(metrics, golden_metrics)
    from flows.artifacts import backtest_markdown  # the Prefect artifact reads this very metrics.json

    text = backtest_markdown(metrics)
    assert f"**{metrics['verdict_lines'][0]}**" in text
    assert f"**{metrics['verdicts']['directional']['verdict_lines'][0]}**" in text
    assert f"- trials: {metrics['trials']['n_trials']} configuration(s) on this universe" in text


def test_the_tolerant_comparisons_catch_a_real_change() -> None:
    folder = golden_sets()[0]
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert_metrics_close(metrics, json.loads(json.dumps(metrics)))
    changed = json.loads(json.dumps(metrics))
    changed["model"]["log_loss"] *= 1.001
    with pytest.raises(AssertionError, match="model/log_loss"):
        assert_metrics_close(changed, metrics)
    predictions = pd.read_parquet(folder / "predictions.parquet")
    moved = predictions.copy()
    moved.loc[0, "p_up"] += 1e-5
    with pytest.raises(AssertionError):
        assert_frames_close(moved, predictions)
    # the same level's comparison: a host's last bits pass, a move far below the levels' 5e-8 does not
    nudged = predictions.copy()
    nudged.loc[0, "p_up"] += 1e-12
    assert_frames_close(nudged, predictions, atol=SAME_LEVEL_ATOL)
    nudged.loc[0, "p_up"] += 1e-8
    with pytest.raises(AssertionError):
        assert_frames_close(nudged, predictions, atol=SAME_LEVEL_ATOL)
    changed = json.loads(json.dumps(metrics))
    changed["model"]["log_loss"] *= 1 + 1e-7
    assert_metrics_close(changed, metrics)  # within rounding across levels...
    with pytest.raises(AssertionError, match="model/log_loss"):  # ...but not on one level
        assert_metrics_close(changed, metrics, rtol=SAME_LEVEL_RTOL, atol=SAME_LEVEL_ATOL)


if __name__ == "__main__":  # write this machine's CPU level's golden set (see the module docstring)
    import tempfile

    from prefect.testing.utilities import prefect_test_harness

    sys.path.append(str(Path(__file__).resolve().parents[1]))  # for `support`, after the packages
    with tempfile.TemporaryDirectory() as scratch, prefect_test_harness(server_startup_timeout=120):
        preds, base, content = _run_backtest(Path(scratch))
    out = GOLDEN / f"backtest-{cpu_level()}"
    out.mkdir(exist_ok=True)
    preds.to_parquet(out / "predictions.parquet", index=False)
    base.to_parquet(out / "baselines.parquet", index=False)
    (out / "metrics.json").write_text(json.dumps(content, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")
