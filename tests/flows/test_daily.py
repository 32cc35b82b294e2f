"""The daily flow's operations: freshness, idempotence, settlement and the live scorecard.

Logic runs through ``daily_flow.fn`` (its tasks still need the session's Prefect harness); the
champion is a tiny model trained once per module with the plain training functions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.labels import CLASSES, LabelConfig, make_labels
from features.prices.sources import get_source
from features.storage.atomic import read_parquet_metadata
from flows.artifacts import model_card, scorecard_markdown, signal_rows
from flows.daily import SKIPPED, StalePricesError, check_freshness, daily_flow
from flows.deployments import build_deployments
from models.serving.predictions import SETTLED_COLUMNS, daily_path, read_predictions
from models.serving.settlement import scorecard_path
from tests.support import train_champion

SOURCE = "synthetic:tickers=4,days=450,seed=2,signal=1.0"


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding only a champion trained on the source up to 2011-06-30."""
    root = tmp_path_factory.mktemp("trained")
    train_champion(root, source=SOURCE)
    return root


@pytest.fixture
def root(trained_root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(trained_root, out)
    return out


def _frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime([d for d, _ in rows]), "ticker": [t for _, t in rows]})


def test_check_freshness_refuses_stale_and_incomplete_prices():
    prices = _frame([("2024-01-05", "A"), ("2024-01-05", "B"), ("2024-01-05", "C"), ("2024-01-04", "D")])
    day = pd.Timestamp("2024-01-05")  # a Friday
    names = ["A", "B", "C", "D"]
    with pytest.raises(StalePricesError, match=r"3/4 tickers \(75%\).*missing \['D'\]"):
        check_freshness(prices, names, day, explicit=True)
    assert check_freshness(prices, names, day, explicit=True, allow_partial=True) == ["D"]
    assert check_freshness(prices, names, day, explicit=True, min_coverage=0.75) == ["D"]
    # Monday's run with Friday's data is 1 business day old: fresh; Wednesday's is 3 days old
    monday, wednesday = pd.Timestamp("2024-01-08").date(), pd.Timestamp("2024-01-10").date()
    kw = {"explicit": False, "min_coverage": 0.5, "max_staleness_days": 2}
    assert check_freshness(prices, names, day, today=monday, **kw) == ["D"]
    with pytest.raises(StalePricesError, match="latest stored day is 2024-01-05, 3 business days before 2024-01-10"):
        check_freshness(prices, names, day, today=wednesday, **kw)
    # an explicit as-of date is never stale: backfills are allowed
    assert check_freshness(prices, names, day, today=wednesday, **{**kw, "explicit": True}) == ["D"]
    # nobody priced: not an error, the caller reports "nothing new"
    assert check_freshness(prices, names, pd.Timestamp("2024-01-06"), explicit=True) == names


def test_artifact_views():
    frame = pd.DataFrame(
        {
            "ticker": ["A", "B"],
            "p_down": [0.5, 0.1],
            "p_flat": [0.3, 0.2],
            "p_up": [0.2, 0.7],
            "predicted": ["down", "up"],
            "model_id": "m",
        }
    )
    rows = signal_rows(frame)
    assert [r["ticker"] for r in rows] == ["B", "A"]
    assert rows[0]["score"] == "0.6000"
    card = [{"model_id": "m", "n": 10, "window_accuracy": 0.5, "expected_accuracy": 0.4, "accuracy_lower": 0.3,
             "accuracy_upper": 0.5, "window_log_loss": 1.0, "expected_log_loss": 1.1, "status": "ok"}]  # fmt: skip
    assert "| m | 10 | 0.5000 | 0.4000 [0.3000..0.5000] | 1.0000 | 1.1000 | ok |" in scorecard_markdown(card)
    assert "validation: accuracy 0.4200" in model_card({"model_id": "m", "validation": {"accuracy": 0.42}})


