import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.barriers import first_touch
from features.frame import canonicalize
from features.labels import UNLABELED, LabelConfig, make_labels
from tests.support import make_prices

# Entry close 100 on day 0, then (open, high, low, close) of days 1..3; barriers at +-25%.
CASES = {
    "UP": [(100, 110, 95, 105), (105, 126, 104, 120), (120, 121, 70, 80)],  # upper on day 2 (lower later)
    "DOWN": [(100, 101, 74, 80), (80, 200, 79, 150), (150, 151, 149, 150)],  # lower on day 1
    "BOTH": [(100, 101, 99, 100), (100, 130, 70, 100), (100, 101, 99, 100)],  # both on day 2, open inside
    "GAPUP": [(130, 131, 70, 80), (80, 81, 79, 80), (80, 81, 79, 80)],  # both on day 1, opened above
    "GAPDN": [(60, 130, 55, 100), (100, 101, 99, 100), (100, 101, 99, 100)],  # both on day 1, opened below
    "EDGE": [(100, 125, 75, 100), (100, 125, 75, 100), (100, 125, 75, 100)],  # exactly on the barriers
    "QUIET": [(100, 110, 90, 100), (100, 110, 90, 100), (100, 110, 90, 100)],  # vertical barrier
}
EXPECTED = {  # label, deciding day
    "UP": (2, 2),
    "DOWN": (0, 1),
    "BOTH": (1, 2),
    "GAPUP": (2, 1),
    "GAPDN": (0, 1),
    "EDGE": (1, 3),
    "QUIET": (1, 3),
}


def _case_prices() -> pd.DataFrame:
    rows = []
    for ticker, days in CASES.items():
        bars = [(100.0, 100.0, 100.0, 100.0), *days]
        for date, (o, h, low, c) in zip(pd.bdate_range("2021-03-01", periods=4), bars, strict=True):
            rows.append((date, ticker, o, h, low, c, c, 1000.0))
    cols = ["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"]
    return canonicalize(pd.DataFrame(rows, columns=cols))


def test_first_barrier_touched_decides_with_the_documented_same_day_rule():
    prices = _case_prices()
    n = len(prices)
    out = first_touch(prices, horizon=3, lag=0, lower=np.full(n, -0.25), upper=np.full(n, 0.25))
    dates = pd.bdate_range("2021-03-01", periods=4)
    for ticker, (label, day) in EXPECTED.items():
        rows = out[(prices["ticker"] == ticker).to_numpy()]
        assert rows["label"].iloc[0] == label, ticker
        assert rows["touch_day"].iloc[0] == day, ticker
        assert rows["label_decided"].iloc[0] == dates[day], ticker
        assert (rows["label"].iloc[1:] == UNLABELED).all()  # the last h rows: no label, even if touched
        assert rows["label_decided"].iloc[1:].isna().all()


def test_barriers_use_split_adjusted_highs_and_lows():
    prices = _case_prices()
    up = (prices["ticker"] == "UP").to_numpy()
    after = up & (prices["date"] >= pd.Timestamp("2021-03-03")).to_numpy()  # a 2:1 split before day 2
    prices.loc[after, ["open", "high", "low", "close"]] /= 2
    n = len(prices)
    out = first_touch(prices, horizon=3, lag=0, lower=np.full(n, -0.25), upper=np.full(n, 0.25))
    assert out["label"][up].iloc[0] == 2
    assert out["touch_day"][up].iloc[0] == 2


def test_close_only_rows_touch_the_barriers_on_their_close():
    prices = _case_prices()
    prices[["open", "high", "low"]] = np.nan
    n = len(prices)
    out = first_touch(prices, horizon=3, lag=0, lower=np.full(n, -0.25), upper=np.full(n, 0.25))
    first = out.groupby(prices["ticker"].to_numpy()).head(1)
    pairs = zip(first["label"], first["touch_day"], strict=True)
    got = dict(zip(prices.loc[first.index, "ticker"], pairs, strict=True))
    # closes only: UP closes at 120 at most and GAPUP at 80 (inside +-25%), so the vertical barrier
    # decides; DOWN closes at 80 (inside) then 150, so its close crosses the upper barrier on day 2
    assert got == {**{t: (1, 3) for t in CASES}, "DOWN": (2, 2)}
    prices.loc[prices["ticker"] == "DOWN", "close"] = [100.0, 70.0, 150.0, 150.0]
    prices["adj_close"] = prices["close"]
    out = first_touch(prices, horizon=3, lag=0, lower=np.full(n, -0.25), upper=np.full(n, 0.25))
    assert tuple(out[(prices["ticker"] == "DOWN").to_numpy()].iloc[0][["label", "touch_day"]]) == (0, 1)


