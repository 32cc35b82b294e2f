"""Every command in README.md and docs/operations.md is run or checked here: doc examples that cannot rot.

Each fenced ``bash`` command is, by its kind:

* ``updown ...`` (but ``serve``): run in-process, in document order, in a fresh folder whose ``./data``
  is the data root, with :data:`TINY` appended to training commands (the same command on tiny
  models; argparse lets the last value win) — the README's real backtest on the sample included,
  said here explicitly;
* ``prefect deployment run ...``: parsed as Prefect's CLI parses ``--param`` and validated as the
  server and the flow validate a run's parameters, against the deployment ``updown serve`` builds;
* needing a long-running real server: listed in :data:`ON_A_REAL_SERVER`, each with the line of
  ``tests/flows/test_serve_integration.py`` that runs it (that file must contain the line);
* anything else: in :data:`EXEMPT` with its reason, or this test fails.

Each fenced ``python`` block is executed (after the substitutions in :data:`PYTHON_SUBSTITUTIONS`).
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flows.cli.commands import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/operations.md")
INTEGRATION = Path(__file__).with_name("test_serve_integration.py")

# Appended to `updown backtest` / `updown train`: the sample from 2008, tiny LSTMs, 1 epoch, 2 blocks.
# Said explicitly: the README's quick start `updown backtest` is a full real backtest on the sample
# (3-5 minutes); here it is the same command with these options on top.
TINY = ["--start", "2008-01-01", "--epochs", "1", "--units", "8,4", "--timesteps", "8", "--seed", "1"]
TINY_BACKTEST = [*TINY, "--blocks", "2"]

EXEMPT = {
    "pip install -e .": "CI (.ci/run) runs the README's set-up lines literally in a fresh virtual environment",
    "pip install -e '.[test]'": "CI (.ci/run) runs the README's set-up lines literally in a fresh virtual environment",
    "pytest -q": "this very suite; CI runs it",
    "pytest -n 0 tests/features": "part of this very suite, in one process",
    "ruff check .": "CI runs it (.ci/run)",
    "ruff format --check .": "CI runs it (.ci/run)",
    "mypy": "CI runs it (.ci/run)",
    "export PREFECT_API_URL=http://127.0.0.1:4200/api": (
        "the integration test sets PREFECT_API_URL to its own server on a free port, in every process it starts"
    ),
    "UPDOWN_HOME=$PWD UPDOWN_DATA_ROOT=$PWD/data prefect worker start --pool updown": (
        "a long-running worker polling a process work pool; the deployments it would run are the same flows that "
        "`updown serve` runs in the integration test, and `prefect deploy --all` registering them is run there"
    ),
}

# doc command -> the line of test_serve_integration.py that runs it (itself, or with a local source/root)
ON_A_REAL_SERVER = {
    "prefect server start": '"prefect", "server", "start"',
    "updown serve --source yahoo --tickers 'AAPL,MSFT,^GSPC'": '["updown", "serve", "--source", SOURCE',
    "UPDOWN_DATA_ROOT=$PWD/data UPDOWN_SOURCE=yahoo updown serve": '["updown", "serve", "--source", SOURCE',
    "prefect work-pool create updown --type process": "prefect work-pool create updown --type process",
    "prefect deploy --all": "prefect deploy --all",
    "prefect block ls": "prefect block ls",
    "sed 's/NOTIFICATION_BLOCK_ID/$BLOCK_ID/' flows/automations/daily-failed.yaml > daily-failed.yaml": (
        'sed "s/NOTIFICATION_BLOCK_ID/$BLOCK_ID/" flows/automations/daily-failed.yaml > daily-failed.yaml'
    ),
    "prefect automation create --from-file daily-failed.yaml": (
        "prefect automation create --from-file daily-failed.yaml"
    ),
}

# Placeholders a reader fills in, and what this test fills in.
PYTHON_SUBSTITUTIONS = {"<run id>": "{latest_backtest_run}"}


@dataclass(frozen=True)
class Command:
    doc: str
    env: tuple[str, ...]
    argv: tuple[str, ...]

    @property
    def key(self) -> str:
        return " ".join((*self.env, *(shlex.quote(a) if a != ">" else a for a in self.argv)))


def _blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = (REPO / doc).read_text()
        found += [(doc, m.group(1)) for m in re.finditer(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)]
    return found


def _block_commands(doc: str, body: str) -> list[Command]:
    """The commands of one bash block: comments dropped, ``&&`` chains split, leading ``VAR=value`` kept apart."""
    out = []
    for line in body.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars="&>")
        lexer.whitespace_split, lexer.commenters = True, "#"
        parts: list[list[str]] = [[]]
        for token in lexer:
            if token == "&&":
                parts.append([])
            else:
                parts[-1].append(token)
        for part in filter(None, parts):
            n_env = next((i for i, t in enumerate(part) if not re.fullmatch(r"[A-Z_]+=\S*", t)), len(part))
            out.append(Command(doc, tuple(part[:n_env]), tuple(part[n_env:])))
    return out


COMMANDS = [c for doc, body in _blocks("bash") for c in _block_commands(doc, body)]


def _is_run(cmd: Command) -> bool:
    return cmd.argv[:1] == ("updown",) and cmd.argv[1:2] != ("serve",) and not cmd.env


def _is_deployment_run(cmd: Command) -> bool:
    return cmd.argv[:3] == ("prefect", "deployment", "run")


def test_every_documented_command_is_run_checked_or_exempt_with_a_reason():
    assert len(COMMANDS) >= 25, [c.key for c in COMMANDS]  # the extraction itself works
    unhandled = [
        f"{c.doc}: {c.key}"
        for c in COMMANDS
        if not (_is_run(c) or _is_deployment_run(c) or c.key in EXEMPT or c.key in ON_A_REAL_SERVER)
    ]
    assert unhandled == [], "run it here, check it in test_serve_integration.py, or exempt it with a reason"
    # the lists stay short and current: every entry still names a documented command
    keys = {c.key for c in COMMANDS}
    assert sorted(set(EXEMPT) - keys) == []
    assert sorted(set(ON_A_REAL_SERVER) - keys) == []


def test_commands_for_a_real_server_are_run_by_the_integration_test():
    source = INTEGRATION.read_text()
    missing = {doc: line for doc, line in ON_A_REAL_SERVER.items() if line not in source}
    assert missing == {}
    parser_checked = [c for c in COMMANDS if c.argv[:2] == ("updown", "serve")]
    assert parser_checked
    from flows.cli.commands import _parser

    for cmd in parser_checked:  # the documented options exist and parse
        args = _parser().parse_args(list(cmd.argv[1:]))
        assert args.command == "serve"


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if _is_deployment_run(c)], ids=lambda c: c.key)
def test_documented_deployment_runs_validate_against_the_served_deployment(cmd: Command):
    from prefect.cli._utilities import load_json_key_values
    from prefect.utilities.schema_tools.validation import validate

    from flows.deployments import build_deployments

    name = cmd.argv[3]
    options = list(cmd.argv[4:])
    assert options[::2] == ["--param"] * (len(options) // 2), options
    params = load_json_key_values(options[1::2], "parameter")  # as `prefect deployment run` parses them
    deployments = {f"{d.flow_name}/{d.name}": d for d in build_deployments(source="sample", data_root_dir="data")}
    deployment = deployments[name]
    schema = deployment._parameter_openapi_schema.model_dump()
    assert set(params) <= set(schema["properties"]), "the CLI refuses parameters not found on the deployment"
    merged = {**deployment.parameters, **params}
    validate(merged, schema, raise_on_error=True)  # as the server validates a new run's parameters
    flow = {"backtest": "flows.backtest:backtest_flow", "daily": "flows.daily:daily_flow"}[deployment.flow_name]
    module, func = flow.split(":")
    validated = getattr(__import__(module, fromlist=[func]), func).validate_parameters(merged)  # as the flow does
    for key, value in params.items():
        got = validated[key]
        if isinstance(value, dict):  # a partial config: the given fields set, the others default
            assert got.model_dump(mode="json", include=set(value)) == value
            assert got == type(got)(**value)
        else:
            assert got == value or str(got) == str(value)


def test_the_old_flat_parameter_is_refused_by_name():
    from flows.deployments import build_deployments

    backtest = build_deployments(source="sample")[2]
    assert "epochs" not in backtest._parameter_openapi_schema.properties
    assert {"dataset", "model", "training", "walk_forward"} <= set(backtest._parameter_openapi_schema.properties)


def _tiny(argv: list[str]) -> list[str]:
    """``argv`` with the tiny options appended, except those the documented command gives itself."""
    extra = {"backtest": TINY_BACKTEST, "train": TINY}.get(argv[0] if argv else "", [])
    pairs = [(extra[i], extra[i + 1]) for i in range(0, len(extra), 2)]
    return [*argv, *(token for option, value in pairs if option not in argv for token in (option, value))]


def test_documented_commands_and_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`updown` commands and python blocks in document order (README first), in one fresh folder."""
    monkeypatch.chdir(tmp_path)
    for var in ("UPDOWN_DATA_ROOT", "UPDOWN_SOURCE"):
        monkeypatch.delenv(var, raising=False)
    import flows.backtest
    from features.dataset import DatasetConfig
    from features.storage.layout import DataRoot
    from models.learn.config import ModelConfig, TrainConfig

    tiny_flow = {
        "dataset": DatasetConfig(timesteps=8),
        "model": ModelConfig(units=(8, 4)),
        "training": TrainConfig(epochs=1),
    }
    # for backtest_flow(...) called from a python example: tiny models on top of its arguments
    tiny_backtest_flow = functools.partial(flows.backtest.backtest_flow, **tiny_flow)

    ran: list[str] = []
    outputs: dict[str, str] = {}
    for doc in DOCS:
        text = (REPO / doc).read_text()
        fences = re.finditer(r"^```(bash|python)\n(.*?)^```", text, flags=re.M | re.S)
        for fence in fences:
            language, body = fence.group(1), fence.group(2)
            if language == "python":
                latest = DataRoot(tmp_path / "data").finished_runs()[-1]  # not the ledger's trial_losses/
                for placeholder, value in PYTHON_SUBSTITUTIONS.items():
                    body = body.replace(placeholder, value.format(latest_backtest_run=latest))
                namespace: dict[str, Any] = {}
                with monkeypatch.context() as patch:
                    patch.setattr(flows.backtest, "backtest_flow", tiny_backtest_flow)
                    exec(compile(body, f"{doc} python example", "exec"), namespace)
                PYTHON_CHECKS[body.splitlines()[0]](namespace)
                ran.append(f"{doc}: python {body.splitlines()[0]}")
                continue
            for cmd in filter(_is_run, _block_commands(doc, body)):
                argv = _tiny(list(cmd.argv[1:]))
                assert main(argv) == 0, f"{doc}: {cmd.key} (run as updown {shlex.join(argv)})"
                outputs[cmd.key] = capsys.readouterr().out.strip()
                ran.append(f"{doc}: {cmd.key}")

    # what the commands printed and wrote is what the docs say
    quick = Path(outputs["updown backtest"].splitlines()[-1])
    assert quick.parent == tmp_path / "data" / "reports" / "backtest"
    assert (quick / "report.html").is_file()
    model_id = outputs["updown train"].splitlines()[-1]
    assert (tmp_path / "data" / "models" / model_id / "model.keras").is_file()
    partition = Path(outputs["updown daily --allow-partial"].splitlines()[-1])
    published = pd.read_parquet(partition)
    # "on the latest day 2 of the champion's 7 tickers have a price" (README)
    assert sorted(published["ticker"]) == ["^GSPC", "^IXIC"]
    assert "^GSPC" in outputs["updown report"]
    in_docs = {f"{c.doc}: {c.key}" for c in COMMANDS if _is_run(c)}
    assert in_docs <= set(ran), sorted(in_docs - set(ran))
    assert sum(r.split(": ", 1)[1].startswith("python") for r in ran) == len(_blocks("python"))