@pytest.mark.usefixtures("prefect_harness")
def test_daily_publishes_settles_and_scores(root: Path):
    for day in ("2011-09-01", "2011-09-02"):
        assert daily_flow.fn(as_of=day, source=SOURCE, data_root_dir=str(root)) == str(
            daily_path(root, pd.Timestamp(day))
        )
    # nothing has settled yet: 09-01's exit close is 09-09 (lag 1 + horizon 5 business days)
    assert read_predictions(root, kind="settled").empty
    meta = read_parquet_metadata(daily_path(root, pd.Timestamp("2011-09-02")))
    assert set(meta) >= {"model_id", "data_fingerprint", "code_version", "created_at"}

    daily_flow.fn(as_of="2011-09-12", source=SOURCE, data_root_dir=str(root))
    settled = read_predictions(root, kind="settled")
    assert tuple(settled.columns) == SETTLED_COLUMNS
    assert sorted(settled["date"].unique()) == [pd.Timestamp("2011-09-01"), pd.Timestamp("2011-09-02")]
    assert len(settled) == 8
    # realised returns and labels are those of features.labels on the source's prices
    truth = make_labels(get_source(SOURCE).fetch(), LabelConfig())
    joined = settled.merge(truth, on=["date", "ticker"], suffixes=("", "_true"))
    assert len(joined) == 8
    np.testing.assert_allclose(joined["forward_return"], joined["forward_return_true"], rtol=1e-12)
    assert list(joined["label"]) == [CLASSES[k] for k in joined["label_true"]]
    assert (joined["label_end"] == joined["label_end_true"]).all()
    published = read_predictions(root, end="2011-09-02")
    pd.testing.assert_frame_equal(settled.loc[:, published.columns], published)

    card = pd.read_parquet(scorecard_path(root))
    assert len(card) == 1
    row = card.iloc[0]
    hits = (settled["predicted"] == settled["label"]).mean()
    assert row["n"] == 8
    assert row["accuracy"] == pytest.approx(hits)
    assert row["status"] == "too few"

    # settlement is idempotent: a re-run adds nothing and changes nothing
    before = {p: p.read_bytes() for p in (root / "reports" / "settled").rglob("*.parquet")}
    daily_flow.fn(as_of="2011-09-12", source=SOURCE, data_root_dir=str(root))
    pd.testing.assert_frame_equal(read_predictions(root, kind="settled"), settled)
    assert sorted(before) == sorted((root / "reports" / "settled").rglob("*.parquet"))

    # the latest stored day (2011-09-23) would be published by an implicit run; once it is,
    # an implicit re-run (e.g. a scheduled run on a holiday) publishes nothing
    latest = daily_flow.fn(source=SOURCE, data_root_dir=str(root))
    assert latest == str(daily_path(root, pd.Timestamp("2011-09-23")))
    again = daily_flow.fn(source=SOURCE, data_root_dir=str(root))
    assert (again.type.value, again.name) == ("COMPLETED", SKIPPED)
    assert (
        again.message
        == "nothing published: the latest stored day 2011-09-23 is already published (pass as_of to republish)"
    )


@pytest.mark.usefixtures("prefect_harness")
def test_daily_refuses_stale_and_incomplete_prices(root: Path, tmp_path: Path):
    # a folder source where SYN03's 2011-09-01 close is not published yet
    folder = tmp_path / "prices"
    folder.mkdir()
    prices = get_source(SOURCE).fetch()
    for ticker, rows in prices.groupby("ticker"):
        if ticker == "SYN03":
            rows = rows[rows["date"] < "2011-09-01"]
        rows.drop(columns="ticker").to_csv(folder / f"{ticker}.csv", index=False)
    source = f"dir:{folder}"
    with pytest.raises(StalePricesError, match=r"incomplete prices on 2011-09-01: 3/4 tickers \(75%\)"):
        daily_flow.fn(as_of="2011-09-01", source=source, data_root_dir=str(root), settle=False)
    assert not daily_path(root, pd.Timestamp("2011-09-01")).exists()
    path = daily_flow.fn(as_of="2011-09-01", source=source, data_root_dir=str(root), allow_partial=True, settle=False)
    assert list(pd.read_parquet(path)["ticker"]) == ["SYN00", "SYN01", "SYN02"]

    # the synthetic market ends on 2011-09-23: years before today
    with pytest.raises(StalePricesError, match="stale prices: the latest stored day is 2011-09-23"):
        daily_flow.fn(source=SOURCE, data_root_dir=str(root), max_staleness_days=3, settle=False)
    assert not daily_path(root, pd.Timestamp("2011-09-23")).exists()


@pytest.mark.usefixtures("prefect_harness")
def test_a_stopped_feed_fails_the_scheduled_run_even_when_its_last_day_is_published(root: Path):
    """The deployment's own parameters (as a scheduled run gets them): the freshness check comes first.

    The synthetic feed stopped on 2011-09-23. Once that day is published, a scheduled run used to
    end Completed ("already published") for ever; it must fail on stale prices instead.
    """
    daily, _, _ = build_deployments(source=SOURCE, data_root_dir=str(root))
    params = dict(daily.parameters)
    assert params["max_staleness_days"] == 3
    assert daily_flow.fn(as_of="2011-09-23", **params) == str(daily_path(root, pd.Timestamp("2011-09-23")))
    with pytest.raises(StalePricesError, match="stale prices: the latest stored day is 2011-09-23"):
        daily_flow.fn(**params)
    # without a staleness limit the same run is "nothing new"
    skipped = daily_flow.fn(**{**params, "max_staleness_days": None})
    assert skipped.name == SKIPPED


def _flow_run(state):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


@pytest.mark.usefixtures("prefect_harness")
def test_real_runs_are_named_by_date_end_skipped_and_fail_stale_prices_without_retrying(root: Path):
    daily, _, _ = build_deployments(source=SOURCE, data_root_dir=str(root))
    params = {**daily.parameters, "settle": False}
    assert daily.concurrency_limit == 1
    assert daily_flow.retries == 3

    skipped = daily_flow(**params, as_of="2011-09-03", return_state=True)  # a Saturday
    assert (skipped.type.value, skipped.name) == ("COMPLETED", SKIPPED)
    assert _flow_run(skipped).name == "daily-2011-09-03"

    # stale prices fail at once: no retry (a retry would wait RETRY_DELAYS[0] = 60 s first)
    failed = daily_flow(**params, return_state=True)
    assert failed.type.value == "FAILED"
    assert "stale prices: the latest stored day is 2011-09-23" in failed.message
    run = _flow_run(failed)
    assert run.run_count == 1
    assert run.name == f"daily-{pd.Timestamp.now(tz='America/New_York'):%Y-%m-%d}"  # no as_of: today in New York
