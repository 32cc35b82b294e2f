"""Golden backtest: a tiny walk-forward run through the backtest flow gives, to the bit, the outputs stored
before the engine refactor (issue 14).

The golden files under ``tests/golden/`` were written by the old code (``python tests/flows/test_backtest_golden.py``
regenerates them; do that only for a change that is meant to change the numbers, and say so in the commit).
Run ids, timestamps, wall time and library versions are taken out; everything else must match exactly.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SOURCE = "synthetic:tickers=3,days=400,seed=7,signal=1.0"
VOLATILE = ("run_id", "created_at", "wall_seconds", "code_version", "versions")

pytestmark = [pytest.mark.slow]


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


@pytest.mark.usefixtures("prefect_harness")
def test_backtest_outputs_match_the_golden_files(tmp_path: Path) -> None:
    predictions, baselines, metrics = _run_backtest(tmp_path)
    golden_predictions = pd.read_parquet(GOLDEN / "backtest_predictions.parquet")
    pd.testing.assert_frame_equal(predictions, golden_predictions, check_exact=True)
    pd.testing.assert_frame_equal(baselines, pd.read_parquet(GOLDEN / "backtest_baselines.parquet"), check_exact=True)
    assert metrics == json.loads((GOLDEN / "backtest_metrics.json").read_text(encoding="utf-8"))
    from flows.artifacts import backtest_markdown  # the Prefect artifact reads this very metrics.json

    text = backtest_markdown(metrics)
    assert f"**{metrics['verdict_lines'][0]}**" in text
    assert f"**{metrics['verdicts']['directional']['verdict_lines'][0]}**" in text
    assert f"- trials: {metrics['trials']['n_trials']} configuration(s) on this universe" in text


if __name__ == "__main__":  # regenerate the golden files (see the module docstring)
    import tempfile

    from prefect.testing.utilities import prefect_test_harness

    sys.path.append(str(Path(__file__).resolve().parents[1]))  # for `support`, after the packages
    with tempfile.TemporaryDirectory() as scratch, prefect_test_harness(server_startup_timeout=120):
        preds, base, content = _run_backtest(Path(scratch))
    preds.to_parquet(GOLDEN / "backtest_predictions.parquet", index=False)
    base.to_parquet(GOLDEN / "backtest_baselines.parquet", index=False)
    (GOLDEN / "backtest_metrics.json").write_text(json.dumps(content, sort_keys=True) + "\n", encoding="utf-8")
