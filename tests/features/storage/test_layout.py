"""DataRoot: every path under a data root, the ids that become path parts, and that no other module spells one."""

import ast
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.storage import layout
from features.storage.layout import DataRoot, block_stem, model_folder, run_predictions, validate_id, validate_key

KEY = "ab" + "0" * 62


def test_every_path_is_the_existing_on_disk_layout(tmp_path):
    root = DataRoot(tmp_path)
    day = pd.Timestamp("2024-01-02")
    expected = {
        root.prices_dir: "prices",
        root.price_file("^GSPC"): "prices/^GSPC.parquet",
        root.price_lock("BRK-B"): "prices/.locks/BRK-B.lock",
        root.events_dir: "events",
        root.events_file("AAPL"): "events/AAPL.parquet",
        root.models_dir: "models",
        root.model_dir("20240102-030405-abcdef"): "models/20240102-030405-abcdef",
        root.model_file("m-1"): "models/m-1/model.keras",
        root.model_card("m-1"): "models/m-1/metadata.json",
        root.champion: "models/champion.json",
        root.partitions_dir("daily"): "reports/daily",
        root.partition("daily", day): "reports/daily/date=2024-01-02/predictions.parquet",
        root.partition("settled", dt.date(2024, 1, 2)): "reports/settled/date=2024-01-02/settled.parquet",
        root.scorecard: "reports/scorecard.parquet",
        root.backtest_dir: "reports/backtest",
        root.backtest_run("run-1"): "reports/backtest/run-1",
        root.backtest_partial("run-1"): "reports/backtest/.run-1.partial",
        root.backtest_predictions("run-1"): "reports/backtest/run-1/predictions.parquet",
        root.trials_ledger: "reports/backtest/trials.json",
        root.fold_cache_dir: "cache/folds",
        root.fold_cache_entry(KEY): f"cache/folds/ab/{KEY}",
        root.yfinance_cache: "cache/yfinance",
    }
    for path, rel in expected.items():
        assert path == tmp_path / rel
        assert root.relative(path) == rel


def test_relative_forms_match_the_paths_a_remote_root_syncs(tmp_path):
    root = DataRoot(tmp_path)
    assert tmp_path / layout.PRICES == root.prices_dir
    assert tmp_path / layout.CHAMPION == root.champion
    assert tmp_path / layout.SCORECARD == root.scorecard
    assert tmp_path / layout.TRIALS == root.trials_ledger
    assert tmp_path / model_folder("m-1") == root.model_dir("m-1")
    assert tmp_path / run_predictions("run-1") == root.backtest_predictions("run-1")
    assert run_predictions(None) == layout.FINISHED_RUNS == "reports/backtest/*/predictions.parquet"
    assert layout.MODEL_CARDS == "models/*/metadata.json"
    assert block_stem(tmp_path / "run", seed=2, fold=1) == tmp_path / "run" / "folds" / "seed=2" / "fold=1"
    assert DataRoot(str(tmp_path)) == root
    assert str(Path(root)) == str(tmp_path)


@pytest.mark.parametrize("bad", ["../../x", "..", "", "-x", "A1", "a/b", "a b", ".hidden", "x" * 65, "run\0"])
def test_model_and_run_ids_are_refused_by_name_before_they_become_paths(tmp_path, bad):
    root = DataRoot(tmp_path)
    with pytest.raises(ValueError, match=r"run_id must be lowercase letters, digits and '-', got run_id="):
        root.backtest_run(bad)
    with pytest.raises(ValueError, match="run_id must be"):
        root.backtest_partial(bad)
    with pytest.raises(ValueError, match="run_id must be"):
        run_predictions(bad)
    with pytest.raises(ValueError, match=r"model_id must be .*got model_id="):
        root.model_dir(bad)
    with pytest.raises(ValueError, match="model_id must be"):
        model_folder(bad)


def test_valid_ids_pass_unchanged():
    assert validate_id("20240102-030405-abcdef") == "20240102-030405-abcdef"
    assert validate_id("x" * 64, name="run_id") == "x" * 64


@pytest.mark.parametrize("bad", ["../" + "a" * 61, "A" * 64, "a" * 63, "g" * 64])
def test_fold_cache_keys_must_be_a_sha256(tmp_path, bad):
    with pytest.raises(ValueError, match="key must be 64 lowercase hex digits"):
        DataRoot(tmp_path).fold_cache_entry(bad)
    assert validate_key(KEY) == KEY


@pytest.mark.parametrize("bad", ["../AAPL", "a/b", "..", ""])
def test_tickers_are_validated(tmp_path, bad):
    root = DataRoot(tmp_path)
    for build in (root.price_file, root.price_lock, root.events_file):
        with pytest.raises(ValueError, match="ticker must be"):
            build(bad)


def test_partition_kinds_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"kind must be one of \['daily', 'settled'\] for a partition, got kind='x'"):
        DataRoot(tmp_path).partition("x", dt.date(2024, 1, 2))  # type: ignore[arg-type]


