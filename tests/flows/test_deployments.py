"""Deployments as built (no server needed) and prefect.yaml kept in step with them."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from flows.deployments import DAILY_CRON, RETRAIN_CRON, TIMEZONE, WORKER_SUFFIX, build_deployments

REPO = Path(__file__).resolve().parents[2]


def _schedules(deployment) -> list[tuple[str, str]]:
    return [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules or []]


def test_build_deployments_schedules_and_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    daily, retrain, backtest = build_deployments(source="synthetic:tickers=4", data_root_dir="rel/data")
    assert [(d.flow_name, d.name) for d in (daily, retrain, backtest)] == [
        ("daily", "daily"),
        ("train", "weekly-retrain"),
        ("backtest", "backtest"),
    ]
    assert _schedules(daily) == [("30 17 * * 1-5", "America/New_York")]
    assert _schedules(retrain) == [("0 6 * * 6", "America/New_York")]
    assert _schedules(backtest) == []
    # the data root is pinned as an absolute path: runs do not depend on the server's cwd
    root = str((tmp_path / "rel" / "data").resolve())
    assert daily.parameters == {"source": "synthetic:tickers=4", "data_root_dir": root, "max_staleness_days": 3}
    assert backtest.parameters == {"source": "synthetic:tickers=4", "data_root_dir": root}
    assert [d.entrypoint for d in (daily, retrain, backtest)] == [
        "flows.daily.daily_flow",
        "flows.train.train_flow",
        "flows.backtest.backtest_flow",
    ]
    # one run at a time where two would race (publishing a partition, promoting a champion)
    assert [d.concurrency_limit for d in (daily, retrain, backtest)] == [1, 1, None]
    # parameters are validated against the flow's signature before any run starts
    assert daily.enforce_parameter_schema
    assert set(daily._parameter_openapi_schema.properties) >= {"as_of", "min_coverage", "allow_partial"}


def test_build_deployments_options():
    daily, retrain, _ = build_deployments(tickers=["AAA"], timezone="Europe/London", daily_cron="0 18 * * 1-5")
    assert _schedules(daily) == [("0 18 * * 1-5", "Europe/London")]
    assert retrain.parameters["tickers"] == ["AAA"]
    assert "tickers" not in daily.parameters  # daily scores the champion's tickers


def test_prefect_yaml_matches_the_served_deployments_under_other_names():
    from prefect.cli.deploy._models import PrefectYamlModel

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    PrefectYamlModel.model_validate(spec)  # what `prefect deploy --all` reads
    by_name = {d["name"]: d for d in spec["deployments"]}
    served = {(d.flow_name, d.name): d for d in build_deployments(source="sample")}
    # `prefect deploy --all` must not overwrite what `updown serve` serves, nor the other way round
    assert set(by_name) == {f"{name}{WORKER_SUFFIX}" for _, name in served}
    assert not set(by_name) & {name for _, name in served}
    assert [(s["cron"], s["timezone"]) for s in by_name["daily-worker"]["schedules"]] == [(DAILY_CRON, TIMEZONE)]
    assert [(s["cron"], s["timezone"]) for s in by_name["weekly-retrain-worker"]["schedules"]] == [
        (RETRAIN_CRON, TIMEZONE)
    ]
    assert by_name["backtest-worker"]["schedules"] == []
    flows = {"daily-worker": "daily", "weekly-retrain-worker": "train", "backtest-worker": "backtest"}
    for name, deployment in by_name.items():
        path, func = deployment["entrypoint"].split(":")
        assert (REPO / path).is_file()
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert getattr(module, func).name == flows[name]
        assert deployment["work_pool"]["name"] == "updown"
        twin = served[(flows[name], name.removesuffix(WORKER_SUFFIX))]
        assert deployment.get("concurrency_limit") == twin.concurrency_limit
        assert deployment["parameters"].get("max_staleness_days") == twin.parameters.get("max_staleness_days")


def test_nested_config_parameters_accept_a_partial_object():
    """`--param training='{"epochs": 5}'` sets one field; the others keep their defaults."""
    from flows.backtest import backtest_flow
    from models.backtest.walkforward import WalkForwardConfig
    from models.learn.training import TrainConfig

    params = backtest_flow.validate_parameters({"training": {"epochs": 5}, "walk_forward": {"blocks": 2}})
    assert params["training"] == TrainConfig(epochs=5)
    assert params["walk_forward"] == WalkForwardConfig(blocks=2)
    with pytest.raises(Exception, match="epochs"):
        backtest_flow.validate_parameters({"training": {"epochs": 0}})
