import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.evaluation.metrics import reliability_table
from models.evaluation.strategy import VARIANTS
from models.reporting.plots import (
    equity_curves,
    plot_confusion_matrix,
    plot_equity,
    plot_reliability,
    plot_rolling_accuracy,
    rolling_accuracy,
)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def daily_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"date": pd.bdate_range("2023-01-02", periods=n)})
    for v in VARIANTS:
        frame[f"{v}_gross"] = rng.normal(0.0005, 0.01, n)
        frame[f"{v}_net"] = frame[f"{v}_gross"] - 0.0001
    return frame


def predictions_frame() -> pd.DataFrame:
    dates = np.repeat(pd.bdate_range("2023-01-02", periods=3).to_numpy(), 2)
    return pd.DataFrame(
        {
            "date": dates,
            "label": ["up", "down", "up", "flat", "down", "down"],
            "p_down": [0.1, 0.6, 0.5, 0.2, 0.7, 0.1],
            "p_flat": [0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
            "p_up": [0.7, 0.2, 0.3, 0.6, 0.1, 0.7],
        }
    )


def test_equity_curves_compound_and_draw_down():
    daily = pd.DataFrame({"date": pd.bdate_range("2023-01-02", periods=3)})
    for v in VARIANTS:
        daily[f"{v}_net"] = [0.1, -0.2, 0.05]
        daily[f"{v}_gross"] = [0.0, 0.0, 0.0]
    curves = equity_curves(daily)
    np.testing.assert_allclose(curves["long_short_equity"], [1.1, 0.88, 0.924])
    np.testing.assert_allclose(curves["long_short_drawdown"], [0.0, -0.2, 0.924 / 1.1 - 1])
    np.testing.assert_allclose(equity_curves(daily, net=False)["long_only_equity"], [1.0, 1.0, 1.0])


def test_rolling_accuracy_pools_tickers_per_date():
    preds = predictions_frame()
    # Hits per date: d0 (up/up, down/down) 2 of 2; d1 (down for up, up for flat) 0 of 2;
    # d2 (down/down, up for down) 1 of 2.
    acc = rolling_accuracy(preds, window=2, baselines={"always_down": np.tile([1.0, 0.0, 0.0], (6, 1))})
    assert np.isnan(acc["model"].iloc[0])
    np.testing.assert_allclose(acc["model"].iloc[1:], [2 / 4, 1 / 4])
    np.testing.assert_allclose(acc["always_down"].iloc[1:], [1 / 4, 2 / 4])
    with pytest.raises(ValueError, match="window"):
        rolling_accuracy(preds, window=0)


def test_each_plot_writes_a_png_of_the_requested_size(tmp_path: Path):
    preds = predictions_frame()
    y = np.array([2, 0, 2, 1, 0, 0])
    probs = preds[["p_down", "p_flat", "p_up"]].to_numpy()
    paths = {
        "equity": plot_equity(daily_frame(), tmp_path / "equity.png"),
        "confusion": plot_confusion_matrix([[5, 1, 0], [2, 3, 1], [0, 0, 4]], tmp_path / "confusion.png"),
        "reliability": plot_reliability(reliability_table(y, probs), tmp_path / "reliability.png"),
        "rolling": plot_rolling_accuracy(preds, tmp_path / "rolling.png", window=2),
    }
    sizes = {name: png_size(p) for name, p in paths.items()}
    assert sizes == {"equity": (1000, 600), "confusion": (500, 450), "reliability": (500, 500), "rolling": (1000, 400)}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "confusion.png",
        "equity.png",
        "reliability.png",
        "rolling.png",
    ]


def test_plots_are_deterministic_and_replace_files_atomically(tmp_path: Path):
    target = tmp_path / "cm.png"
    target.write_bytes(b"old")
    plot_confusion_matrix(np.eye(3, dtype=int) * 4, target)
    first = target.read_bytes()
    plot_confusion_matrix(np.eye(3, dtype=int) * 4, target)
    assert target.read_bytes() == first
    plot_confusion_matrix(np.ones((3, 3), dtype=int), target)
    assert target.read_bytes() != first
    with pytest.raises(ValueError, match="3x3"):
        plot_confusion_matrix(np.eye(2), target)
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temp file left behind
