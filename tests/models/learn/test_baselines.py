import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from features.dataset import DatasetConfig, build_panel
from features.prices.sources.synthetic import SyntheticMarket
from models.evaluation.metrics import sample_log_loss
from models.learn.baselines import (
    BASELINE_CLASSES,
    BASELINES,
    BaselineData,
    ClassPrior,
    MajorityClass,
    class_prior,
    fit_baselines,
    gradient_boosting,
    label_persistence,
    lagged_features,
    last_known_labels,
    logistic_regression,
    majority_class,
    make_baseline,
    momentum,
    past_returns,
    stack_folds,
)


def make_data(
    labels: list[int],
    *,
    tickers: list[str] | None = None,
    start: str = "2021-01-04",
    ends_after: int = 3,
    X: np.ndarray | None = None,
    past_return: np.ndarray | None = None,
) -> BaselineData:
    """One ticker (or the given ones) on consecutive business days; label i ends ``ends_after`` days later."""
    n = len(labels)
    dates = pd.bdate_range(start, periods=n + ends_after).to_numpy(dtype="datetime64[ns]")
    X = np.zeros((n, 2)) if X is None else X
    return BaselineData(
        dates=dates[:n],
        tickers=np.asarray(tickers or ["A"] * n, dtype=object),
        labels=np.asarray(labels, dtype="int64"),
        label_end=dates[ends_after:],
        X_last=X,
        X_lagged=X,
        past_return=np.zeros(n) if past_return is None else past_return,
    )


def test_prior_and_majority():
    train = make_data([0, 0, 2, 2, 2])
    test = make_data([1, 1])
    np.testing.assert_allclose(class_prior(train, test), [[3 / 8, 1 / 8, 4 / 8]] * 2)
    np.testing.assert_array_equal(majority_class(train, test), [[0, 0, 1]] * 2)


def test_last_known_label_is_the_latest_whose_window_ended():
    # Decision dates d0..d5; label i ends on d(i+3). At d4 the labels of d0 and d1 are known, not d3's.
    hist = make_data([0, 1, 2, 0, 1, 2])
    known = last_known_labels(hist, np.array(["A"] * 6), hist.dates)
    np.testing.assert_array_equal(known, [-1, -1, -1, 0, 1, 2])
    other = last_known_labels(hist, np.array(["B"]), hist.dates[5:])
    np.testing.assert_array_equal(other, [-1])  # never another ticker's label


def test_label_persistence_uses_training_transitions():
    # Known-label pairs in training (prev -> next), ends 1 day later: 2->2, 2->2, 2->0, 0->0 (first row: no prev).
    train = make_data([2, 2, 2, 0, 0], ends_after=1)
    test = make_data([1, 1], start="2021-01-11", ends_after=1)  # decisions after every training label ended
    probs = label_persistence(train, test)
    # Last known label at the first test date is the training label 0 -> row for prev = 0: counts 1+(0->0) = (2, 1, 1).
    np.testing.assert_allclose(probs[0], [2 / 4, 1 / 4, 1 / 4])
    # The second test date already knows the first test label (1, ended the day before) -> row prev = 1: no data.
    np.testing.assert_allclose(probs[1], [1 / 3, 1 / 3, 1 / 3])


def test_persistence_without_any_known_label_falls_back_to_the_prior():
    train = make_data([2, 2, 0], ends_after=10)  # no label ended inside training
    test = make_data([1], start="2021-01-06", ends_after=10)
    np.testing.assert_allclose(label_persistence(train, test), class_prior(train, test))


def test_momentum_conditional_frequencies_with_a_band():
    r = np.array([-0.05, -0.03, 0.0, 0.04, 0.06, np.nan])
    train = make_data([0, 0, 1, 2, 0, 2], past_return=r)
    test = make_data([1, 1, 1], past_return=np.array([-0.02, 0.03, np.nan]))
    probs = momentum(train, test, band=0.01)
    # states: down (0, 0), flat (1), up (2, 0); NaN ignored. Add-one smoothing.
    np.testing.assert_allclose(probs[0], [3 / 5, 1 / 5, 1 / 5])
    np.testing.assert_allclose(probs[1], [2 / 5, 1 / 5, 2 / 5])
    np.testing.assert_allclose(probs[2], class_prior(train, test)[0])


