"""Counting trials: which runs are one search, the ledger's replacements, Sharpe variances, loss differences."""

import math

import numpy as np
import pandas as pd
import pytest

from models.reporting.trials import (
    family,
    family_spa,
    per_date_differences,
    sharpe_variances,
    trial_entry,
    universe_key,
    update_ledger,
)


def _entry(config: str, start: str, end: str, *, universe: str = "A,B", sharpe: float = 0.1) -> dict:
    return trial_entry(universe=universe, test_start=start, test_end=end, config_key=config,
                       data_fingerprint=f"{start}-{end}", daily_sharpe={"long_short": sharpe})  # fmt: skip


def test_universe_key_and_entry():
    assert universe_key(["MSFT", "AAPL", "MSFT", 7]) == "7,AAPL,MSFT"
    e = _entry("cfg", "2020-01-01", "2020-06-30", sharpe=np.float32(0.5))
    assert {k: v for k, v in e.items() if k != "losses"} == {
        "universe": "A,B", "test_start": "2020-01-01", "test_end": "2020-06-30", "config": "cfg",
        "data": "2020-01-01-2020-06-30", "daily_sharpe": {"long_short": 0.5}, "run_id": "",
    }  # fmt: skip
    assert type(e["daily_sharpe"]["long_short"]) is float
    # the file name depends on universe, configuration and period, not on the data fingerprint
    assert len(e["losses"]) == len("0123456789abcdef.parquet")
    assert e["losses"].endswith(".parquet")
    same = trial_entry(universe="A,B", test_start="2020-01-01", test_end="2020-06-30", config_key="cfg",
                       data_fingerprint="other", daily_sharpe={})  # fmt: skip
    assert same["losses"] == e["losses"]
    # the run id names the run for `updown report --compare`; it is not part of the trial's identity
    assert trial_entry(universe="A,B", test_start="2020-01-01", test_end="2020-06-30", config_key="cfg",
                       data_fingerprint="x", daily_sharpe={}, run_id="r1")["losses"] == e["losses"]  # fmt: skip
    assert _entry("cfg", "2020-01-02", "2020-06-30")["losses"] != e["losses"]


def test_the_ledger_replaces_a_configurations_overlapping_trial_only():
    a = _entry("a", "2020-01-01", "2020-06-30")
    b = _entry("b", "2020-03-01", "2020-09-30")
    later = _entry("a", "2021-01-01", "2021-06-30")  # no overlap: another search
    old = {"data": "x", "config": "a", "daily_sharpe": 0.2}  # old format: kept, never counted
    moved = _entry("a", "2020-01-02", "2020-07-01", sharpe=0.3)
    ledger, replaced = update_ledger([a, b, later, old], moved)
    assert ledger == [b, later, old, moved]
    assert replaced == [a["losses"]]
    again, none = update_ledger(ledger, moved)  # the same trial again: replaced, its own file kept
    assert again == [b, later, old, moved]
    assert none == []
    assert family(ledger, moved) == [b, moved]
    assert family(ledger, _entry("a", "2020-01-01", "2020-06-30", universe="A")) == []


def test_sharpe_variances_use_ddof_one_over_finite_values():
    members = [
        {"daily_sharpe": {"long_short": 0.1, "long_only": 0.2}},
        {"daily_sharpe": {"long_short": 0.3, "long_only": float("nan")}},
        {"daily_sharpe": {"long_short": 0.2}},
    ]
    out = sharpe_variances(members)
    assert list(out) == ["long_only", "long_short"]
    assert out["long_short"] == pytest.approx(0.01)  # deviations -0.1, 0.1, 0: 0.02 / 2
    assert out["long_only"] == 0.0  # one finite value
    assert sharpe_variances([]) == {}


def test_per_date_differences_on_a_hand_example():
    day1, day2 = pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")
    predictions = pd.DataFrame({
        "date": [day1, day1, day2], "label": ["up", "down", "flat"],
        "p_down": [0.25, 0.5, 0.25], "p_flat": [0.25, 0.25, 0.5], "p_up": [0.5, 0.25, 0.25],
        "forward_return": [0.02, -0.03, 0.001],
    })  # fmt: skip
    third = np.full((3, 3), 1 / 3)
    hard = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # always up: no log-loss, sign loss only
    out = per_date_differences(predictions, {"class_prior": third, "always_up": hard})
    assert out["date"].tolist() == [day1, day2]
    # the model puts 0.5 on each realised class, the prior 1/3: ln(3/2) better every row
    np.testing.assert_allclose(out["log_loss_diff"], [-math.log(1.5)] * 2)
    # day 1: the model's calls are up (right) and down (right); always-up is right once: 0 - 0.5 per row on average
    assert out["sign_loss_diff"].iloc[0] == pytest.approx(-0.5)
    assert math.isnan(out["sign_loss_diff"].iloc[1])  # day 2: a flat call only


def test_family_spa_runs_on_the_shared_dates():
    dates = pd.bdate_range("2020-01-01", periods=30)
    rng = np.random.default_rng(0)
    frames = [
        pd.DataFrame({"date": dates, "log_loss_diff": rng.normal(-0.05, 0.01, 30), "sign_loss_diff": np.nan}),
        pd.DataFrame({"date": dates[3:], "log_loss_diff": rng.normal(0, 0.01, 27), "sign_loss_diff": np.nan}),
    ]
    out = family_spa(frames, n_boot=200, seed=1)
    assert (out["log_loss_diff"]["k"], out["log_loss_diff"]["T"]) == (2, 27)
    assert out["log_loss_diff"]["best"] == 0
    assert out["log_loss_diff"]["consistent"] < 0.01
    assert math.isnan(out["sign_loss_diff"]["consistent"])  # no shared dates at all
