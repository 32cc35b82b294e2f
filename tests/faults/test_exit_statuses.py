"""Issue 19, round two: one line and its own exit status for every fault (points 3, 6, 8, 9, 10).

The CLI runs in-process and nearly every case is refused before any flow starts. Where a case needs
a flow, the flow's plain function (``.fn``) stands in for the Prefect-wrapped one; its tasks use the
session's Prefect test harness (started once).
"""

from __future__ import annotations

import errno
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from features.dataset import DatasetConfig
from features.prices.sources import get_source
from features.storage.errors import CorruptDataError
from features.storage.quarantine import CorruptFileError
from flows import exits
from flows.cli.checks import check_job_size
from flows.cli.commands import main
from models.learn.config import ModelConfig, TrainConfig, training_memory_bytes

SOURCE = "synthetic:tickers=2,days=200,seed=1"
README = Path(__file__).resolve().parents[2] / "README.md"


def _cli(argv: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main([*argv, "--data-root", str(root)])
    except SystemExit as exc:  # argparse refusals
        code = exc.code if isinstance(exc.code, int) else exits.BAD_INPUT
    out, err = capsys.readouterr()
    return code, out, err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line]


# ------------------------------------------------------------------ 10: one table, one module


def test_readme_table_lists_every_status_of_flows_exits():
    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", text, flags=re.M))
    assert rows == {str(getattr(exits, name)): name for name in rows.values()}
    assert {int(k) for k in rows} == set(exits.STATUSES)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (exits.PartialFailureError("1 of 2 tickers failed"), exits.PARTIAL),
        (CorruptDataError("x is corrupt"), exits.CORRUPT),
        (CorruptFileError("the daily report x was corrupt and is quarantined"), exits.CORRUPT),
        (OSError(errno.ENOSPC, "No space left on device", "/r/x"), exits.INFRA),
        (OSError(errno.EROFS, "Read-only file system", "/r/x"), exits.INFRA),
        (PermissionError(errno.EACCES, "Permission denied", "/r/x"), exits.INFRA),
        (RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server."), exits.INFRA),
        (ValueError("horizon must be >= 1"), exits.BAD_INPUT),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/r"), exits.BAD_INPUT),
        (AttributeError("a bug"), None),
        (OSError(errno.EIO, "I/O error"), None),
    ],
)
def test_each_error_has_its_status(error, status):
    assert exits.status_of(error) == status


# ------------------------------------------------------------------ 6: permanent OS errors, one line


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.ENOTDIR])
def test_permanent_os_errors_are_never_retried(code):
    from flows.common import _transient

    def result():
        raise OSError(code, "permanent", "/root/prices/X.parquet")

    assert _transient(None, None, SimpleNamespace(result=result)) is False


def test_a_passing_os_error_is_still_retried():
    from flows.common import _transient

    def result():
        raise OSError(errno.EIO, "I/O error")

    assert _transient(None, None, SimpleNamespace(result=result)) is True


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(("code", "runs"), [(errno.EROFS, 1), (errno.ENOSPC, 1), (errno.EIO, 2)])
def test_a_flow_run_retries_no_permanent_os_error(code, runs):
    from prefect import flow

    from flows.common import flow_retries

    attempts: list[int] = []

    @flow(retries=2, retry_delay_seconds=120)
    def writes_once() -> str:
        with flow_retries((0, 0), deployments_only=False):
            attempts.append(1)
            if len(attempts) == 1:
                raise OSError(code, "write failed", "/root/prices/X.parquet")
        return "ok"

    state = writes_once(return_state=True)
    assert len(attempts) == runs  # EIO may pass: retried once, then done; EROFS/ENOSPC: failed at once
    assert state.type.value == ("FAILED" if runs == 1 else "COMPLETED")


@pytest.mark.parametrize(
    ("code", "status", "needle"),
    [
        (errno.ENOSPC, exits.INFRA, "No space left on device"),
        (errno.EROFS, exits.INFRA, "Read-only file system"),
        (errno.EACCES, exits.INFRA, "Permission denied"),
    ],
)
def test_full_disk_and_read_only_root_are_one_line_naming_the_file(code, status, needle, tmp_path, capsys, monkeypatch):
    import flows.train

    target = str(tmp_path / "models" / "x" / "model.keras")

    def failing_flow(**kwargs):
        raise OSError(code, needle, target)

    monkeypatch.setattr(flows.train, "train_flow", failing_flow)
    status_, _, err = _cli(["train", "--source", SOURCE], tmp_path, capsys)
    assert status_ == status
    assert _error_lines(err) == [f"updown train: error: [Errno {code}] {needle}: {target!r}"]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["daily", "--min-coverage", "5"], "argument --min-coverage: must be in [0, 1], got 5"),
        (["daily", "--max-staleness-days", "-1"], "argument --max-staleness-days: must be >= 0, got -1"),
    ],
)
def test_daily_options_are_checked_before_prefect(argv, needle, tmp_path, capsys):
    status, _, err = _cli(argv, tmp_path, capsys)
    assert status == exits.BAD_INPUT
    assert needle in err
    assert "ParameterTypeError" not in err


