"""cross_sectional_rank: percentile ranks within each date, ties averaged, NaN kept."""

import numpy as np
import pytest

from features.cross_section import cross_sectional_rank


def test_ranks_within_each_date() -> None:
    dates = np.array(["d1", "d1", "d1", "d2", "d2", "d3"])
    values = np.array([3.0, 1.0, 2.0, 5.0, 5.0, 7.0])

    ranks = cross_sectional_rank(values, dates)

    # d1: 1 < 2 < 3 -> 0, 0.5, 1; d2: a tie -> both average rank 1.5 of 2 -> 0.5; d3 alone -> 0.5
    np.testing.assert_allclose(ranks, [1.0, 0.0, 0.5, 0.5, 0.5, 0.5])


def test_nan_is_not_counted_and_stays_nan() -> None:
    dates = np.array([1, 1, 1])
    ranks = cross_sectional_rank(np.array([np.nan, 4.0, 2.0]), dates)
    assert np.isnan(ranks[0])
    np.testing.assert_allclose(ranks[1:], [1.0, 0.0])


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        cross_sectional_rank(np.array([1.0, 2.0]), np.array([1]))
