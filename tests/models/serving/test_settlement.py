import math

import numpy as np
import pandas as pd
import pytest

from models.serving.predictions import SETTLED_COLUMNS, prediction_frame, read_predictions, write_settled
from models.serving.settlement import drift_messages, expectation, scorecard, settle, unsettled
from tests.support import make_prices

META = {"m1": {"dataset": {"label": {"horizon": 2, "lag": 1, "band": 0.01}}, "validation": {"accuracy": 0.5}}}


def _predictions(dates: list[str], tickers: list[str], probs: list[list[float]], model_id: str = "m1") -> pd.DataFrame:
    keys = pd.DataFrame({"date": pd.to_datetime(dates), "ticker": tickers})
    return prediction_frame(keys, np.array(probs), horizon=2, model_id=model_id)


def test_settle_uses_the_label_timing_entry_at_t_plus_lag_exit_at_t_plus_lag_plus_horizon():
    # business days from 2020-01-01 (Wed): 01, 02, 03, 06, 07, 08
    prices = make_prices({"AAA": [100, 110, 99, 121, 100, 100], "BBB": [50, 50, 50, 50.2, 50, 50]})
    preds = _predictions(
        ["2020-01-01", "2020-01-01", "2020-01-06"],
        ["AAA", "BBB", "AAA"],
        [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.6, 0.2]],
    )
    out = settle(preds, prices, META)
    assert tuple(out.columns) == SETTLED_COLUMNS
    # AAA on 01-01: entry close 01-02 (110), exit close 01-06 (121): +10% -> up
    # BBB on 01-01: 50 -> 50.2: +0.4%, inside ±1% -> flat
    # AAA on 01-06: entry 01-07, exit would be 01-09: not in the data, so not settled yet
    assert list(out["ticker"]) == ["AAA", "BBB"]
    assert out["forward_return"].tolist() == pytest.approx([0.1, 0.004])
    assert list(out["label"]) == ["up", "flat"]
    assert list(out["label_end"]) == [pd.Timestamp("2020-01-06")] * 2
    assert list(out["p_up"]) == [0.7, 0.1]


def test_settle_needs_the_predicting_models_metadata():
    prices = make_prices({"AAA": [100, 110, 99, 121, 100, 100]})
    with pytest.raises(KeyError, match="model_id='other'"):
        settle(_predictions(["2020-01-01"], ["AAA"], [[0.1, 0.2, 0.7]], model_id="other"), prices, META)


def test_settled_partitions_round_trip_with_proper_dtypes(tmp_path):
    prices = make_prices({"AAA": [100, 110, 99, 121, 100, 100], "BBB": [50, 50, 50, 50.2, 50, 50]})
    preds = _predictions(["2020-01-01", "2020-01-01"], ["BBB", "AAA"], [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    out = settle(preds, prices, META)
    write_settled(tmp_path, pd.Timestamp("2020-01-01"), out, metadata={"settled_at": "now"})
    back = read_predictions(tmp_path, kind="settled")
    assert tuple(back.columns) == SETTLED_COLUMNS
    assert list(back["ticker"]) == ["AAA", "BBB"]
    assert back["date"].dtype == "datetime64[ns]"
    assert back["label_end"].dtype == "datetime64[ns]"
    assert back["horizon"].dtype == "int32"
    assert list(back["label"]) == ["up", "flat"]
    assert back.loc[0, "forward_return"] == pytest.approx(0.1)


def _settled(n_dates: int, tickers: int, hit_rate: float, p_hit: float = 0.6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for d in pd.bdate_range("2021-01-01", periods=n_dates):
        for k in range(tickers):
            hit = rng.random() < hit_rate
            rows.append((d, f"T{k}", [0.2, 1 - p_hit - 0.2, p_hit], "up" if hit else "down"))
    keys = pd.DataFrame({"date": [r[0] for r in rows], "ticker": [r[1] for r in rows]})
    frame = prediction_frame(keys, np.array([r[2] for r in rows]), horizon=2, model_id="m1")
    return frame.assign(forward_return=0.0, label=[r[3] for r in rows], label_end=frame["date"])


def test_scorecard_values_and_drift_status():
    settled = _settled(100, 5, hit_rate=0.5)
    card = scorecard(settled, META, window=60)
    row = card.iloc[0]
    hits = settled["label"] == "up"
    assert row["n"] == 500
    assert row["accuracy"] == pytest.approx(hits.mean())
    recent = settled["date"].isin(settled["date"].unique()[-60:])
    assert row["window_n"] == 300
    assert row["window_accuracy"] == pytest.approx(hits[recent].mean())
    expected_loss = -np.log(np.where(hits[recent], 0.6, 0.2)).mean()
    assert row["window_log_loss"] == pytest.approx(expected_loss)
    # n_eff = 60 dates / horizon 2 * 5 tickers = 150
    assert row["accuracy_upper"] - 0.5 == pytest.approx(2 * math.sqrt(0.25 / 150))
    assert math.isnan(row["expected_log_loss"])
    assert row["status"] == "no expectation"

    # live log-loss at a 50% hit rate: -(log 0.6 + log 0.2) / 2 = 1.06
    meta = {"m1": {"validation": {"accuracy": 0.5, "log_loss": 1.06}}}
    assert scorecard(settled, meta).iloc[0]["status"] == "ok"
    bad = scorecard(_settled(100, 5, hit_rate=0.2), meta).iloc[0]
    assert bad["status"] == "below expectation"
    assert drift_messages(scorecard(_settled(100, 5, hit_rate=0.2), meta))[0].startswith("model m1: live performance")
    assert scorecard(_settled(100, 5, hit_rate=0.9), meta).iloc[0]["status"] == "above expectation"
    assert scorecard(_settled(3, 5, hit_rate=0.2), meta).iloc[0]["status"] == "too few"
    assert drift_messages(scorecard(settled, meta)) == []


def test_unsettled_dates():
    d = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    published = {d[0]: 2, d[1]: 2, d[2]: 2}
    assert unsettled(published, {d[0]: 2, d[1]: 1}) == [d[1], d[2]]
    assert unsettled(published, {}, before="2024-01-04") == [d[0], d[1]]


def test_expectations_come_from_the_holdout_and_fall_back_to_validation():
    validation = {"accuracy": 0.6, "log_loss": 0.9}
    holdout = {"accuracy": 0.4, "log_loss": 1.1}
    assert expectation({"validation": validation, "holdout": holdout}) == (0.4, 1.1, "holdout")
    assert expectation({"validation": validation, "holdout": None}) == (0.6, 0.9, "validation")  # an old model
    acc, loss, source = expectation({})
    assert math.isnan(acc)
    assert math.isnan(loss)
    assert source == "none"
    settled = _settled(100, 5, hit_rate=0.5)
    both = {"m1": {**META["m1"], "validation": validation, "holdout": holdout}}
    row = scorecard(settled, both, window=60).iloc[0]
    assert (row["expected_accuracy"], row["expected_log_loss"], row["expected_from"]) == (0.4, 1.1, "holdout")
    old = scorecard(settled, META, window=60).iloc[0]
    assert (old["expected_accuracy"], old["expected_from"]) == (0.5, "validation")
