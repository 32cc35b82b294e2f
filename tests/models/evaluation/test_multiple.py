"""Holm's correction and the Reality Check / SPA, checked against statsmodels and arch."""

import gc

import numpy as np
import pytest

from models.evaluation.multiple import holm, superior_predictive_ability


def test_holm_hand_example_and_statsmodels(monkeypatch: pytest.MonkeyPatch):
    # statsmodels' Holm runs gc.collect() on every call: 1-3 s each on the heap a full suite has built
    monkeypatch.setattr(gc, "collect", lambda generation=2: 0)
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 -> 4*0.01, 3*0.03, max(0.09, 2*0.04), max(0.09, 1*0.20)
    np.testing.assert_allclose(holm(p), [0.04, 0.09, 0.09, 0.20])
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.uniform(0, 0.2, rng.integers(1, 8))
        np.testing.assert_allclose(holm(q), multipletests(q, method="holm")[1], rtol=1e-12)
    out = holm(np.array([0.01, np.nan, 0.02]))
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.02])  # m = 2: NaN is not a test


def _losses(seed: int, t: int = 300, k: int = 4, edge: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 1, t)
    bench = 1.0 + 0.3 * common + rng.normal(0, 0.5, t)
    models = 1.0 + 0.3 * common[:, None] + rng.normal(0, 0.5, (t, k))
    models[:, 0] -= edge
    models[:, -1] += 0.2  # one clearly worse configuration: the lower and consistent p-values ignore it
    return bench, models


@pytest.mark.parametrize(("seed", "edge"), [(1, 0.0), (2, 0.08), (3, 0.2)])
def test_spa_matches_arch_on_the_same_bootstrap_draws(seed: int, edge: float):
    bootstrap = pytest.importorskip("arch.bootstrap")
    bench, models = _losses(seed, edge=edge)
    block, reps = 7, 400
    draws = bootstrap.StationaryBootstrap(block, np.zeros(len(bench)), seed=seed)
    indices = np.array([draws.index.copy() for _ in draws.bootstrap(reps)])
    ours = superior_predictive_ability(bench, models, block=block, indices=indices)
    spa = bootstrap.SPA(bench, models, block_size=block, reps=reps, seed=seed)
    spa.compute()
    for name in ("lower", "consistent", "upper"):
        assert ours[name] == spa.pvalues[name], name
    assert ours["statistic"] == pytest.approx(float((bench[:, None] - models).mean(axis=0).max()))
    assert ours["lower"] <= ours["consistent"] <= ours["upper"]


@pytest.mark.parametrize(("t", "seed"), [(50, 0), (50, 2), (97, 1), (200, 0)])
def test_spa_resamples_equal_to_the_sample_do_not_count_as_exceeding_it(t: int, seed: int):
    # Every resample a cyclic shift of the sample: the same mean in exact arithmetic, so no
    # resample exceeds the statistic. Rounding alone made 26-62% of them "exceed" it before ties
    # were recognised (these cases), and which ones depends on the CPU's summation order.
    rng = np.random.default_rng(seed)
    bench = rng.normal(1, 0.3, t)
    models = (bench + rng.normal(0.05, 0.2, t))[:, None]  # the configuration loses: statistic < 0
    shifts = np.array([np.roll(np.arange(t), s) for s in range(t)])
    out = superior_predictive_ability(bench, models, block=10, indices=shifts)
    assert out["statistic"] < 0
    assert out["lower"] == 0.0  # centre 0: each shift's mean equals the statistic
    assert out["upper"] == 1.0  # centre the mean: each shift sits at 0, above the negative statistic


def test_spa_rejects_a_real_edge_and_keeps_its_size_under_the_null():
    assert superior_predictive_ability(*_losses(5, edge=0.3), block=5, n_boot=500)["consistent"] < 0.01
    rejections = [
        superior_predictive_ability(*_losses(100 + s, t=200), n_boot=200, seed=s)["consistent"] < 0.1 for s in range(40)
    ]
    assert np.mean(rejections) <= 0.2  # 10% level, 40 draws: a correct test exceeds 20% with probability < 1%


def test_spa_edge_cases():
    out = superior_predictive_ability(np.zeros(3), np.zeros((3, 2)))
    assert np.isnan(out["consistent"])
    assert out["T"] == 3
    with pytest.raises(ValueError, match="one row per benchmark period"):
        superior_predictive_ability(np.zeros(5), np.zeros((4, 2)))
    one = superior_predictive_ability(np.zeros(50), np.random.default_rng(0).normal(0, 1, 50), n_boot=100)
    assert one["k"] == 1
    assert 0 <= one["upper"] <= 1
