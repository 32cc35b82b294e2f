"""The daily flow: update prices, score the as-of date with the champion, publish a partition.

Publishes ``<data root>/reports/daily/date=YYYY-MM-DD/predictions.parquet`` (replaced, never
duplicated, when re-run for the same date), with key-value metadata: model id, data
fingerprint, code version, creation time. When no ticker has a price on the as-of date
(weekend, holiday, data not yet published) it says so and publishes nothing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from prefect import flow

from features.frame import fingerprint
from features.indicators import feature_lookback
from features.sources.base import parse_date
from features.store import PriceStore
from flows.common import DEFAULT_SOURCE, code_version, data_root, run_logger, update_prices
from models.registry import load_model
from models.reports import write_daily
from models.scoring import score


def _lookback_days(features: tuple[str, ...], timesteps: int) -> int:
    """Calendar days of history to load before the as-of date.

    Recursive indicators (RSI, ATR, MACD) only match their full-history values after
    :func:`features.indicators.feature_lookback` rows, and the window needs ``timesteps`` more;
    trading days are turned into calendar days with room for weekends and holidays.
    """
    rows = feature_lookback(features) + timesteps
    return int(rows * 7 / 5) + 30


@flow(name="daily")
def daily_flow(
    as_of: dt.date | None = None,
    source: str = DEFAULT_SOURCE,
    tickers: list[str] | None = None,
    data_root_dir: str | None = None,
) -> str | None:
    """Score ``as_of`` (default: the latest stored trading day) with the champion model.

    Args:
        as_of: decision date; its close must be in the data.
        source: price source spec.
        tickers: symbols to score (default: the tickers the champion was trained on).
        data_root_dir: data root (default ``$UPDOWN_DATA_ROOT`` or ``./data``).

    Returns:
        The published partition's path, or None when there was nothing new to publish.
    """
    logger = run_logger()
    root = data_root(data_root_dir)
    loaded = load_model(root)
    names = tickers or list(loaded.metadata["tickers"])
    day = parse_date(as_of, name="as_of")
    lookback = pd.Timedelta(days=_lookback_days(loaded.features, loaded.timesteps))
    start = None if day is None else day - lookback
    update_prices(source, names, start, day, str(root))
    prices = PriceStore(root).read(names, end=day)
    if prices.empty:
        raise ValueError(f"no stored prices for tickers={names} up to as_of={as_of}")
    day = day or prices["date"].max()
    missing = sorted(set(names) - set(prices.loc[prices["date"] == day, "ticker"]))
    if len(missing) == len(names):
        logger.warning(
            "nothing new: no ticker has a price on %s (market closed or data not yet published); nothing published",
            f"{day:%Y-%m-%d}",
        )
        return None
    if missing:
        logger.warning("no price on %s for %s; they are not scored", f"{day:%Y-%m-%d}", missing)
    window = prices[prices["date"] >= day - lookback]
    frame = score(loaded, window.reset_index(drop=True), day)
    if frame.empty:
        raise ValueError(f"not enough history before {day:%Y-%m-%d} to fill a {loaded.timesteps}-day window")
    path = write_daily(
        root, day, frame,
        metadata={
            "model_id": loaded.model_id,
            "data_fingerprint": fingerprint(window),
            "code_version": code_version(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )  # fmt: skip
    logger.info("published %d predictions for %s to %s", len(frame), f"{day:%Y-%m-%d}", path)
    return str(path)
