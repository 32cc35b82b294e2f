"""Train/test separation in time: purge and embargo.

A training sample is usable for a test period starting on ``test_start`` only if its label
window ended before it, with an embargo of ``embargo`` trading days in between::

    label_end  <  (the trading day ``embargo`` days before test_start)

so no training label overlaps the test period (purge) and the most recent, most correlated
samples are kept out as well (embargo, at least ``horizon`` days by default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def embargo_cutoff(calendar: pd.DatetimeIndex, test_start: pd.Timestamp, *, embargo: int) -> pd.Timestamp:
    """The date training labels must end before: ``embargo`` trading days before ``test_start``.

    Args:
        calendar: Sorted unique trading dates of the universe.
        test_start: First decision date of the test period.
        embargo: Trading days kept empty between the last training label and the test period.
    """
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0, got embargo={embargo}")
    pos = int(calendar.searchsorted(test_start))
    return calendar[pos - embargo] if pos - embargo >= 0 else calendar[0]


def purged_train_mask(
    label_end: np.ndarray, calendar: pd.DatetimeIndex, test_start: pd.Timestamp, *, embargo: int
) -> np.ndarray:
    """True for samples whose label ends strictly before :func:`embargo_cutoff`.

    Args:
        label_end: datetime64 array (n_samples,); NaT (unlabeled) is never usable.
        calendar: Sorted unique trading dates.
        test_start: First decision date of the test period.
        embargo: Trading days of embargo.
    """
    cutoff = embargo_cutoff(calendar, test_start, embargo=embargo)
    ends = pd.to_datetime(label_end)
    return np.asarray(~ends.isna() & (ends < cutoff))
