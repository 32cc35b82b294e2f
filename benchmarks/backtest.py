"""7. The default ``updown backtest`` on the bundled sample: wall time, as a user runs it.

One run (it takes minutes) of the installed CLI in a fresh process with a scratch data root, so
interpreter start, imports, Prefect's temporary server, three walk-forward blocks of the default
stacked LSTM, six baselines per block, the report and its plots are all counted.

Goal: <= 10 minutes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Scale, check_scale, result, updown_command, workspace

NAME = "backtest"
GOAL = "default `updown backtest` on the bundled sample <= 10 minutes"


def default_command(root: Path) -> list[str]:
    """``updown backtest --data-root ROOT`` (every other option at its default)."""
    return [*updown_command(), "backtest", "--data-root", str(root)]


def run(*, scale: Scale = "full", repeats: int | None = None, command: Sequence[str] | None = None) -> dict[str, Any]:
    """Measure; ``command`` replaces the CLI call (the smoke test passes a trivial one).

    At ``quick`` scale the backtest runs with ``--epochs 1 --blocks 1`` and is not judged.
    """
    check_scale(scale)
    reps = repeats or 1
    times: list[float] = []
    last_line = ""
    with workspace() as scratch:
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env["PREFECT_HOME"] = str(scratch / "prefect")
        env["PREFECT_LOGGING_LEVEL"] = "WARNING"
        for i in range(reps):
            cmd = list(command) if command else default_command(scratch / f"data{i}")
            if command is None and scale != "full":
                cmd += ["--epochs", "1", "--blocks", "1"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            times.append(time.perf_counter() - t0)
            if proc.returncode:
                raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {proc.stderr[-3000:]}")
            last_line = (proc.stdout.strip().splitlines() or [""])[-1]
    figures = {"wall_s": Figure("s", times)}
    return result(
        NAME,
        goal=GOAL,
        headline="wall_s",
        figures=figures,
        met=bool(figures["wall_s"].median <= 600) if scale == "full" and command is None else None,
        params={
            "command": "custom"
            if command
            else "updown backtest --data-root <scratch>" + ("" if scale == "full" else " --epochs 1 --blocks 1"),
            "repeats": reps,
        },
        notes=[f"last line of output: {Path(last_line).name or last_line}"],
    )