def test_listing_partitions_and_finished_runs(tmp_path):
    root = DataRoot(tmp_path)
    assert root.partition_days("daily") == []
    assert root.finished_runs() == []
    for day in ("2024-01-03", "2024-01-02"):
        path = root.partition("daily", pd.Timestamp(day))
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    (root.partitions_dir("daily") / "date=2024-01-04").mkdir()  # no file: not published
    assert sorted(root.partition_days("daily")) == ["2024-01-02", "2024-01-03"]
    assert root.partition_days("settled") == []
    for run in ("run-2", "run-1"):
        root.backtest_predictions(run).parent.mkdir(parents=True)
        root.backtest_predictions(run).write_bytes(b"")
    root.backtest_run("run-3").mkdir()  # unfinished: no predictions.parquet
    (root.backtest_partial("run-4") / layout.RUN_PREDICTIONS).parent.mkdir()
    (root.backtest_partial("run-4") / layout.RUN_PREDICTIONS).write_bytes(b"")  # hidden: still being written
    assert root.finished_runs() == ["run-1", "run-2"]


# -- one owner: no other module builds a path under the root from the layout's names ----------------

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("features", "models", "flows")
OWNER = Path("features/storage/layout.py")
ROOT_FOLDERS = {"prices", "events", "models", "reports", "cache"}
ROOT_FILES = ("champion.json", "scorecard.parquet", "trials.json")  # as a name or at the end of a path
ROOT_PARTS = (("date=", str.startswith), (".partial", str.endswith))  # a partition folder, a run being written
# A path code change another branch makes (issue 14): remove the entry once it has merged.
PENDING: dict[Path, str] = {}  # modules known to spell a root path, with what they should use instead


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            out.add(id(first.value))
    return out


def _is_layout_name(node: ast.AST) -> bool:
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return False
    text = node.value
    return text in ROOT_FOLDERS or any(text.startswith(f"{f}/") for f in ROOT_FOLDERS)


def path_spellings(source: str) -> list[str]:
    """Where ``source`` joins a data-root folder name into a path, or spells one of the root's files.

    Flags ``x / "reports"``, ``x / "models/..."``, ``os.path.join(x, "cache")``, ``x.joinpath("prices")``,
    string constants starting with a root folder and a ``/`` (``"reports/daily"``, also inside f-strings)
    and the root's own file names; docstrings are prose and not flagged.
    """
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_layout_name(node.right):
            found.append((node.lineno, f"/ {node.right.value!r}"))  # type: ignore[attr-defined]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "join",
            "joinpath",
        ):
            found += [(node.lineno, f"join {a.value!r}") for a in node.args if _is_layout_name(a)]  # type: ignore[attr-defined]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            spelled = any(text == name or text.endswith(f"/{name}") for name in ROOT_FILES)
            spelled |= any(test(text, part) for part, test in ROOT_PARTS)
            if spelled or any(text.startswith(f"{f}/") for f in ROOT_FOLDERS):
                found.append((node.lineno, repr(text)))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def test_the_checker_finds_each_way_of_spelling_a_path():
    source = '''
"""Docstrings may say <root>/reports/daily/date=... and models/champion.json."""
import os
a = root / "reports" / "daily"
b = f"{root / 'models'}"
c = os.path.join(root, "cache")
d = root.joinpath("prices")
e = "reports/backtest/*/predictions.parquet"
f = f"models/{model_id}"
g = final.with_name(f".{run_id}.partial")
h = folder / "trials.json"
i = add_parser("models")  # a command name, not a path
'''
    assert [line.split(":")[0] for line in path_spellings(source)] == [
        "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 10", "line 11",
    ]  # fmt: skip


def test_no_module_but_the_layout_spells_a_path_under_the_root():
    offenders = {}
    for package in PACKAGES:
        for file in sorted((REPO / package).rglob("*.py")):
            rel = file.relative_to(REPO)
            if rel == OWNER:
                continue
            found = path_spellings(file.read_text(encoding="utf-8"))
            if found and rel not in PENDING:
                offenders[str(rel)] = found
            if rel in PENDING:
                assert found, f"{rel} no longer spells a path: remove it from PENDING"
    assert offenders == {}, f"build these paths with features.storage.layout.DataRoot: {offenders}"


def test_quarantine_file_mirrors_the_path_under_the_root_and_never_ends_in_parquet(tmp_path):
    root = DataRoot(tmp_path)
    now = dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    got = root.quarantine_file(root.partition("daily", dt.date(2024, 1, 2)), now=now)
    assert got.relative_to(tmp_path).as_posix() == (
        "quarantine/reports/daily/date=2024-01-02/predictions.parquet.20240102T030405000006Z.corrupt"
    )
    assert root.quarantine_file(root.price_file("AAPL"), now=now).name == "AAPL.parquet.20240102T030405000006Z.corrupt"
    with pytest.raises(ValueError, match="is not in the subpath"):
        root.quarantine_file(tmp_path.parent / "elsewhere.parquet", now=now)
