"""Small builders shared by tests (import as ``from tests.support import ...``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.dataset import DatasetConfig
from features.prices.sources import get_source
from models.learn.config import ModelConfig, TrainConfig

SYNTHETIC = "synthetic:tickers=4,days=450,seed=2,signal=1.0"  # 4 tickers, 2010-01-01..2011-09-23

TINY_MODEL = ModelConfig(units=(8, 4), dropout=0.1)
TINY_TRAIN = TrainConfig(epochs=2, batch_size=64, patience=1, seed=3)


def make_prices(closes: dict[str, list[float]], *, start: str = "2020-01-01", volume: float = 1000.0) -> pd.DataFrame:
    """A canonical frame from close paths: open=close, high/low 1% around it, adj_close=close."""
    rows = []
    for ticker, path in closes.items():
        for date, c in zip(pd.bdate_range(start, periods=len(path)), path, strict=True):
            rows.append((date, ticker, c, c * 1.01, c * 0.99, c, c, volume))
    return pd.DataFrame(rows, columns=["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"])


def train_champion(root: Path, *, source: str = SYNTHETIC, until: str = "2011-06-30") -> str:
    """Make ``root`` a data root holding only a tiny champion trained on ``source`` up to ``until``."""
    from models.serving.registry import save_model, set_champion
    from models.serving.scoring import train_production_model

    prices = get_source(source).fetch()
    prices = prices[prices["date"] <= until].reset_index(drop=True)
    fitted, meta = train_production_model(prices, DatasetConfig(timesteps=8), TINY_MODEL, TINY_TRAIN, verbose=0)
    model_id = save_model(root, fitted, meta)
    set_champion(root, model_id, reason="test")
    return model_id


def publish_daily(root: Path, tickers: list[str], *, as_of: str = "2020-01-02") -> Path:
    """Write a daily partition for ``as_of``: one row per ticker, probabilities (0.2, 0.3, 0.5) so ``up``."""
    from models.serving.predictions import prediction_frame, write_daily

    day = pd.Timestamp(as_of)
    keys = pd.DataFrame({"date": [day] * len(tickers), "ticker": tickers})
    probs = np.tile([0.2, 0.3, 0.5], (len(tickers), 1))
    return write_daily(root, day, prediction_frame(keys, probs, horizon=5, model_id="m-test"))