def test_logistic_regression_is_the_sklearn_model_on_standardised_features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = np.digitize(X[:, 0] + 0.5 * rng.normal(size=300), [-0.5, 0.5])
    train, test = make_data(list(y[:200]), X=X[:200]), make_data(list(y[200:]), X=X[200:])
    ours = logistic_regression(train, test)
    scaler = StandardScaler().fit(X[:200])
    ref = LogisticRegression(max_iter=2000).fit(scaler.transform(X[:200]), y[:200])
    np.testing.assert_allclose(ours, ref.predict_proba(scaler.transform(X[200:])), atol=1e-6)
    assert np.mean(ours.argmax(axis=1) == y[200:]) > 0.6


def test_a_class_missing_from_training_still_gets_probability():
    X = np.linspace(-1, 1, 40)[:, None]
    train = make_data([0] * 20 + [2] * 20, X=X)
    probs = logistic_regression(train, make_data([1, 1], X=np.array([[-1.0], [1.0]])))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[:, 1] > 0).all()
    assert probs[0, 0] > 0.5
    assert probs[1, 2] > 0.5


def test_gradient_boosting_finds_a_lagged_rule_that_the_latest_features_miss():
    rng = np.random.default_rng(1)
    n = 1500
    f = rng.normal(size=n)
    y = np.digitize(np.r_[0.0, 0.0, f[:-2]], [-0.4, 0.4])  # the class is the feature two days earlier
    lagged = lagged_features(f[:, None], np.array(["A"] * n), lags=3)
    data = BaselineData(
        dates=pd.bdate_range("2015-01-01", periods=n).to_numpy(dtype="datetime64[ns]"),
        tickers=np.array(["A"] * n, dtype=object),
        labels=y,
        label_end=np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"),
        X_last=f[:, None],
        X_lagged=lagged,
        past_return=np.zeros(n),
    )
    train, test = data.take(np.arange(1000)), data.take(np.arange(1000, n))
    gb = gradient_boosting(train, test, seed=0)
    lr = logistic_regression(train, test)
    assert np.mean(gb.argmax(axis=1) == y[1000:]) > 0.9
    assert sample_log_loss(y[1000:], gb).mean() < sample_log_loss(y[1000:], lr).mean() - 0.5
    np.testing.assert_array_equal(gb, gradient_boosting(train, test, seed=0))


def test_lagged_features_and_past_returns_never_cross_tickers():
    X = np.arange(10.0).reshape(5, 2)
    tickers = np.array(["A", "A", "A", "B", "B"])
    lagged = lagged_features(X, tickers, lags=2)
    np.testing.assert_array_equal(lagged[:, :2], X)
    np.testing.assert_array_equal(lagged[1, 2:], X[0])
    assert np.isnan(lagged[3, 2:]).all()  # B's first row has no lag
    price = np.array([100.0, 110.0, 121.0, 50.0, 55.0])
    np.testing.assert_allclose(past_returns(price, tickers, horizon=2), [np.nan, np.nan, 0.21, np.nan, np.nan])
    with pytest.raises(ValueError, match="lags"):
        lagged_features(X, tickers, lags=0)


@pytest.fixture(scope="module")
def panel_data():
    prices = SyntheticMarket(tickers=3, days=700, seed=5, signal=0.6).fetch()
    panel = build_panel(prices, DatasetConfig(timesteps=5))
    return panel, BaselineData.from_panel(panel, adj_close=prices["adj_close"].to_numpy(), lags=3)


def test_from_panel_aligns_rows_and_fit_baselines_gives_every_baseline(panel_data):
    panel, data = panel_data
    assert len(data) == len(panel.label)
    assert data.X_lagged.shape == (len(panel.label), 3 * panel.X.shape[1])
    samples = panel.samples()
    dates = panel.dates[samples]
    cut = np.sort(np.unique(dates))[int(len(np.unique(dates)) * 0.7)]
    train_rows = samples[panel.label_end[samples] < cut - np.timedelta64(10, "D")]
    test_rows = samples[dates >= cut]
    train, test = data.take(train_rows), data.take(test_rows)
    out = fit_baselines(train, test, seed=0)
    assert list(out) == list(BASELINES)
    for name, p in out.items():
        assert p.shape == (len(test_rows), 3), name
        np.testing.assert_allclose(p.sum(axis=1), 1.0, err_msg=name)
    # A planted momentum signal: the learners beat the prior on log-loss out of sample.
    y = panel.label[test_rows].astype("int64")
    prior_loss = sample_log_loss(y, out["class_prior"]).mean()
    for name in ("logistic_regression", "momentum", "gradient_boosting"):
        assert sample_log_loss(y, out[name]).mean() < prior_loss, name


