"""The README's set-up works as written: CI runs its very command, and bare ``pytest`` imports the project."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

import features
import flows
import models

REPO = Path(__file__).resolve().parents[1]
README_COMMAND = "pip install -e '.[test]' && pytest -q"


def _extractor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_command", REPO / ".ci" / "readme_command.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_runs_the_readme_test_command_literally() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = _extractor().readme_test_command(readme)
    printed = subprocess.run(
        ["bash", str(REPO / ".ci" / "run"), "--print-command"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )

    assert found == README_COMMAND
    assert "**Install and run the tests**" in readme
    assert f"```bash\n{README_COMMAND}\n```" in readme  # shown as one line of its own block
    assert printed.stdout == README_COMMAND + "\n"
    # and .ci/run holds the line itself, verbatim, as the command it runs
    assert README_COMMAND in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(
    ("readme", "match"),
    [
        ("# updown\n```bash\npytest\n```\n", "no 'Install and run the tests' section"),
        ("**Install and run the tests**\n\n    pytest\n", "no ```bash block"),
        ("**Install and run the tests**\n```bash\npip install .\npytest\n```\n", "exactly one command line"),
    ],
)
def test_the_extractor_fails_loudly(readme: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _extractor().readme_test_command(readme)


def test_ci_stops_when_the_readme_has_no_command(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    for name in ("run", "readme_command.py"):
        (tmp_path / ".ci" / name).write_text((REPO / ".ci" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "README.md").write_text("# nothing to run\n", encoding="utf-8")
    out = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == "README.md: README has no 'Install and run the tests' section\n"


def test_the_packages_are_the_installed_project_not_test_folders() -> None:
    # `features` once resolved to the namespace package tests/features under bare pytest
    installed = [
        json.loads(text)
        for dist in metadata.distributions(name="updown")
        if (text := dist.read_text("direct_url.json"))  # pip's record (a checkout's egg-info has none)
    ]
    for package in (features, models, flows):
        spec = package.__spec__
        assert spec is not None
        assert spec.origin == str(REPO / package.__name__ / "__init__.py")
    assert len(installed) == 1
    assert installed[0]["dir_info"] == {"editable": True}  # the README installs with -e ...
    assert Path(installed[0]["url"].removeprefix("file://")).resolve() == REPO  # ... this checkout


def test_bare_pytest_collects_with_the_installed_project() -> None:
    # the console script, as the README runs it: its sys.path starts at the venv's bin/, not here
    pytest_script = Path(sys.executable).parent / "pytest"
    files = [
        "tests/features/test_frame.py",
        "tests/features/prices/sources/test_yahoo.py",
        "tests/models/serving/test_predictions.py",
    ]
    out = subprocess.run(
        [str(pytest_script), "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert " error" not in out.stdout  # "N errors during collection"
    assert {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line} == set(files)


def test_ci_refuses_a_readme_whose_command_differs_from_what_it_runs(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    for name in ("run", "readme_command.py"):
        (tmp_path / ".ci" / name).write_text((REPO / ".ci" / name).read_text(encoding="utf-8"), encoding="utf-8")
    readme = "# x\n\n**Install and run the tests**:\n\n```bash\npip install . && python -m pytest\n```\n"
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    out = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == (
        "README.md's test command is `pip install . && python -m pytest` but .ci/run runs "
        f"`{README_COMMAND}`: make them the same\n"
    )
