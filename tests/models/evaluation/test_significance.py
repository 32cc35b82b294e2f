import math

import numpy as np
import pytest

from models.evaluation.significance import (
    deflated_sharpe_ratio,
    diebold_mariano,
    expected_max_sharpe,
    long_run_variance,
    newey_west_bandwidth,
    optimal_block_length,
    per_date_mean,
    pesaran_timmermann,
    probabilistic_sharpe_ratio,
    psr_from_stats,
    sharpe_confidence_interval,
    sharpe_ratio,
    stationary_bootstrap_indices,
)


def test_per_date_mean_averages_same_day_samples_in_date_order():
    dates = np.array(["2020-01-02", "2020-01-01", "2020-01-02", "2020-01-01"], dtype="datetime64[ns]")
    np.testing.assert_allclose(per_date_mean(np.array([1.0, 2.0, 3.0, 6.0]), dates), [4.0, 2.0])


def test_diebold_mariano_is_also_importable_from_evaluation():
    from models.evaluation.metrics import diebold_mariano as from_evaluation

    assert from_evaluation is diebold_mariano


def _old_diebold_mariano_p(d: np.ndarray, horizon: int) -> float:
    """The estimator this module used before issue 15: equal weights up to lag horizon-1, HLN, t(T-1)."""
    from scipy import stats

    T, h = len(d), horizon
    dc = d - d.mean()
    gammas = [float(dc[k:] @ dc[: T - k]) / T for k in range(min(h, T))]
    lrv = gammas[0] + 2 * sum(gammas[1:])
    lrv = lrv if lrv > 0 else gammas[0]
    hln = d.mean() / math.sqrt(lrv / T) * math.sqrt((T + 1 - 2 * h + h * (h - 1) / T) / T)
    return float(2 * stats.t.sf(abs(hln), df=T - 1))


@pytest.mark.parametrize("n", [8, 57, 300, 1500])
def test_newey_west_bandwidth_and_long_run_variance_agree_with_arch(n):
    from arch.covariance.kernel import Bartlett

    rng = np.random.default_rng(n)
    x = 0.1 * rng.standard_normal(n).cumsum() + rng.standard_normal(n)
    ref = Bartlett(x)
    lrv, bw = long_run_variance(x)
    assert bw == pytest.approx(ref.bandwidth, rel=1e-10)
    assert bw == newey_west_bandwidth(x)
    assert lrv == pytest.approx(float(np.squeeze(ref.cov.long_run)), rel=1e-10)
    # A floor above the automatic bandwidth is used as the bandwidth.
    floored, bw_floor = long_run_variance(x, min_bandwidth=bw + 3)
    assert bw_floor == pytest.approx(min(bw + 3, n - 1))
    kernel = float(np.squeeze(Bartlett(x, bandwidth=bw_floor).cov.long_run))
    assert floored == pytest.approx(max(kernel, _truncated(x, int(bw_floor))), rel=1e-10)


def _truncated(x: np.ndarray, lags: int) -> float:
    """Hansen-Hodrick: gamma_0 + 2 sum_{j=1..lags} gamma_j, every lag at full weight."""
    e = x - x.mean()
    return float(e @ e) / len(e) + 2 * sum(float(e[j:] @ e[: len(e) - j]) / len(e) for j in range(1, lags + 1))


def test_long_run_variance_keeps_the_overlap_lags_at_full_weight():
    # An MA(4) series (overlapping 5-day sums): Bartlett weights at bandwidth 4 shrink lags 1..4 and
    # underestimate; the floor brings the estimate up to the truncated one, never below it.
    rng = np.random.default_rng(3)
    x = np.convolve(rng.standard_normal(600), np.ones(5), mode="valid")
    bartlett, _ = long_run_variance(x, bandwidth=4)
    floored, _ = long_run_variance(x, bandwidth=4, min_bandwidth=4)
    assert bartlett < 0.8 * _truncated(x, 4)
    assert floored == pytest.approx(_truncated(x, 4), rel=1e-12)


@pytest.mark.parametrize("lags", [0, 1, 4, 12])
def test_long_run_variance_with_integer_bandwidth_is_statsmodels_newey_west(lags):
    import statsmodels.api as sm

    rng = np.random.default_rng(lags)
    x = np.convolve(rng.standard_normal(420), np.ones(5), mode="valid")  # MA(4)
    fit = sm.OLS(x, np.ones(len(x))).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})
    lrv, bw = long_run_variance(x, bandwidth=lags)
    assert bw == lags
    assert lrv / len(x) == pytest.approx(float(fit.cov_params()[0, 0]), rel=1e-10)