def test_baselines_never_read_test_labels_that_are_not_yet_known(panel_data):
    panel, data = panel_data
    samples = panel.samples()
    train, test = data.take(samples[:600]), data.take(samples[600:900])
    # Labels of test rows whose window ends after the last test decision are never known during the test.
    unknown = test.label_end > test.dates.max()
    scrambled = BaselineData(**{**test.__dict__, "labels": np.where(unknown, (test.labels + 1) % 3, test.labels)})
    a, b = fit_baselines(train, test, seed=0), fit_baselines(train, scrambled, seed=0)
    for name in BASELINES:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_fit_baselines_rejects_unknown_names_and_stacks_folds():
    train, test = make_data([0, 1, 2]), make_data([1])
    with pytest.raises(ValueError, match="names must be baselines"):
        fit_baselines(train, test, names=["oracle"])
    parts = [fit_baselines(train, test, names=["class_prior"]), fit_baselines(train, test, names=["class_prior"])]
    assert stack_folds(parts)["class_prior"].shape == (2, 3)
    with pytest.raises(ValueError, match="must have 3 rows"):
        BaselineData(**{**train.__dict__, "labels": np.zeros(2)})


def test_every_baseline_is_an_estimator_found_by_name(panel_data):
    panel, data = panel_data
    samples = panel.samples()
    train, test = data.take(samples[:600]), data.take(samples[600:700])
    assert tuple(BASELINE_CLASSES) == BASELINES
    for name, cls in BASELINE_CLASSES.items():
        model = make_baseline(name, seed=2, momentum_band=None, threads=1)
        assert type(model) is cls
        assert not [a for a in vars(model) if a.endswith("_")]  # settings only until fit
        with pytest.raises(RuntimeError, match="not fitted yet"):
            model.predict_proba(test)
        assert model.fit(train, history=data.take(samples)) is model
        expected = fit_baselines(train, test, seed=2, names=[name], history=data.take(samples))[name]
        np.testing.assert_array_equal(model.predict_proba(test), expected, err_msg=name)
    assert make_baseline("logistic_regression", seed=7, threads=3).seed == 7  # options it does not take are ignored
    with pytest.raises(ValueError, match="name='oracle'"):
        make_baseline("oracle")


def test_a_fitted_baseline_predicts_any_slice_without_refitting():
    train = make_data([0, 0, 2, 2, 2])
    model = ClassPrior().fit(train)
    np.testing.assert_allclose(model.predict_proba(make_data([1])), [[3 / 8, 1 / 8, 4 / 8]])
    np.testing.assert_allclose(model.predict_proba(make_data([1, 1])), [[3 / 8, 1 / 8, 4 / 8]] * 2)
    np.testing.assert_array_equal(MajorityClass().fit(train).predict_proba(make_data([0])), [[0.0, 0.0, 1.0]])


def test_lags_and_past_returns_restart_after_a_gap():
    # one ticker: 3 days, a two-week gap (a halt), 3 days: the post-gap rows must not see pre-gap values
    dates = [*pd.bdate_range("2021-01-04", periods=3), *pd.bdate_range("2021-01-25", periods=3)]
    prices = pd.DataFrame({"date": dates, "ticker": "AAA", "adj_close": [10.0, 11.0, 12.0, 20.0, 22.0, 24.0]})
    from features.segments import Segments

    codes = Segments.of(prices).codes
    np.testing.assert_array_equal(codes, [0, 0, 0, 1, 1, 1])
    X = np.arange(6, dtype="float64")[:, None]
    lagged = lagged_features(X, codes, lags=2)
    np.testing.assert_array_equal(lagged[:, 1], [np.nan, 0, 1, np.nan, 3, 4])  # by ticker it would be 2 at row 3
    r = past_returns(prices["adj_close"].to_numpy(), codes, horizon=1)
    np.testing.assert_allclose(r, [np.nan, 0.1, 1 / 11, np.nan, 0.1, 1 / 11])  # not 20/12 - 1 across the gap


