"""The tear sheet's charts: each writes a PNG of its stated size; the same numbers give the same bytes."""

import struct
from pathlib import Path

import numpy as np
import pandas as pd

from models.reporting.sheet_plots import (
    plot_autocorrelation,
    plot_cost_sensitivity,
    plot_distribution,
    plot_equity_comparison,
    plot_exposure,
    plot_ic,
    plot_monthly_heatmap,
    plot_quintiles,
    plot_rolling_risk,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


def _returns(n: int = 80, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(0.0005, 0.01, n), index=pd.bdate_range("2021-01-04", periods=n))


def _monthly(values: list[float]) -> pd.DataFrame:
    table = pd.DataFrame(np.nan, index=[2021, 2022], columns=range(1, 13))
    table.loc[2021, 1 : len(values)] = values
    return table


def test_each_chart_is_a_png_of_its_figure_size(tmp_path: Path):
    r = _returns()
    dates = r.index
    daily = pd.DataFrame({"date": dates, "long_short_exposure": 1.0, "long_short_net_exposure": 0.1,
                          "long_short_short_exposure": 0.45})  # fmt: skip
    grid = pd.DataFrame({"variant": ["long_short"] * 2 + ["long_only"] * 2, "cost_bps": [0, 10] * 2,
                         "sharpe": [1.0, 0.5, 0.8, 0.6]})  # fmt: skip
    ic = pd.DataFrame({"rank_ic": np.linspace(-0.1, 0.1, len(r)), "ic_rolling": 0.02, "rank_ic_rolling": 0.03},
                      index=dates)  # fmt: skip
    quintiles = pd.DataFrame({"mean_return": [-0.002, -0.001, 0.0, 0.001, 0.002]}, index=[1, 2, 3, 4, 5])
    auto = pd.Series([0.9, 0.6, 0.3], index=[1, 5, 10])
    paths = {
        "heatmap": plot_monthly_heatmap(_monthly([0.01, -0.02, 0.005]), tmp_path / "heatmap.png"),
        "rolling": plot_rolling_risk(r, tmp_path / "rolling.png", windows={"1 month": 21}),
        "distribution": plot_distribution(r, tmp_path / "distribution.png"),
        "exposure": plot_exposure(daily, tmp_path / "exposure.png"),
        "costs": plot_cost_sensitivity(grid, tmp_path / "costs.png"),
        "ic": plot_ic(ic, tmp_path / "ic.png"),
        "quintiles": plot_quintiles(quintiles, tmp_path / "quintiles.png"),
        "decay": plot_autocorrelation(auto, tmp_path / "decay.png"),
        "equity": plot_equity_comparison({"a": r, "b": _returns(seed=1)}, tmp_path / "equity.png"),
    }
    assert {name: png_size(p) for name, p in paths.items()} == {
        "heatmap": (1000, 230),  # 0.45 inch per year + 1.4
        "rolling": (1000, 500),
        "distribution": (500, 360),
        "exposure": (1000, 280),
        "costs": (460, 320),
        "ic": (1000, 320),
        "quintiles": (460, 320),
        "decay": (460, 320),
        "equity": (1000, 450),
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.png" for name in paths)


def test_the_same_numbers_give_the_same_bytes_and_others_do_not(tmp_path: Path):
    first = plot_monthly_heatmap(_monthly([0.01, -0.02]), tmp_path / "a.png").read_bytes()
    again = plot_monthly_heatmap(_monthly([0.01, -0.02]), tmp_path / "b.png").read_bytes()
    other = plot_monthly_heatmap(_monthly([0.01, -0.03]), tmp_path / "c.png").read_bytes()
    assert first.startswith(PNG_SIGNATURE)
    assert first == again
    assert first != other


def test_charts_of_degenerate_input_still_draw(tmp_path: Path):
    empty = pd.DataFrame(np.nan, index=[2021], columns=range(1, 13))
    assert png_size(plot_monthly_heatmap(empty, tmp_path / "empty.png")) == (1000, 185)
    flat = pd.Series([0.0, 0.0], index=pd.bdate_range("2021-01-04", periods=2))
    assert png_size(plot_distribution(flat, tmp_path / "flat.png")) == (500, 360)