def test_diebold_mariano_statistic_is_hln_scaled_newey_west():
    from arch.covariance.kernel import Bartlett
    from scipy import stats

    rng = np.random.default_rng(7)
    d = 0.05 + np.convolve(rng.standard_normal(204), np.ones(5) / 5, mode="valid")
    res = diebold_mariano(d, np.zeros(len(d)), horizon=5)
    T = len(d)
    bw = max(Bartlett(d).bandwidth, 4.0)
    lrv = max(float(np.squeeze(Bartlett(d, bandwidth=bw).cov.long_run)), _truncated(d, 4))
    expected = d.mean() / math.sqrt(lrv / T) * math.sqrt((T + 1 - 10 + 20 / T) / T)
    assert res["bandwidth"] == pytest.approx(bw)
    assert res["statistic"] == pytest.approx(expected, rel=1e-10)
    assert res["p_value"] == pytest.approx(2 * stats.t.sf(abs(expected), df=T - 1), rel=1e-8)


def test_diebold_mariano_bandwidth_never_below_horizon_minus_one():
    d = np.random.default_rng(1).standard_normal(300)
    auto = newey_west_bandwidth(d)
    assert diebold_mariano(d, np.zeros(300), horizon=1)["bandwidth"] == auto
    horizon = math.ceil(auto) + 5
    assert diebold_mariano(d, np.zeros(300), horizon=horizon)["bandwidth"] == horizon - 1


def test_diebold_mariano_keeps_its_size_on_an_ar1_loss_differential():
    # d_t = 0.5 d_{t-1} + e_t under the null: the long-run variance is (1 + 0.5) / (1 - 0.5) = 3 times
    # the variance, which the old lag-0 estimator (horizon 1) ignores: it rejects about 27% at 5%.
    from scipy.signal import lfilter

    reps, T = 2000, 500
    e = np.random.default_rng(2024).standard_normal((reps, T + 50))
    d = lfilter([1.0], [1.0, -0.5], e, axis=1)[:, 50:]
    new = np.mean([diebold_mariano(x, np.zeros(T), horizon=1)["p_value"] < 0.05 for x in d])
    old = np.mean([_old_diebold_mariano_p(x, 1) < 0.05 for x in d])
    mc_se = math.sqrt(0.05 * 0.95 / reps)  # 0.0049
    # Measured: old 0.277, new 0.067 (Bartlett's small-sample bias keeps it a little above 5%).
    assert old > 0.2
    assert 0.05 - 3 * mc_se < new < 0.05 + 5 * mc_se


def test_diebold_mariano_constant_difference_is_a_clear_result():
    same = diebold_mariano(np.full(50, 0.7), np.full(50, 0.7), horizon=5)
    assert same["mean_diff"] == 0.0
    assert same["bandwidth"] == 0.0
    assert math.isnan(same["statistic"])
    assert math.isnan(same["p_value"])
    # 0.1 is not exact in binary: the differences vary in the last bit, which must not become noise.
    better = diebold_mariano(np.linspace(1, 2, 50) - 0.1, np.linspace(1, 2, 50), horizon=5)
    assert better["mean_diff"] == pytest.approx(-0.1)
    assert better["statistic"] == -math.inf
    assert better["p_value"] == 0.0
    short = diebold_mariano(np.array([1.0, 2.0]), np.array([0.0, 0.0]), horizon=1)
    assert math.isnan(short["statistic"])
    assert math.isnan(short["p_value"])


def test_pesaran_timmermann_hand_computed():
    predicted = np.array([1, 1, 0, 0, 1, 0, 1, 1, 0, 1], dtype=bool)
    realised = np.array([1, 0, 0, 0, 1, 1, 1, 1, 0, 0], dtype=bool)
    # P = 0.7, Px = 0.6, Py = 0.5 -> P* = 0.5; V(P) = 0.25 / 10 = 0.025;
    # V(P*) = 0 + 0.2^2 * 0.25 / 10 + 4 * 0.5 * 0.6 * 0.5 * 0.4 / 100 = 0.001 + 0.0024 = 0.0034
    res = pesaran_timmermann(predicted, realised)
    assert res["hit_rate"] == pytest.approx(0.7)
    assert res["expected_hit_rate"] == pytest.approx(0.5)
    assert res["statistic"] == pytest.approx(0.2 / math.sqrt(0.025 - 0.0034))
    assert res["p_value"] == pytest.approx(0.0867840833, rel=1e-6)  # one-sided normal tail of 1.3608


def test_pesaran_timmermann_undefined_for_constant_forecasts_and_no_skill_on_noise():
    y = np.array([True, False, True, False])
    assert math.isnan(pesaran_timmermann(np.ones(4, dtype=bool), y)["statistic"])
    rng = np.random.default_rng(3)
    noise = pesaran_timmermann(rng.random(2000) > 0.5, rng.random(2000) > 0.5)
    assert abs(noise["statistic"]) < 2.5
    skilled = rng.random(2000) > 0.5
    assert pesaran_timmermann(skilled, np.where(rng.random(2000) < 0.6, skilled, ~skilled))["p_value"] < 1e-6