def test_sklearn_baselines_take_sample_weights():
    rng = np.random.default_rng(0)
    labels = list(rng.integers(0, 3, 300))
    data = make_data(labels, X=rng.normal(size=(300, 2)))
    weight = np.where(np.asarray(labels) == 2, 1e-6, 1.0)  # "up" rows all but ignored
    for name in ("logistic_regression", "gradient_boosting"):
        plain = make_baseline(name).fit(data).predict_proba(data)
        weighted = make_baseline(name).fit(data, sample_weight=weight).predict_proba(data)
        assert weighted[:, 2].mean() < plain[:, 2].mean() / 3, name
        with pytest.raises(ValueError, match="sample_weight must be 300"):
            make_baseline(name).fit(data, sample_weight=weight[:10])
    out = fit_baselines(data, data, names=["class_prior", "logistic_regression"], sample_weight=weight)
    np.testing.assert_allclose(out["class_prior"], class_prior(data, data))  # counting baselines ignore weights


def _last_known_by_scan(history: BaselineData, tickers: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """The definition, one query at a time: the latest-ending known label of the ticker (last row on ties)."""
    out = np.full(len(dates), -1, dtype="int64")
    for i, (ticker, day) in enumerate(zip(tickers, dates, strict=True)):
        ok = (history.tickers == ticker) & (history.labels >= 0) & ~np.isnat(history.label_end)
        ok &= history.label_end <= day
        if ok.any():
            rows = np.flatnonzero(ok)
            latest = history.label_end[rows].max()
            out[i] = history.labels[rows[history.label_end[rows] == latest][-1]]
    return out


def test_last_known_labels_match_the_definition_with_ties_unknowns_and_strangers():
    rng = np.random.default_rng(5)
    n = 300
    days = pd.bdate_range("2021-01-04", periods=40).to_numpy(dtype="datetime64[ns]")
    ends = days[rng.integers(0, 40, n)]  # many equal end dates per ticker: ties
    ends[rng.random(n) < 0.1] = np.datetime64("NaT")
    history = BaselineData(
        dates=days[rng.integers(0, 40, n)],
        tickers=rng.choice(np.array(["A", "B", "C", "D"], dtype=object), n),
        labels=np.where(rng.random(n) < 0.1, -1, rng.integers(0, 3, n)),
        label_end=ends,
        X_last=np.zeros((n, 1)),
        X_lagged=np.zeros((n, 1)),
        past_return=np.zeros(n),
    )
    tickers = rng.choice(np.array(["A", "B", "C", "D", "E"], dtype=object), 200)  # E has no history
    dates = days[rng.integers(0, 40, 200)]
    got = last_known_labels(history, tickers, dates)
    np.testing.assert_array_equal(got, _last_known_by_scan(history, tickers, dates))
    assert (got[tickers == "E"] == -1).all()
    assert set(got[tickers != "E"].tolist()) == {0, 1, 2}


def test_gradient_boosting_threads_change_nothing_but_speed(monkeypatch):
    import models.learn.baselines as baselines
    from models.learn.baselines import GradientBoostingBaseline

    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    labels = np.digitize(X[:, 0] + 0.5 * rng.normal(size=3000), [-0.5, 0.5])
    train, test = make_data(list(labels[:2000]), X=X[:2000]), make_data(list(labels[2000:]), X=X[2000:])
    one = GradientBoostingBaseline(threads=1).fit(train).predict_proba(test)
    two = GradientBoostingBaseline(threads=2).fit(train).predict_proba(test)
    np.testing.assert_array_equal(one, two)
    assert GradientBoostingBaseline().threads == "auto"  # the default
    assert GradientBoostingBaseline(threads="auto").fit(train).threads_ == 1  # below PARALLEL_ROWS
    monkeypatch.setattr(baselines, "PARALLEL_ROWS", 2000)
    monkeypatch.setattr(baselines, "idle_cores", lambda: 2)
    auto = GradientBoostingBaseline(threads="auto")
    np.testing.assert_array_equal(auto.fit(train).predict_proba(test), one)
    assert auto.threads_ == 2  # the idle cores, from PARALLEL_ROWS training rows on
