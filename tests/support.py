"""Small builders shared by tests (import as ``from support import ...``)."""

from __future__ import annotations

import pandas as pd

from models.lstm import ModelConfig
from models.training import TrainConfig

TINY_MODEL = ModelConfig(units=(8, 4), dropout=0.1)
TINY_TRAIN = TrainConfig(epochs=2, batch_size=64, patience=1, seed=3)


def make_prices(closes: dict[str, list[float]], *, start: str = "2020-01-01", volume: float = 1000.0) -> pd.DataFrame:
    """A canonical frame from close paths: open=close, high/low 1% around it, adj_close=close."""
    rows = []
    for ticker, path in closes.items():
        for date, c in zip(pd.bdate_range(start, periods=len(path)), path, strict=True):
            rows.append((date, ticker, c, c * 1.01, c * 0.99, c, c, volume))
    return pd.DataFrame(rows, columns=["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"])
