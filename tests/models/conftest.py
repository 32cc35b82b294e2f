import pytest

from features.dataset import DatasetConfig, Panel, build_panel
from features.prices.sources.synthetic import SyntheticMarket


@pytest.fixture(scope="session")
def small_panel() -> Panel:
    """4 synthetic tickers x 400 days with a planted signal, 10-step windows."""
    prices = SyntheticMarket(tickers=4, days=400, seed=11, signal=0.8).fetch()
    return build_panel(prices, DatasetConfig(timesteps=10))
