"""CAPM attribution of a strategy's returns against a benchmark: beta, alpha, active returns."""

import math

import numpy as np
import pytest

from models.evaluation.attribution import active_returns, attribution, daily_rate

# r = 0.5 b + e with e uncorrelated with b (sum of e times b's deviations is 0): beta is exactly 0.5
BENCH = np.array([0.01, -0.01, 0.02, 0.0])
NOISE = np.array([0.003, 0.001, 0.001, 0.003])
RETURNS = 0.5 * BENCH + NOISE  # [0.008, -0.004, 0.011, 0.003]


def test_attribution_of_a_four_day_hand_example():
    a = attribution(RETURNS, BENCH)
    assert a["beta"] == pytest.approx(0.5)
    assert a["alpha"] == pytest.approx(252 * 0.002)  # the mean of NOISE, annualised
    # NOISE deviates +-0.001 from its mean: sd (ddof=1) 0.001 * sqrt(4/3), so alpha / sd = sqrt(3) per day
    assert a["residual_volatility"] == pytest.approx(0.001 * math.sqrt(4 / 3) * math.sqrt(252))
    assert a["active_sharpe"] == pytest.approx(math.sqrt(3 * 252))
    # r - b = [-0.002, 0.006, -0.009, 0.003]: mean -0.0005, squared deviations sum to 129e-6
    assert a["tracking_error"] == pytest.approx(math.sqrt(43e-6) * math.sqrt(252))
    assert a["information_ratio"] == pytest.approx(-0.0005 / math.sqrt(43e-6) * math.sqrt(252))
    assert a["correlation"] == pytest.approx(np.corrcoef(RETURNS, BENCH)[0, 1])


def test_active_returns_subtract_the_risk_free_rate_before_hedging():
    active, beta = active_returns(RETURNS, BENCH, risk_free=0.001)
    assert beta == pytest.approx(0.5)  # a constant shift changes no covariance
    np.testing.assert_allclose(active, (RETURNS - 0.001) - 0.5 * (BENCH - 0.001))
    np.testing.assert_allclose(active, NOISE - 0.0005)


def test_degenerate_inputs():
    active, beta = active_returns(np.array([0.01]), np.array([0.02]), risk_free=0.001)
    assert math.isnan(beta)
    np.testing.assert_allclose(active, [0.009])  # just the excess return
    flat = attribution(RETURNS, np.full(4, 0.001))
    assert flat["beta"] == 0.0  # a constant benchmark explains nothing
    assert math.isnan(flat["correlation"])
    assert flat["alpha"] == pytest.approx(252 * RETURNS.mean())
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(4,\)"):
        active_returns(np.zeros(3), np.zeros(4))


def test_daily_rate_compounds_to_the_annual_rate():
    assert daily_rate(0.0) == 0.0
    assert daily_rate(0.21, periods_per_year=2) == pytest.approx(0.1)  # 1.1 ** 2 = 1.21
    assert (1 + daily_rate(-0.05)) ** 252 == pytest.approx(0.95)


def test_attribution_of_a_hand_built_series():
    rng = np.random.default_rng(1)
    b = rng.normal(0.001, 0.01, 300)
    noise = rng.normal(0, 0.002, 300)
    r = 0.0004 + 2.0 * b + noise
    a = attribution(r, b)
    beta = np.cov(r, b)[0, 1] / np.var(b, ddof=1)
    assert a["beta"] == pytest.approx(beta)
    assert a["beta"] == pytest.approx(2.0, abs=0.05)
    active = r - beta * b
    assert a["alpha"] == pytest.approx(252 * active.mean())
    assert a["active_sharpe"] == pytest.approx(active.mean() / active.std(ddof=1) * math.sqrt(252))
    assert a["tracking_error"] == pytest.approx(np.std(r - b, ddof=1) * math.sqrt(252))
    assert a["information_ratio"] == pytest.approx(np.mean(r - b) / np.std(r - b, ddof=1) * math.sqrt(252))
    rf = daily_rate(0.05)
    assert (1 + rf) ** 252 == pytest.approx(1.05)
    excess_active, beta_rf = active_returns(r, b, risk_free=rf)
    np.testing.assert_allclose(excess_active, (r - rf) - beta_rf * (b - rf))
    hedged, one = active_returns(b, b)
    assert one == pytest.approx(1.0)
    assert np.ptp(hedged) == 0.0
