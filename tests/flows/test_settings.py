"""Settings the CLI and the flows share: the data root, the default source and Prefect's defaults."""

import os
from pathlib import Path

import pytest

from flows.settings import (
    PREFECT_DEFAULTS,
    SERVER_STARTUP_TIMEOUT_VAR,
    apply_prefect_defaults,
    code_version,
    default_source,
    default_task_runner,
    root_spec,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("UPDOWN_DATA_ROOT", "UPDOWN_SOURCE", "UPDOWN_TASK_RUNNER"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_root_spec_argument_then_environment_then_data(clean_env: pytest.MonkeyPatch, tmp_path: Path):
    clean_env.chdir(tmp_path)
    assert root_spec() == str(tmp_path.resolve() / "data")
    assert root_spec("rel/root") == str(tmp_path.resolve() / "rel" / "root")
    clean_env.setenv("UPDOWN_DATA_ROOT", str(tmp_path / "env" / ".." / "env-root"))
    assert root_spec() == str(tmp_path.resolve() / "env-root")
    assert root_spec(tmp_path / "given") == str(tmp_path.resolve() / "given")  # the argument wins


def test_root_spec_keeps_urls_and_unwraps_file_urls(clean_env: pytest.MonkeyPatch, tmp_path: Path):
    assert root_spec("s3://bucket/updown/") == "s3://bucket/updown"
    clean_env.setenv("UPDOWN_DATA_ROOT", "s3://bucket/env")
    assert root_spec() == "s3://bucket/env"
    assert root_spec(f"file://{tmp_path}/x") == str(tmp_path.resolve() / "x")
    home = Path("~").expanduser().resolve()
    assert root_spec("~/updown-data") == str(home / "updown-data")


def test_default_source_and_task_runner(clean_env: pytest.MonkeyPatch):
    assert default_source() == "sample"
    assert default_task_runner() == "local"
    clean_env.setenv("UPDOWN_SOURCE", "synthetic:tickers=3")
    clean_env.setenv("UPDOWN_TASK_RUNNER", "dask")
    assert default_source() == "synthetic:tickers=3"
    assert default_task_runner() == "dask"


def test_prefect_defaults_fill_only_what_is_unset(monkeypatch: pytest.MonkeyPatch):
    for name in PREFECT_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(SERVER_STARTUP_TIMEOUT_VAR, "30")
    apply_prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ[SERVER_STARTUP_TIMEOUT_VAR] == "30"  # the user's value stays
    assert PREFECT_DEFAULTS[SERVER_STARTUP_TIMEOUT_VAR] == "180"


def test_code_version_is_the_checkout_commit():
    import subprocess

    head = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert code_version() == head.stdout.strip()