@pytest.mark.parametrize("command", [["daily"], ["models", "list"], ["train"], ["prices", "show", "AAPL"]])
def test_a_data_root_that_is_a_file_is_named(command, tmp_path, capsys):
    root = tmp_path / "root"
    root.write_text("not a folder")
    status, out, err = _cli(command, root, capsys)
    assert status == exits.BAD_INPUT
    assert _error_lines(err) == [
        f"updown {command[0]}: error: data root {root} (from --data-root) is a file, not a folder"
    ]
    assert "champion" not in err
    assert out == ""


def test_a_data_root_under_a_file_names_the_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("UPDOWN_DATA_ROOT", str(tmp_path / "file" / "data"))
    try:
        status = main(["models", "list"])
    except SystemExit as exc:  # pragma: no cover - a refusal would be a failure below
        status = exc.code
    err = capsys.readouterr().err
    assert status == exits.BAD_INPUT
    assert f"lies under {tmp_path / 'file'}, which is a file" in err
    assert "(from $UPDOWN_DATA_ROOT)" in err


def test_the_default_data_root_is_named_as_the_default(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("UPDOWN_DATA_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").write_text("")
    try:
        status = main(["models", "list"])
    except SystemExit as exc:  # pragma: no cover - a refusal would be a failure below
        status = exc.code
    assert status == exits.BAD_INPUT
    assert f"data root {tmp_path / 'data'} (from the default ./data) is a file, not a folder" in capsys.readouterr().err


# ------------------------------------------------------------------ 3: one partial-failure policy


def _flows_without_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.prices
    import flows.train

    monkeypatch.setattr(flows.train, "train_flow", flows.train.train_flow.fn)
    monkeypatch.setattr(flows.prices, "prices_update_flow", flows.prices.prices_update_flow.fn)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")  # the flows' tasks need an API
def test_train_with_a_failing_ticker_stops_before_training_and_exits_partial(tmp_path, capsys, monkeypatch):
    _flows_without_prefect(monkeypatch)
    status, out, err = _cli(["train", "--source", SOURCE, "--tickers", "SYN00,ZZZZ"], tmp_path, capsys)
    assert status == exits.PARTIAL
    (line,) = _error_lines(err)
    assert line.startswith("updown train: error: 1 of 2 tickers failed (ZZZZ: ")
    assert line.endswith("pass --allow-partial (allow_partial=True) to go on with the others")
    assert out == ""
    assert not (tmp_path / "models").exists()  # nothing trained, nothing promoted


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")  # the flows' tasks need an API
def test_prices_update_with_a_failing_ticker_stores_the_rest_and_exits_partial(tmp_path, capsys, monkeypatch):
    _flows_without_prefect(monkeypatch)
    status, out, err = _cli(["prices", "update", "--source", SOURCE, "--tickers", "SYN00,ZZZZ"], tmp_path, capsys)
    assert status == exits.PARTIAL
    (line,) = _error_lines(err)
    assert line.startswith("updown prices: error: 1 of 2 tickers failed (ZZZZ: ")
    assert (tmp_path / "prices" / "SYN00.parquet").is_file()
    assert "SYN00" in out
    assert "ZZZZ" in out

    status, _, err = _cli(
        ["prices", "update", "--source", SOURCE, "--tickers", "SYN00,ZZZZ", "--allow-partial"], tmp_path, capsys
    )
    assert status == exits.OK
    assert _error_lines(err) == []


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")  # the flow's tasks need an API
def test_backtest_with_a_failing_ticker_stops_before_training(tmp_path):
    from flows.backtest import backtest_flow

    with pytest.raises(exits.PartialFailureError, match=r"^1 of 2 tickers failed \(ZZZZ: ") as caught:
        backtest_flow.fn(source=SOURCE, tickers=["SYN00", "ZZZZ"], data_root_dir=str(tmp_path))
    assert list(caught.value.failures) == ["ZZZZ"]
    assert not (tmp_path / "reports").exists()  # no run folder, not even a partial one


def test_require_complete_goes_on_only_when_allowed():
    from flows.common import require_complete

    stored = {"tickers": ["AAPL"], "failures": {"ZZZZ": "no such ticker"}}
    with pytest.raises(exits.PartialFailureError, match=r"1 of 2 tickers failed \(ZZZZ: no such ticker\)") as caught:
        require_complete(stored, allow_partial=False)
    assert caught.value.failures == {"ZZZZ": "no such ticker"}
    assert require_complete(stored, allow_partial=True) == ["AAPL"]
    assert require_complete({"tickers": ["AAPL"], "failures": {}}, allow_partial=False) == ["AAPL"]


def test_daily_incomplete_prices_are_a_partial_failure():
    import pandas as pd

    from flows.daily import IncompletePricesError, StalePricesError, check_freshness

    day = pd.Timestamp("2024-01-02")
    prices = pd.DataFrame({"date": [day], "ticker": ["A"]})
    with pytest.raises(IncompletePricesError) as caught:
        check_freshness(prices, ["A", "B", "C"], day, explicit=True, min_coverage=0.9)
    assert isinstance(caught.value, StalePricesError)
    assert exits.status_of(caught.value) == exits.PARTIAL


# ------------------------------------------------------------------ 8: bounds, checked together


def test_units_are_bounded(tmp_path, capsys):
    status, _, err = _cli(["train", "--units", "100000000"], tmp_path, capsys)
    assert status == exits.BAD_INPUT
    assert "argument --units: must be <= 4096, got 100000000" in err


def test_sizes_are_refused_together_with_the_estimate(tmp_path, capsys):
    dataset, model, training = DatasetConfig(timesteps=1000), ModelConfig(units=(4096, 4096)), TrainConfig()
    estimate = training_memory_bytes(
        timesteps=1000, n_features=len(dataset.features), model=model, batch_size=256, n_rows=0
    )
    assert 60 * 2**30 < estimate < 70 * 2**30  # 4 x 134 M weights in float32 and 2 x 256 x 1000 x 4096 x 8 floats
    with pytest.raises(ValueError, match=r"would need about 6\d\.\d GiB of memory, more than the 16\.0 GiB available"):
        check_job_size("sample", dataset, model, training, available=16 * 2**30)
    check_job_size("sample", DatasetConfig(), ModelConfig(), TrainConfig(), available=16 * 2**30)  # the defaults fit


def test_synthetic_rows_are_bounded_with_the_estimate(tmp_path, capsys):
    started = time.perf_counter()
    status, _, err = _cli(["train", "--source", "synthetic:tickers=10000,days=100000"], tmp_path, capsys)
    assert status == exits.BAD_INPUT
    assert "tickers x days must be at most 20,000,000 rows, got tickers=10000 x days=100000" in err
    assert "GiB" in err
    assert time.perf_counter() - started < 5  # refused before any work, not 20-45 s in
    assert len(get_source("synthetic:tickers=2000,days=10000").symbols) == 2000  # at the limit: accepted


def test_a_synthetic_market_too_large_for_memory_is_refused_by_the_job_check():
    with pytest.raises(ValueError, match=r"on 20,000,000 price rows"):
        check_job_size("synthetic:tickers=2000,days=10000", DatasetConfig(), ModelConfig(), TrainConfig(),
                       available=2 * 2**30)  # fmt: skip


@pytest.mark.parametrize("command", [["train"], ["backtest"], ["daily"], ["prices", "update"]])
def test_a_bad_source_is_refused_before_prefect_starts(command, tmp_path, capsys):
    started = time.perf_counter()
    status, _, err = _cli([*command, "--source", "synthetic:tickers=abc"], tmp_path, capsys)
    assert status == exits.BAD_INPUT
    (line,) = _error_lines(err)
    assert "tickers" in line
    assert "abc" in line
    assert "Traceback" not in err
    assert time.perf_counter() - started < 5


# ------------------------------------------------------------------ 9: run ids stay inside the root


def test_report_refuses_a_run_id_that_leaves_the_root(tmp_path, capsys):
    import pandas as pd

    root = tmp_path / "a" / "b" / "c"
    outside = root.parent / "outside_run"  # where <root>/reports/backtest/../../../outside_run lands
    outside.mkdir(parents=True)
    pd.DataFrame({"secret": [1]}).to_parquet(outside / "predictions.parquet")
    status, out, err = _cli(["report", "--kind", "backtest", "--run-id", "../../../outside_run"], root, capsys)
    assert status == exits.BAD_INPUT
    assert _error_lines(err) == [
        "updown report: error: run_id must be lowercase letters, digits and '-', got run_id='../../../outside_run'"
    ]
    assert "secret" not in out
