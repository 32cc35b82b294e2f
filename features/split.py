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


def purged_train_mask_around(
    dates: np.ndarray,
    label_end: np.ndarray,
    calendar: pd.DatetimeIndex,
    *,
    test_start: pd.Timestamp,
    test_label_end: pd.Timestamp,
    embargo: int,
) -> np.ndarray:
    """Training samples on both sides of a test block in the middle of the data (purged k-fold).

    Kept before the block: labels ending strictly before :func:`embargo_cutoff` (as
    :func:`purged_train_mask`). Kept after it: samples whose decision date comes more than
    ``embargo`` trading days after the last test label ends, so their label windows, and the
    features right after the block that still echo the test labels' prices, stay out.

    Args:
        dates: datetime64 array (n_samples,) of decision dates.
        label_end: datetime64 array (n_samples,); NaT (unlabeled) is never usable.
        calendar: Sorted unique trading dates.
        test_start: First decision date of the test block.
        test_label_end: Latest ``label_end`` of the test block's samples.
        embargo: Trading days kept empty on each side of the test block's label windows.

    Returns:
        bool array (n_samples,).
    """
    before = purged_train_mask(label_end, calendar, test_start, embargo=embargo)
    pos = int(calendar.searchsorted(pd.Timestamp(test_label_end), side="right")) + embargo
    if pos >= len(calendar):
        return before
    labeled = ~np.isnat(np.asarray(label_end, dtype="datetime64[ns]"))
    return before | (np.asarray(pd.to_datetime(dates) >= calendar[pos]) & labeled)