def test_psr_hand_example_and_normal_case():
    # SR = 0.1 on 101 normal returns: z = 0.1 * sqrt(100) / sqrt(1 + (3 - 1) / 4 * 0.01) = 0.99751
    assert psr_from_stats(0.1, n_obs=101, skew=0.0, kurtosis=3.0) == pytest.approx(0.8407413278, rel=1e-9)
    assert psr_from_stats(0.1, n_obs=101, skew=0.0, kurtosis=3.0, benchmark=0.1) == pytest.approx(0.5)
    # Negative skew and fat tails make the same Sharpe ratio less convincing.
    assert psr_from_stats(0.1, n_obs=101, skew=-2.0, kurtosis=10.0) < 0.8407


def test_deflated_sharpe_ratio_matches_bailey_lopez_de_prado_example():
    # "The Deflated Sharpe Ratio" (2014): 100 trials, V[SR] = 1/2 annualised, 1250 daily returns,
    # annualised SR 2.5, skewness -3, kurtosis 10 -> SR0 = 0.1132 per day and DSR = 0.9004.
    sr0 = expected_max_sharpe(n_trials=100, sharpe_variance=0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = psr_from_stats(2.5 / math.sqrt(250), n_obs=1250, skew=-3.0, kurtosis=10.0, benchmark=sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    assert expected_max_sharpe(n_trials=1, sharpe_variance=0.3) == 0.0
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(n_trials=0, sharpe_variance=0.1)


def test_psr_and_dsr_from_returns_use_sample_moments():
    r = np.random.default_rng(5).normal(0.001, 0.01, 500)
    psr = probabilistic_sharpe_ratio(r)
    assert psr["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1))
    assert psr["n"] == 500
    dsr = deflated_sharpe_ratio(r, n_trials=20, sharpe_variance=0.001)
    assert dsr["dsr"] < psr["psr"]  # more trials, higher bar
    assert deflated_sharpe_ratio(r, n_trials=1, sharpe_variance=0.0)["dsr"] == pytest.approx(psr["psr"])
    assert math.isnan(sharpe_ratio(np.ones(10)))


def test_optimal_block_length_tracks_dependence():
    rng = np.random.default_rng(0)
    n, phi = 8000, 0.5
    e = rng.normal(size=n)
    ar = np.zeros(n)
    for t in range(1, n):
        ar[t] = phi * ar[t - 1] + e[t]
    # Theory for AR(1): b = (2 G^2 / D)^(1/3) n^(1/3) with G / sigma2 = 2 phi / (1 - phi^2) = 4/3 -> 24.2
    assert optimal_block_length(ar) == pytest.approx((16 / 9) ** (1 / 3) * n ** (1 / 3), rel=0.25)
    assert optimal_block_length(e) < 3


def test_optimal_block_length_agrees_with_arch():
    arch = pytest.importorskip("arch.bootstrap")
    rng = np.random.default_rng(1)
    e = rng.normal(size=3000)
    x = np.convolve(e, np.ones(6) / 6, mode="valid")  # MA(5): dependence up to lag 5
    ours = optimal_block_length(x)
    theirs = float(arch.optimal_block_length(x)["stationary"].iloc[0])
    assert ours == pytest.approx(theirs, rel=0.15)


def test_stationary_bootstrap_indices_are_seeded_blocks():
    idx = stationary_bootstrap_indices(50, mean_block=5.0, n_boot=200, seed=1)
    assert idx.shape == (200, 50)
    assert idx.min() >= 0
    assert idx.max() < 50
    np.testing.assert_array_equal(idx, stationary_bootstrap_indices(50, mean_block=5.0, n_boot=200, seed=1))
    continues = np.mean(np.diff(idx, axis=1) % 50 == 1)
    assert continues == pytest.approx(1 - 1 / 5, abs=0.03)  # P(continue the block) = 1 - 1/mean_block
    ones = stationary_bootstrap_indices(50, mean_block=1.0, n_boot=5, seed=0)
    assert not np.all(np.diff(ones, axis=1) % 50 == 1)


def test_sharpe_interval_covers_a_zero_sharpe_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    intervals = [sharpe_confidence_interval(rng.normal(0.0, 0.01, 250), n_boot=200, seed=i) for i in range(100)]
    covered = [ci["lower"] < 0 < ci["upper"] for ci in intervals]
    assert 0.85 <= np.mean(covered) <= 0.99
    assert all(ci["lower"] < ci["sharpe"] < ci["upper"] for ci in intervals)


def test_sharpe_interval_excludes_zero_on_a_strong_drift():
    rng = np.random.default_rng(7)
    drift = sharpe_confidence_interval(rng.normal(0.003, 0.01, 750), n_boot=500, seed=0)
    assert drift["lower"] > 0
    again = sharpe_confidence_interval(rng.normal(0.0, 0.01, 20), n_boot=200, seed=3)
    assert math.isfinite(again["lower"])
    assert math.isnan(sharpe_confidence_interval(np.zeros(30), seed=0)["lower"])


def _synthetic_labels(market, *, horizon: int, lag: int, band: float) -> np.ndarray:
    """down/flat/up codes (days - lag - horizon, tickers) of the forward log returns, features.labels timing."""
    c = np.log(market.fetch().pivot(index="date", columns="ticker", values="close").to_numpy())
    fwd = c[lag + horizon :] - c[lag:-horizon]
    return np.where(fwd < np.log1p(-band), 0, np.where(fwd > np.log1p(band), 2, 1))


def _log_loss_rows(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-date mean log-loss of probabilities (dates, tickers, 3) against codes (dates, tickers)."""
    return -np.log(np.take_along_axis(probs, y[..., None], axis=2)[..., 0]).mean(axis=1)


def test_diebold_mariano_size_on_a_synthetic_market_with_volatility_clustering_and_a_market_factor():
    """Two equally good forecasters whose miscalibration drifts slowly: the null holds exactly.

    Both tilt the same prior towards (or away from) "flat" by their own AR(1) error (phi = 0.7),
    common to all tickers; the errors are independent of each other and of the market, so the two
    expected losses are equal, but the per-date loss difference is autocorrelated. The market has a
    factor (half of the variance), GARCH(0.1, 0.85) volatility and t(5) tails; daily labels (horizon 1),
    where the old estimator used the lag-0 variance only.
    """
    from scipy.signal import lfilter

    from features.prices.sources.synthetic import SyntheticMarket

    log_prior, tilt = np.log([0.3, 0.4, 0.3]), np.array([-1.0, 2.0, -1.0])
    new, old = [], []
    for seed in range(200):
        market = SyntheticMarket(tickers=10, days=500, seed=seed, factor=0.5, garch_alpha=0.1, garch_beta=0.85, tails=5)
        y = _synthetic_labels(market, horizon=1, lag=1, band=0.005)
        T = len(y)
        noise = np.random.default_rng([seed, 99]).standard_normal((2, T + 200))
        errors = lfilter([1.0], [1.0, -0.7], noise, axis=1)[:, 200:] * math.sqrt(1 - 0.7**2)
        losses = []
        for err in errors:
            logits = log_prior[None, :] + err[:, None] * tilt[None, :]
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            losses.append(_log_loss_rows(np.repeat(probs[:, None, :], y.shape[1], axis=1), y))
        d = losses[0] - losses[1]
        new.append(diebold_mariano(losses[0], losses[1], horizon=1)["p_value"] < 0.05)
        old.append(_old_diebold_mariano_p(d, 1) < 0.05)
    mc_se = math.sqrt(0.05 * 0.95 / 200)  # 0.015
    # Measured: old 0.265, new 0.04 (without the t tails: 0.265 and 0.05).
    assert np.mean(old) > 0.15
    assert np.mean(new) <= 0.05 + 2 * mc_se


def test_diebold_mariano_power_at_a_realistic_planted_signal():
    """The Bayes oracle against the class prior where the oracle is only ~2 points more accurate.

    signal=0.1 with a market factor: Bayes-optimal accuracy 2.0 points above the best constant
    forecast; 20 tickers x 1500 days, 5-day labels at lag 1, ±1% band.
    """
    from features.prices.sources.synthetic import SyntheticMarket

    wins = []
    for seed in range(60):
        market = SyntheticMarket(tickers=20, days=1500, seed=seed, signal=0.1, factor=0.5)
        y = _synthetic_labels(market, horizon=5, lag=1, band=0.01)
        truth = market.class_probabilities(horizon=5, lag=1, band=0.01)
        probs = truth.pivot(index="date", columns="ticker")
        p = np.stack([probs[c].to_numpy() for c in ("p_down", "p_flat", "p_up")], axis=2)[: len(y)]
        prior = np.broadcast_to(p.mean(axis=0, keepdims=True), p.shape)  # each ticker's class frequencies
        res = diebold_mariano(_log_loss_rows(p, y), _log_loss_rows(prior, y), horizon=5)
        wins.append(res["p_value"] < 0.05 and res["mean_diff"] < 0)
    # Measured: 0.80 (binomial standard error 0.05 at 60 seeds).
    assert np.mean(wins) >= 0.65