def test_lag_moves_the_entry_and_barriers_are_checked_from_the_next_day():
    prices = _case_prices()
    n = len(prices)
    out = first_touch(prices, horizon=2, lag=1, lower=np.full(n, -0.25), upper=np.full(n, 0.25))
    up = (prices["ticker"] == "UP").to_numpy()
    # entry at day 1's close (105): day 2 high 126 is +20% (no), day 3 low 70 is -33%: down on day 2 after entry
    assert out["label"][up].iloc[0] == 0
    assert out["touch_day"][up].iloc[0] == 2


def test_triple_barrier_scheme_with_sigma_from_the_past():
    prices = canonicalize(make_prices({"A": [100.0, 110.0, 99.0, 100.0, 124.0, 124.0, 124.0]}))
    cfg = LabelConfig(scheme="triple_barrier", horizon=3, lag=0, vol_window=2, profit_take=1.0, stop_loss=1.0)
    lab = make_labels(prices, cfg)
    # sigma_2 = std(log 1.1, log 0.9) = log(11/9)/sqrt(2); barrier = sigma * sqrt(3) = 24.6%.
    # From 99: day 1 high 101 (+2%), day 2 high 125.24 (+26.5%): up, decided on row 4.
    unit2 = np.log(11 / 9) / np.sqrt(2) * np.sqrt(3)
    unit3 = abs(np.log(0.9) - np.log(100 / 99)) / np.sqrt(2) * np.sqrt(3)
    np.testing.assert_allclose(lab["upper"].iloc[2:4], [unit2, unit3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lab["lower"].iloc[2:4], [-unit2, -unit3], rtol=0, atol=1e-12)
    assert list(lab["label"]) == [UNLABELED, UNLABELED, 2, 2, UNLABELED, UNLABELED, UNLABELED]
    assert lab["label_decided"].iloc[2] == prices["date"].iloc[4]
    assert lab["label_end"].iloc[2] == prices["date"].iloc[5]  # purging uses the vertical barrier
    assert lab["label_decided"].iloc[3] == prices["date"].iloc[4]
    assert lab["forward_return"].iloc[2] == 124 / 99 - 1  # the horizon return, as for every scheme


def _reference(prices: pd.DataFrame, horizon: int, lag: int, lower: np.ndarray, upper: np.ndarray) -> list[int]:
    """Row-by-row statement of the rule, for one ticker without gaps."""
    factor = (prices["adj_close"] / prices["close"]).to_numpy()
    o, h, low = (prices[c].to_numpy() * factor for c in ("open", "high", "low"))
    adj = prices["adj_close"].to_numpy()
    out = []
    for t in range(len(prices)):
        if t + lag + horizon >= len(prices):
            out.append(UNLABELED)
            continue
        p0, label = adj[t + lag], 1
        for d in range(1, horizon + 1):
            i = t + lag + d
            up, down = h[i] / p0 - 1 > upper[t], low[i] / p0 - 1 < lower[t]
            if up and down:
                label = 2 if o[i] / p0 - 1 > upper[t] else 0 if o[i] / p0 - 1 < lower[t] else 1
            elif up or down:
                label = 2 if up else 0
            if up or down:
                break
        out.append(label)
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 40), st.integers(1, 6), st.integers(0, 2), st.integers(0, 2**16))
def test_vectorised_barriers_match_the_row_by_row_rule(n, horizon, lag, seed):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    prices = canonicalize(make_prices({"A": list(c)}))
    prices["open"] = c * np.exp(rng.normal(0, 0.02, n))
    prices["high"] = np.maximum(prices["open"], c) * np.exp(np.abs(rng.normal(0, 0.02, n)))
    prices["low"] = np.minimum(prices["open"], c) * np.exp(-np.abs(rng.normal(0, 0.02, n)))
    prices["adj_close"] = c * np.where(np.arange(n) < n // 2, 0.9, 1.0)
    lower, upper = -rng.uniform(0.0, 0.08, n), rng.uniform(0.0, 0.08, n)
    out = first_touch(prices, horizon=horizon, lag=lag, lower=lower, upper=upper)
    assert out["label"].tolist() == _reference(prices, horizon, lag, lower, upper)
