from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.frame import COLUMNS
from features.sources import SourceError, get_source
from features.sources.directory import DirectorySource
from features.sources.sample import SampleSource
from features.sources.synthetic import SyntheticMarket


@pytest.mark.parametrize("spec", ["nope", "dir:", "yahoo:x", "synthetic:bogus=1", "synthetic:tickers=abc"])
def test_bad_specs_are_rejected_naming_them(spec):
    with pytest.raises(ValueError, match=r"source|synthetic"):
        get_source(spec)


def test_synthetic_is_seeded_and_canonical():
    a = get_source("synthetic:tickers=3,days=50,seed=1").fetch()
    b = get_source("synthetic:tickers=3,days=50,seed=1").fetch()
    c = get_source("synthetic:tickers=3,days=50,seed=2").fetch()
    assert list(a.columns) == list(COLUMNS)
    assert a.shape == (150, 8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], c["close"])
    assert sorted(a["ticker"].unique()) == ["SYN00", "SYN01", "SYN02"]


def test_synthetic_range_and_ticker_selection():
    m = get_source("synthetic:tickers=3,days=50,seed=1")
    part = m.fetch(["SYN01"], "2010-01-11", "2010-01-15")
    assert list(part["ticker"].unique()) == ["SYN01"]
    assert list(part["date"].dt.strftime("%d")) == ["11", "12", "13", "14", "15"]
    with pytest.raises(SourceError, match="SYN99"):
        m.fetch(["SYN99"])
    with pytest.raises(ValueError, match="start must not be after end"):
        m.fetch(None, "2010-02-01", "2010-01-01")


def test_random_walk_has_no_predictable_mean():
    m = SyntheticMarket(tickers=2, days=300, seed=3, signal=0.0)
    dist = m.forward_distribution(horizon=5, lag=1)
    assert np.allclose(dist["mean"], 0.0)
    probs = m.class_probabilities(horizon=5, lag=1, band=0.01)
    np.testing.assert_allclose(probs[["p_down", "p_flat", "p_up"]].sum(axis=1), 1.0)
    # Without signal the past says nothing: each ticker's class probabilities never change.
    spread = probs.groupby("ticker")[["p_down", "p_flat", "p_up"]].agg(lambda s: s.max() - s.min())
    assert (spread.to_numpy() < 1e-12).all()


def test_planted_signal_raises_bayes_accuracy_and_matches_realised_labels():
    flat = SyntheticMarket(tickers=20, days=1500, seed=5, signal=0.0)
    rich = SyntheticMarket(tickers=20, days=1500, seed=5, signal=1.0)
    kw = {"horizon": 5, "lag": 1, "band": 0.01}
    assert rich.bayes_accuracy(**kw) > flat.bayes_accuracy(**kw) + 0.15
    # The stated probabilities are calibrated: the Bayes rule's realised accuracy matches its promise.
    from features.labels import LabelConfig, make_labels

    prices = rich.fetch()
    labels = make_labels(prices, LabelConfig(**kw))["label"].to_numpy()
    probs = rich.class_probabilities(**kw)[["p_down", "p_flat", "p_up"]].to_numpy()
    ok = labels >= 0
    realised = (probs[ok].argmax(axis=1) == labels[ok]).mean()
    assert realised == pytest.approx(probs[ok].max(axis=1).mean(), abs=0.02)


def test_directory_source_reads_mixed_case_columns(tmp_path: Path):
    pd.DataFrame(
        {"Date": ["2021-01-04", "2021-01-05"], "Open": [1.0, 2.0], "HIGH": [1.5, 2.5], "low": [0.5, 1.5],
         "Close": [1.2, 2.2], "Adj Close": [1.1, 2.1], "Volume": [10, 20]}
    ).to_csv(tmp_path / "ABC.csv", index=False)  # fmt: skip
    pd.DataFrame(
        {"date": pd.to_datetime(["2021-01-04"]), "open": [3.0], "high": [3.0], "low": [3.0], "close": [3.0],
         "volume": [5.0]}
    ).to_parquet(tmp_path / "XYZ.parquet")  # fmt: skip
    (tmp_path / "notes.txt").write_text("ignored")
    out = get_source(f"dir:{tmp_path}").fetch()
    assert list(out["ticker"]) == ["ABC", "ABC", "XYZ"]
    assert list(out["adj_close"]) == [1.1, 2.1, 3.0]  # XYZ has no adjusted close: close is used
    with pytest.raises(SourceError, match=r"no file for \['NOPE'\]"):
        DirectorySource(tmp_path).fetch(["NOPE"])


def test_directory_source_names_a_bad_file(tmp_path: Path):
    pd.DataFrame({"date": ["2021-01-04"], "close": [1.0]}).to_csv(tmp_path / "ABC.csv", index=False)
    with pytest.raises(SourceError, match=r"ABC.csv needs columns"):
        get_source(f"dir:{tmp_path}").fetch()


def test_sample_source_reads_the_bundled_file():
    out = get_source("sample").fetch(["^GSPC"], "2008-10-01", "2008-10-31")
    assert len(out) == 23  # trading days in October 2008
    assert out["close"].min() < 900 < out["close"].max()


def test_sample_source_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SourceError, match="bundled data not found"):
        SampleSource(tmp_path / "missing.parquet").fetch()
