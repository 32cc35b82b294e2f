import numpy as np
import pytest

from models.learn.calibration import apply_temperature, fit_temperature, undo_class_weights


def test_temperature_one_is_identity_and_ranking_is_kept():
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    np.testing.assert_allclose(apply_temperature(p, 1.0), p)
    hot = apply_temperature(p, 2.0)
    np.testing.assert_allclose(hot.sum(axis=1), 1.0)
    assert (hot.argmax(axis=1) == p.argmax(axis=1)).all()
    # T = 2 takes square roots before renormalising: 0.7**0.5 / (0.7**0.5 + 0.2**0.5 + 0.1**0.5)
    assert hot[0, 0] == pytest.approx(np.sqrt(0.7) / (np.sqrt(0.7) + np.sqrt(0.2) + np.sqrt(0.1)))


def test_fitted_temperature_flattens_overconfident_probabilities():
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 3, n)
    truth = np.full((n, 3), 0.2)
    truth[np.arange(n), y] = 0.6  # the right class gets 60%: the honest forecast
    overconfident = apply_temperature(truth, 0.4)  # sharpened by 1/0.4
    # sample labels from the honest forecast so it is calibrated
    labels = np.array([rng.choice(3, p=row) for row in truth])
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(1 / 0.4, rel=0.1)


def test_undoing_class_weights_restores_the_prior_shift():
    p = np.array([[0.25, 0.5, 0.25]])
    out = undo_class_weights(p, np.array([1.0, 2.0, 1.0]))  # flat was up-weighted x2 in training
    np.testing.assert_allclose(out, [[1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(undo_class_weights(p, None), p)
    with pytest.raises(ValueError, match="weights must be positive"):
        undo_class_weights(p, np.array([1.0, 0.0, 1.0]))