def test_every_python_example_has_a_check():
    assert sorted({body.splitlines()[0] for _, body in _blocks("python")}) == sorted(PYTHON_CHECKS)


def _check_readme_reports(ns: dict[str, Any]) -> None:
    assert {"date", "ticker", "p_up"} <= set(ns["daily"].columns)
    assert list(ns["daily"]["ticker"].unique()) == ["^GSPC"]
    assert set(ns["bt"]["fold"]) == {0, 1}  # the quick start's backtest, TINY_BACKTEST's 2 blocks


def _check_pyarrow(ns: dict[str, Any]) -> None:
    assert ns["table"].num_rows == 2  # the one published day: ^GSPC and ^IXIC
    assert str(ns["table"].schema.field("date").type) == "date32[day]"


def _check_backtest_flow(ns: dict[str, Any]) -> None:
    run_dir = Path(ns["run_dir"])
    assert sorted(pd.read_parquet(run_dir / "predictions.parquet")["ticker"].unique()) == [
        f"SYN{i:02d}" for i in range(10)
    ]


def _check_operations_reports(ns: dict[str, Any]) -> None:
    assert ns["daily"].empty  # nothing published for AAPL since 2026 (the sample ends in 2013)
    assert {"forward_return", "label", "label_end"} <= set(ns["settled"].columns)
    assert not ns["backtest"].empty


# first line of each python example -> what its results must hold (values, not just "it ran")
PYTHON_CHECKS = {
    "import pandas as pd": _check_readme_reports,
    "import pyarrow as pa, pyarrow.dataset as ds": _check_pyarrow,
    "from flows.backtest import backtest_flow": _check_backtest_flow,
    "from models.serving.predictions import read_predictions": _check_operations_reports,
}
