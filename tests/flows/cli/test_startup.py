"""The CLI as a process: what it imports, what TensorFlow may print, how it ends in a closed pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.learn.backend import drop_tensorflow_noise
from tests.support import publish_daily

HEAVY = ("keras", "tensorflow", "prefect", "curl_cffi")
# Every command's --help, then `report` itself; the modules loaded by all of them together.
LIGHT_COMMANDS = """
import json, sys
from flows.cli.commands import main
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _run_python(code: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True, **kwargs
    )  # type: ignore[call-overload]


def test_help_and_report_import_neither_keras_nor_prefect(tmp_path: Path) -> None:
    publish_daily(tmp_path, ["AAPL", "IBM"])
    commands = ["backtest", "train", "daily", "report", "serve", "models", "prices"]
    argvs = [
        ["--help"],
        *[[c, "--help"] for c in commands],
        ["models", "list", "--help"],
        ["prices", "show", "--help"],
        ["prices", "update", "--help"],
        ["report", "--data-root", str(tmp_path)],
        ["report", "--data-root", str(tmp_path), "--format", "json"],
        ["prices", "show", "AAPL", "--data-root", str(tmp_path)],  # nothing stored: an error, still light
    ]
    out = _run_python(LIGHT_COMMANDS.format(argvs=argvs, heavy=HEAVY))

    assert "usage: updown [-h]" in out.stdout
    assert '"date":"2020-01-02","ticker":"IBM"' in out.stdout  # the report really ran
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_the_check_above_can_fail() -> None:
    argvs = [["report", "--help"]]
    code = "import flows.prices\n" + LIGHT_COMMANDS.format(argvs=argvs, heavy=HEAVY)  # the flow brings Prefect
    assert "prefect" in json.loads(_run_python(code).stdout.splitlines()[-1])


MODEL_CODE = """
import os, sys
import numpy as np
from models.learn.config import ModelConfig
from models.learn.lstm import build_from_config
model = build_from_config(4, 3, ModelConfig(units=(4,)), seed=0)
model.predict_on_batch(np.zeros((2, 4, 3), dtype="float32"))
names = list(sys.modules)
print(names.index("curl_cffi") < names.index("tensorflow"), os.environ["TF_CPP_MIN_LOG_LEVEL"])
"""


def test_tensorflow_start_up_noise_is_not_printed() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = _run_python(MODEL_CODE, env=env)

    assert out.stdout.split() == ["True", "3"]  # TensorFlow was loaded, after curl_cffi, with the quiet default
    for noise in ("cuInit", "oneDNN", "cuda", "cudart", "absl::InitializeLog", "cpu_feature_guard"):
        assert noise not in out.stderr, out.stderr


def test_the_users_tensorflow_log_level_wins() -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}
    assert _run_python(MODEL_CODE, env=env).stdout.split() == ["True", "1"]


# Lines TensorFlow 2.21 printed on a CPU-only machine, in order, around a Python warning.
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796173333.986609    8236 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796173334.068172    8236 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow.
/x/y.py:3: UserWarning: something else
W0000 00:00:1796173339.434752    8236 foo.cc:1] a warning
E0000 00:00:1796173339.434752    8236 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)
plain text
"""


@pytest.mark.parametrize(
    ("level", "kept"),
    [
        (3, [4, 7]),
        (2, [4, 6, 7]),
        (1, [0, 4, 5, 6, 7]),
        (0, [0, 1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_noise_filter_drops_what_the_level_hides_and_nothing_else(level: int, kept: list[int]) -> None:
    lines = STARTUP.splitlines(keepends=True)
    assert drop_tensorflow_noise(STARTUP, level=level) == "".join(lines[i] for i in kept)


def test_report_into_a_closed_pipe_ends_quietly_with_status_141(tmp_path: Path) -> None:
    publish_daily(tmp_path, [f"T{i:04d}" for i in range(8000)])  # 330 KB of CSV: 5 times what a pipe holds
    child = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "report", "--format", "csv", "--data-root", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # read the first line only, not a buffer's worth
    )
    assert child.stdout is not None
    assert child.stderr is not None
    first = child.stdout.readline()
    child.stdout.close()  # what `| head -1` does after its line
    status = child.wait(timeout=120)
    err = child.stderr.read()
    child.stderr.close()

    assert first == b"date,ticker,horizon,p_down,p_flat,p_up,predicted,model_id\n"
    assert err == b""
    assert status == 141
