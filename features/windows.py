"""Sequence windows over one contiguous feature array, built lazily.

A sample is the ``timesteps`` rows of one ticker ending at a decision day. Windows never
cross tickers, never cross a gap in a ticker's history (pass segment codes,
:attr:`features.segments.Segments.codes`, as :func:`features.dataset.build_panel` does) and never
include a row with a missing feature. Memory stays proportional to rows x features: a
:class:`WindowSet` keeps the array once plus one int64 index per sample, and materialises
``(batch, timesteps, n_features)`` only for the rows asked for. Given a fitted
:class:`features.scaling.FeatureScaler`, it reads the raw feature matrix and normalises each
window as it is gathered, so no normalised copy of the whole matrix is ever made (training's
peak memory is then the panel itself plus the indices; BENCHMARKS.md, ``memory``). Each sample's ``(ticker, date)``
is the panel key of its end row (``panel.keys.iloc[ends]``).

A window may read some columns **relative to its last row** (``relative``, the level features of
:mod:`features.alpha`): each such column has the end row's value of a reference column subtracted,
so a window of log levels holds log ratios to the decision day. The transform belongs to the
:class:`WindowSet`, which every path (training batches, backtest prediction, daily scoring) reads
its windows from, so it is applied the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from features.scaling import FeatureScaler


def finite_rows(X: np.ndarray, *, block: int = 65_536) -> np.ndarray:
    """Bool (n_rows,): True where every feature of the row is finite (a block of rows at a time,
    so no full-size boolean matrix is made)."""
    out = np.empty(len(X), dtype=bool)
    for lo in range(0, len(X), block):
        out[lo : lo + block] = np.isfinite(X[lo : lo + block]).all(axis=1)
    return out


def run_lengths(ticker_codes: np.ndarray, finite_rows: np.ndarray) -> np.ndarray:
    """Length of the run of consecutive usable rows of one ticker ending at each row.

    Args:
        ticker_codes: int array (n_rows,) of ticker or segment codes, rows grouped by code in
            date order; a run restarts wherever the code changes.
        finite_rows: bool array (n_rows,), True where every feature of the row is usable.

    Returns:
        int64 array (n_rows,); 0 where the row itself is unusable.
    """
    codes = np.asarray(ticker_codes)
    ok = np.asarray(finite_rows, dtype=bool)
    n = len(codes)
    starts = np.ones(n, dtype=bool)  # a run starts at a usable row after a new code or an unusable row
    np.not_equal(codes[1:], codes[:-1], out=starts[1:])
    starts[1:] |= ~ok[:-1]
    starts &= ok
    # positions in int32 when they fit (a 2.5-million-row panel: 10 MB a temporary, not 20)
    kind = "int32" if n < 2**31 - 1 else "int64"
    run = np.where(starts, np.arange(n, dtype=kind), -1)
    np.maximum.accumulate(run, out=run)  # each row's run start
    np.subtract(np.arange(1, n + 1, dtype=kind), run, out=run)  # idx - start + 1
    run[~ok] = 0
    return run.astype("int64")


def window_end_mask(ticker_codes: np.ndarray, finite_rows: np.ndarray, *, timesteps: int) -> np.ndarray:
    """True where a full window of ``timesteps`` usable rows of one code (ticker or segment) ends at that row.

    Args:
        ticker_codes: int array (n_rows,) of ticker or segment codes (see :func:`run_lengths`).
        finite_rows: bool array (n_rows,), True where every feature of the row is usable.
        timesteps: window length in rows (>= 1).
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got timesteps={timesteps}")
    return run_lengths(ticker_codes, finite_rows) >= timesteps


class WindowSet:
    """Samples ``data[end - timesteps + 1 : end + 1]`` for each ``end`` in ``ends``.

    Args:
        data: float array (n_rows, n_features): raw features when ``scaler`` is given, else already
            normalised; shared, never copied.
        ends: int array (n_samples,) of row positions where each window ends.
        timesteps: window length.
        relative: ``(column, reference column)`` pairs: in every window, ``column`` has the
            window's last-row value of ``reference column`` subtracted (a column may be its own
            reference). Empty: windows are plain slices of ``data``.
        scaler: a fitted scaler applied to each gathered window (:meth:`FeatureScaler.normalise`:
            float32, NaN set to 0) before the relative columns; None takes ``data`` as it is.
    """

    def __init__(
        self,
        data: np.ndarray,
        ends: np.ndarray,
        *,
        timesteps: int,
        relative: Sequence[tuple[int, int]] = (),
        scaler: FeatureScaler | None = None,
    ) -> None:
        if data.ndim != 2:
            raise ValueError(f"data must have shape (n_rows, n_features), got data.shape={data.shape}")
        ends = np.asarray(ends, dtype="int64")
        if len(ends) and (ends.min() < timesteps - 1 or ends.max() >= len(data)):
            raise ValueError(f"ends must lie in [timesteps-1, n_rows), got {ends.min()}..{ends.max()}")
        if scaler is not None and len(scaler.mean_) != data.shape[1]:
            raise ValueError(f"scaler has {len(scaler.mean_)} features, data has {data.shape[1]}")
        self.data = data
        self.scaler = scaler
        self.ends = ends
        self.timesteps = timesteps
        self.relative = tuple((int(c), int(r)) for c, r in relative)
        bad = [p for p in self.relative if not (0 <= p[0] < data.shape[1] and 0 <= p[1] < data.shape[1])]
        if bad:
            raise ValueError(f"relative pairs must name columns of data (0..{data.shape[1] - 1}), got {bad}")
        self._columns = np.asarray([c for c, _ in self.relative], dtype="int64")
        self._references = np.asarray([r for _, r in self.relative], dtype="int64")
        self._offsets = np.arange(-timesteps + 1, 1, dtype="int64")

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_samples, timesteps, n_features) of the virtual tensor."""
        return (len(self.ends), self.timesteps, self.data.shape[1])

    def take(self, samples: np.ndarray | slice) -> np.ndarray:
        """Materialise the windows of ``samples``: array (len(samples), timesteps, n_features).

        Columns in ``relative`` hold their value minus the reference column's value on the
        window's last row.
        """
        rows = self.ends[samples][:, None] + self._offsets
        x = self.data[rows]  # fancy indexing: a new array, safe to change in place
        if self.scaler is not None:
            x = self.scaler.normalise(x)
        if len(self._columns):
            x[:, :, self._columns] -= x[:, -1:, self._references]
        return x

    def subset(self, samples: np.ndarray) -> WindowSet:
        """A WindowSet over the same data with only the given samples."""
        return WindowSet(
            self.data, self.ends[samples], timesteps=self.timesteps, relative=self.relative, scaler=self.scaler
        )
