"""8. Start-up of the ``updown`` command line, as a ratio to ``python -c "import pandas"``.

Three commands, each a new process, interleaved A, B, C, A, B, C ... in one run so a busy
neighbour slows them alike:

* ``python -c "import pandas"``: the yardstick (interpreter start plus pandas, which every
  command needs);
* ``updown --help``;
* ``updown report --data-root <scratch>``: a real report of a tiny published daily partition
  (2 tickers), printed as a table.

Neither command may import Prefect or Keras/TensorFlow (``tests/flows/cli/test_startup.py``);
this measures what is left. Goal: both within 2x of importing pandas.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Scale, check_scale, ratios, result, side_by_side, workspace

NAME = "cli"
GOAL = "`updown --help` and `updown report` within 2x of `python -c 'import pandas'`"

SIZES: dict[str, dict[str, Any]] = {
    "full": {"repeats": 15},
    "quick": {"repeats": 5},
    "toy": {"repeats": 1},
}


def updown_command() -> list[str]:
    """The console script installed beside this interpreter, else the module (same code, same interpreter).

    Not the first ``updown`` on PATH: that may belong to another environment (a stale install).
    """
    exe = Path(sys.executable).with_name("updown")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "flows.cli.commands"]


def publish_tiny_daily(root: Path) -> None:
    """A daily partition of 2 tickers for 2020-01-02 under ``root`` (what ``report`` reads)."""
    import numpy as np
    import pandas as pd

    from models.serving.predictions import prediction_frame, write_daily

    day = pd.Timestamp("2020-01-02")
    keys = pd.DataFrame({"date": [day, day], "ticker": ["AAA", "BBB"]})
    probs = np.array([[0.2, 0.3, 0.5], [0.5, 0.3, 0.2]])
    write_daily(root, day, prediction_frame(keys, probs, horizon=5, model_id="benchmark"))


def _process(argv: list[str], env: dict[str, str]) -> Callable[[], None]:
    def call() -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    return call


def run(*, scale: Scale = "full", repeats: int | None = None) -> dict[str, Any]:
    """Measure; every figure keeps all its repeats."""
    reps = repeats or SIZES[check_scale(scale)]["repeats"]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    with workspace() as scratch:
        root = scratch / "data"
        publish_tiny_daily(root)
        updown = updown_command()
        times = side_by_side(
            {
                "import_pandas": _process([sys.executable, "-c", "import pandas"], env),
                "help": _process([*updown, "--help"], env),
                "report": _process([*updown, "report", "--data-root", str(root)], env),
            },
            repeats=reps,
        )
    figures = {
        "help_over_import_pandas": Figure("ratio", ratios(times["help"], times["import_pandas"])),
        "report_over_import_pandas": Figure("ratio", ratios(times["report"], times["import_pandas"])),
        "import_pandas_s": Figure("s", times["import_pandas"]),
        "help_s": Figure("s", times["help"]),
        "report_s": Figure("s", times["report"]),
    }
    worst = max(figures["help_over_import_pandas"].median, figures["report_over_import_pandas"].median)
    return result(
        NAME,
        goal=GOAL,
        headline="report_over_import_pandas",
        figures=figures,
        met=bool(worst <= 2) if scale != "toy" else None,
        params={"repeats": reps, "updown": " ".join(updown), "python": sys.executable},
        notes=[f"ratios are per repeat (command i / import pandas i); worst median {worst:.2f}x"],
    )
