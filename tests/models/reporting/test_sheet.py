"""The tear sheet as tidy rows, a variant's net returns, and the Bayes-optimal forecaster's figures."""

import math

import numpy as np
import pandas as pd
import pytest

from models.reporting.sheet import bayes_figures, net_returns, tearsheet_table

SHEET = {
    "returns": {
        "long_short": {
            "monthly": {"2020-01": 0.01, "2020-02": -0.02},
            "yearly": {"2020": -0.0102},
            "drawdowns": [{"start": "2020-02-03", "trough": "2020-02-10", "recovery": None, "depth": -0.03,
                           "length": 6}],
            "distribution": {"skew": 0.5, "var_95": -0.012},
        }
    },
    "trading": {"long_short": {"turnover": 0.4, "hit_rate": None}},
    "signal": {
        "ic_by_year": {"2020": {"ic": 0.05, "rank_ic": 0.04, "n_dates": 40}},
        "quintile_returns": {"1": {"mean_return": -0.001, "n": 8}, "5": {"mean_return": 0.002, "n": 8}},
        "quintile_spread": 0.003,
        "score_autocorrelation": {"1": 0.9},
    },
    "bayes": {"accuracy": 0.45, "captured_share": None},
}  # fmt: skip


def test_tearsheet_table_has_one_row_per_figure_in_a_fixed_order():
    table = tearsheet_table(SHEET)
    assert list(table.columns) == ["metric", "subject", "scope", "value"]
    rows = [(m, s, c, None if math.isnan(v) else v) for m, s, c, v in table.itertuples(index=False)]
    assert rows == [
        ("monthly_return", "long_short", "month=2020-01", 0.01),
        ("monthly_return", "long_short", "month=2020-02", -0.02),
        ("yearly_return", "long_short", "year=2020", -0.0102),
        ("drawdown_depth", "long_short", "drawdown=1", -0.03),
        ("drawdown_length", "long_short", "drawdown=1", 6.0),
        ("daily_skew", "long_short", "all", 0.5),
        ("daily_var_95", "long_short", "all", -0.012),
        ("turnover", "long_short", "all", 0.4),
        ("hit_rate", "long_short", "all", None),
        ("ic", "model", "year=2020", 0.05),
        ("rank_ic", "model", "year=2020", 0.04),
        ("quintile_return", "model", "quintile=1", -0.001),
        ("quintile_return", "model", "quintile=5", 0.002),
        ("quintile_spread", "model", "all", 0.003),
        ("score_autocorrelation", "model", "lag=1", 0.9),
        ("bayes_accuracy", "oracle", "all", 0.45),
        ("bayes_captured_share", "oracle", "all", None),
    ]
    assert table["value"].dtype == "float64"


def test_an_empty_sheet_is_an_empty_table():
    table = tearsheet_table({})
    assert table.empty
    assert list(table.columns) == ["metric", "subject", "scope", "value"]


def test_net_returns_index_a_variant_by_date():
    daily = pd.DataFrame({"date": pd.to_datetime(["2020-01-02", "2020-01-03"]), "long_short_net": [0.01, -0.005],
                          "long_only_net": [0.02, 0.0]})  # fmt: skip
    r = net_returns(daily, "long_short")
    pd.testing.assert_series_equal(
        r, pd.Series([0.01, -0.005], index=pd.DatetimeIndex(["2020-01-02", "2020-01-03"], name="date"))
    )


def test_bayes_figures_share_of_the_attainable_log_loss_gain():
    day = pd.Timestamp("2020-01-02")
    predictions = pd.DataFrame({"date": [day, day], "ticker": ["A", "B"], "label": ["up", "down"]})
    oracle = pd.DataFrame(
        {"date": [day, day], "ticker": ["A", "B"], "p_down": [0.2, 0.5], "p_flat": [0.3, 0.3], "p_up": [0.5, 0.2]}
    )
    out = bayes_figures(predictions, oracle, model_accuracy=0.5, model_log_loss=0.9, prior_log_loss=np.log(3))
    # the oracle gives each realised label 0.5: realised log-loss ln 2; the prior's ln 3
    assert out["realised_log_loss"] == pytest.approx(np.log(2))
    assert out["captured_share"] == pytest.approx((np.log(3) - 0.9) / (np.log(3) - np.log(2)))
    assert bayes_figures(predictions, oracle, model_accuracy=0.5, model_log_loss=0.9)["captured_share"] is None
