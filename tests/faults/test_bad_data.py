"""Bad price data from a user's folder (``dir:`` source) through the real update path.

Each case either gets a clear error naming the input or a documented handling (docs/faults.md):
invalid rows are rejected and reported, suspicious rows are flagged, and nothing already stored is lost.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dataset import DatasetConfig, build_panel
from features.prices.sources import get_source
from features.prices.store import PriceStore
from features.prices.update import update_store
from models.backtest.walkforward import plan_folds
from models.learn.config import WalkForwardConfig

TODAY = pd.Timestamp("2024-06-28").date()


def _write(folder: Path, ticker: str, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{ticker}.csv", index=False)


def _ohlcv(closes: list[float], *, start: str = "2024-01-02", volume: float = 1e6) -> pd.DataFrame:
    c = np.asarray(closes, dtype="float64")
    return pd.DataFrame(
        {
            "Date": pd.bdate_range(start, periods=len(c)).strftime("%Y-%m-%d"),
            "Open": c, "High": c * 1.01, "Low": c * 0.99, "Close": c, "Volume": volume,
        }
    )  # fmt: skip


def _update(tmp_path: Path, folder: Path, ticker: str):
    store = PriceStore(tmp_path / "root")
    report = update_store(get_source(f"dir:{folder}"), store, [ticker], today=TODAY)
    return store, report


def test_inf_huge_and_nonpositive_prices_are_rejected_and_named(tmp_path):
    frame = _ohlcv([10, 11, 12, 13, 14])
    frame.loc[1, "Close"] = np.inf
    frame.loc[2, "Close"] = 1e300
    frame.loc[2, "High"] = 1e300
    frame.loc[3, "Close"] = 0.0
    _write(tmp_path / "in", "BAD", frame)
    store, report = _update(tmp_path, tmp_path / "in", "BAD")
    rejected_dates = sorted({str(i.date)[:10] for i in report.rejected})
    assert "2024-01-03" in rejected_dates  # inf
    assert "2024-01-05" in rejected_dates  # zero close
    stored = store.read(["BAD"])
    assert np.isfinite(stored[["open", "high", "low", "close"]].to_numpy()).all()
    assert (stored["close"] > 0).all()
    # 1e300 is finite and positive: it is kept but flagged as a one-day move no split explains
    assert any(str(i.date)[:10] == "2024-01-04" for i in report.flagged)


def test_duplicated_and_unsorted_dates_are_handled(tmp_path):
    frame = _ohlcv([10, 11, 12, 13])
    frame = pd.concat([frame, frame.iloc[[2]]]).iloc[::-1]  # unsorted, with one duplicated date
    _write(tmp_path / "in", "DUP", frame)
    store, report = _update(tmp_path, tmp_path / "in", "DUP")
    stored = store.read(["DUP"])
    assert stored["date"].is_monotonic_increasing
    assert not stored["date"].duplicated().any()
    assert len(stored) == 4
    assert any("duplicate" in i.rule and str(i.date)[:10] == "2024-01-04" for i in report.rejected)


def test_all_nan_column_rejects_every_row_and_keeps_stored_data(tmp_path):
    _write(tmp_path / "in", "NANS", _ohlcv([10, 11, 12]))
    store, _ = _update(tmp_path, tmp_path / "in", "NANS")
    before = store.read(["NANS"])
    bad = _ohlcv([10, 11, 12, 13, 14])
    bad["Close"] = np.nan
    _write(tmp_path / "in", "NANS", bad)
    _, report = _update(tmp_path, tmp_path / "in", "NANS")
    assert len(report.rejected) >= 2  # the two new rows at least
    pd.testing.assert_frame_equal(store.read(["NANS"]).iloc[:3].reset_index(drop=True), before)


def test_constant_prices_and_zero_volume_are_flagged_not_fatal(tmp_path):
    _write(tmp_path / "in", "FLAT", _ohlcv([10.0] * 80, volume=0.0))
    store, report = _update(tmp_path, tmp_path / "in", "FLAT")
    assert any("stale" in i.rule for i in report.flagged)
    panel = build_panel(store.read(["FLAT"]), DatasetConfig(timesteps=5))
    # features stay finite (RSI of a flat path is defined as neutral) and every label is "flat"
    rows = panel.samples()
    assert len(rows) > 0
    assert np.isfinite(panel.X[rows]).all()
    assert set(panel.label[rows]) == {1}


def test_single_row_and_more_timesteps_than_history_give_a_clear_error(tmp_path):
    _write(tmp_path / "in", "ONE", _ohlcv([10.0]))
    store, _ = _update(tmp_path, tmp_path / "in", "ONE")
    panel = build_panel(store.read(["ONE"]), DatasetConfig(timesteps=30))
    with pytest.raises(ValueError, match="shorter than warm-up \\+ timesteps \\+ horizon"):
        plan_folds(panel, WalkForwardConfig())


def test_long_gap_cuts_windows_and_is_flagged(tmp_path):
    rng = np.random.default_rng(0)
    first = _ohlcv(list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))))
    second = _ohlcv(list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))), start="2024-09-02")
    _write(tmp_path / "in", "GAP", pd.concat([first, second]))
    store, report = _update(tmp_path, tmp_path / "in", "GAP")
    assert any("gap" in i.rule for i in report.flagged)
    cfg = DatasetConfig(timesteps=10)
    panel = build_panel(store.read(["GAP"]), cfg)
    dates = panel.dates
    gap_start = np.datetime64("2024-09-02")
    ends = np.flatnonzero(panel.window_ok)
    # no window ending after the gap reaches back before it
    for e in ends[dates[ends] >= gap_start]:
        assert dates[e - cfg.timesteps + 1] >= gap_start
