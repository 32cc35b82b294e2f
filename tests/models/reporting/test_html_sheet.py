"""The tear sheet's HTML tables: the numbers of ``metrics.json`` formatted in their cells."""

from models.reporting.html_sheet import (
    autocorrelation_table,
    bayes_table,
    drawdown_table,
    ic_year_table,
    monthly_table,
    quintile_table,
    side_by_side,
    trading_table,
    yearly_table,
)


def test_side_by_side_skips_empty_parts():
    assert side_by_side("<p>a</p>", "", "<p>b</p>") == '<div class="row"><div><p>a</p></div><div><p>b</p></div></div>'


def test_yearly_table_one_column_per_variant_missing_years_na():
    returns = {"long_short": {"yearly": {"2020": 0.1234, "2021": -0.05}}, "long_only": {"yearly": {"2021": 0.2}}}
    out = yearly_table(returns)
    assert "<th>year</th><th>long/short</th><th>long only</th>" in out
    assert "<tr><td>2020</td><td>12.3%</td><td>n/a</td></tr><tr><td>2021</td><td>-5.0%</td><td>20.0%</td></tr>" in out


def test_monthly_table_has_twelve_months_per_year():
    out = monthly_table({"2020-02": 0.015, "2020-12": -0.0333})
    assert out.startswith('<div class="scroll"><table>')
    assert "<th>Jan</th><th>Feb</th>" in out
    assert "<th>Dec</th>" in out
    cells = ["2020", "n/a", "1.5%", *["n/a"] * 9, "-3.3%"]
    assert "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" in out


def test_drawdown_table_names_an_open_drawdown():
    out = drawdown_table([
        {"start": "2020-01-02", "trough": "2020-01-10", "recovery": "2020-02-03", "depth": -0.1234, "length": 22},
        {"start": "2020-03-02", "trough": "2020-03-20", "recovery": None, "depth": -0.05, "length": 1500},
    ])  # fmt: skip
    rows = [
        ["1", "2020-01-02", "2020-01-10", "2020-02-03", "-12.3%", "22"],
        ["2", "2020-03-02", "2020-03-20", "not yet", "-5.0%", "1,500"],
    ]
    assert "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows) in out


def test_trading_ic_quintile_and_autocorrelation_tables():
    trading = trading_table({"long_short": {"position_changes": 1234, "annual_turnover": 12.345, "exposure": 0.5}})
    assert "<tr><td>position changes (ticker-days)</td><td>1,234</td></tr>" in trading
    assert "<tr><td>turnover per year (x capital)</td><td>12.3</td></tr>" in trading
    assert "<tr><td>average gross exposure</td><td>50.0%</td></tr>" in trading
    assert "<tr><td>profit factor</td><td>n/a</td></tr>" in trading
    ic = ic_year_table({"2020": {"ic": 0.012345, "rank_ic": -0.02, "n_dates": 250}})
    assert "<tr><td>2020</td><td>0.0123</td><td>-0.0200</td><td>250</td></tr>" in ic
    quintiles = {"1": {"mean_return": -0.0012, "n": 100}, "5": {"mean_return": 0.0034, "n": 99}}
    quint = quintile_table({"quintile_returns": quintiles, "quintile_spread": 0.0046})
    assert "<tr><td>1</td><td>-0.12%</td><td>100</td></tr><tr><td>5</td><td>0.34%</td><td>99</td></tr>" in quint
    assert "<tr><td>5 - 1</td><td>0.46%</td><td></td></tr>" in quint
    auto = autocorrelation_table({"1": 0.9123, "5": 0.5})
    assert "<tbody><tr><td>1</td><td>0.912</td></tr><tr><td>5</td><td>0.500</td></tr></tbody>" in auto


def test_bayes_table_beside_the_model_and_the_captured_share():
    bayes = {"accuracy": 0.45, "accuracy_gap": -0.05, "log_loss": 1.0, "log_loss_gap": 0.0512,
             "realised_accuracy": 0.44, "realised_log_loss": 1.01, "rows": 2500, "captured_share": 0.25}  # fmt: skip
    out = bayes_table(bayes, {"accuracy": 0.4, "log_loss": 1.0512})
    assert "<tr><td>accuracy (expected)</td><td>40.0%</td><td>45.0%</td><td>-5.0%</td></tr>" in out
    assert "<tr><td>log-loss (expected)</td><td>1.051</td><td>1.000</td><td>0.051</td></tr>" in out
    assert "<tr><td>log-loss (realised labels)</td><td>1.051</td><td>1.010</td><td></td></tr>" in out
    assert "same 2,500 test rows" in out
    assert "The model captured 25.0% of the log-loss gain" in out
    assert "captured" not in bayes_table({**bayes, "captured_share": None}, {})
