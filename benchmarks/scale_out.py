"""11. Scale-out: the same walk-forward on a 2-worker local Dask cluster against the local runner.

``updown backtest`` on a synthetic market, seeds x blocks = 2 x 3 independent blocks, run as a
user runs it (a new process, a scratch data root, no fold cache), alternating
``--task-runner local`` and ``--task-runner dask:2`` (a ``LocalCluster`` of two single-threaded
worker processes, :mod:`flows.runners`). Reported: wall time of each, their ratio, and whether the
two runs' ``predictions.parquet`` are equal (probabilities to the bit, every column).

There is no goal in seconds: on one 2-core machine TensorFlow already spreads one block over both
cores, so the ratio says what a cluster's fan-out costs or gains here, not on more machines.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Scale, check_scale, result, updown_command, workspace

NAME = "scale_out"
GOAL = "backtest with --task-runner dask:2 vs local: wall ratio, identical predictions"

SIZES: dict[str, dict[str, Any]] = {
    "full": {"source": "synthetic:tickers=40,days=900,seed=7,signal=0.1,factor=0.4", "units": "32,16", "epochs": 2,
             "repeats": 1},
    "quick": {"source": "synthetic:tickers=12,days=700,seed=7,signal=0.1,factor=0.4", "units": "16,8", "epochs": 1,
              "repeats": 1},
    "toy": {"source": "synthetic:tickers=3,days=300,seed=7,signal=0.5", "units": "4", "epochs": 1, "repeats": 1},
}  # fmt: skip
RUNNERS = ("local", "dask:2")


def command(root: Path, size: dict[str, Any], runner: str) -> list[str]:
    """``updown backtest`` on the size's market with ``runner``, 2 seeds x 3 blocks, no fold cache."""
    return [
        *updown_command(), "backtest", "--data-root", str(root), "--source", size["source"], "--units", size["units"],
        "--epochs", str(size["epochs"]), "--seeds", "0,1", "--blocks", "3", "--no-cache", "--task-runner", runner,
    ]  # fmt: skip


def run(*, scale: Scale = "full", repeats: int | None = None) -> dict[str, Any]:
    """Measure; see the module docstring."""
    import pandas as pd

    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    times: dict[str, list[float]] = {r: [] for r in RUNNERS}
    predictions: dict[str, pd.DataFrame] = {}
    with workspace() as scratch:
        env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "UPDOWN_TASK_RUNNER")}
        env["PREFECT_HOME"] = str(scratch / "prefect")
        env["PREFECT_LOGGING_LEVEL"] = "WARNING"
        for i in range(reps):
            for runner in RUNNERS:  # alternate: local, dask, local, dask ...
                root = scratch / f"{runner.replace(':', '')}{i}"
                t0 = time.perf_counter()
                proc = subprocess.run(command(root, size, runner), capture_output=True, text=True, env=env, check=False)
                times[runner].append(time.perf_counter() - t0)
                if proc.returncode:
                    raise RuntimeError(f"backtest on {runner} failed ({proc.returncode}): {proc.stderr[-3000:]}")
                run_dir = Path(proc.stdout.strip().splitlines()[-1])
                frame = pd.read_parquet(run_dir / "predictions.parquet")
                predictions[runner] = frame.drop(columns=["model_id"])
    same = predictions["local"].equals(predictions["dask:2"])
    figures = {
        "local_s": Figure("s", times["local"]),
        "dask2_s": Figure("s", times["dask:2"]),
        "dask2_over_local_speed": Figure("ratio", [a / b for a, b in zip(times["local"], times["dask:2"], strict=True)],
                                         "higher"),
        "predictions_identical": Figure("ratio", [float(same)]),
    }  # fmt: skip
    return result(
        NAME,
        goal=GOAL,
        headline="dask2_over_local_speed",
        figures=figures,
        met=same if scale != "toy" else None,
        params={
            "source": size["source"],
            "units": size["units"],
            "epochs": size["epochs"],
            "seeds": [0, 1],
            "blocks": 3,
            "repeats": reps,
            "rows": len(predictions["local"]),
        },
        notes=[
            "wall time of the whole `updown backtest` process (start-up, Prefect's temporary server, cluster start)"
        ],
    )
