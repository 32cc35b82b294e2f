"""4. Price store: reading 500 tickers x 20 years for a date range with :class:`features.prices.store.PriceStore`.

The store is filled once with ``PriceStore.write`` (timed once: it validates, locks and merges
ticker by ticker) from ``SyntheticMarket(tickers=500, days=5040)``. Reads of three ranges (the
whole 20 years, the last 5 years, the last year, which is about what the daily flow needs) are
interleaved with the same read done with bare ``pyarrow.dataset`` over the same files
(``to_table(filter=...).to_pandas()``), so the ratio shows what the store adds on top of Arrow.

Goal: a 500-ticker read of a date range <= 1 s (the headline is the whole 20 years; the shorter
ranges are reported alongside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import Figure, Scale, check_scale, ratios, result, side_by_side, synthetic_prices, timed

NAME = "store"
GOAL = "read 500 tickers x 20 years for a date range <= 1 s"

SIZES: dict[str, dict[str, int]] = {
    "full": {"tickers": 500, "days": 5040, "repeats": 5},
    "quick": {"tickers": 100, "days": 5040, "repeats": 3},
    "toy": {"tickers": 3, "days": 300, "repeats": 1},
}


def fill_store(root: Path, tickers: int, days: int) -> float:
    """Write a synthetic market into a store under ``root``; returns the seconds ``write`` took."""
    from features.prices.store import PriceStore

    prices = synthetic_prices(tickers, days)
    seconds, _ = timed(lambda: PriceStore(root).write(prices))
    return seconds


def run(*, scale: Scale = "full", repeats: int | None = None, root: Path | None = None) -> dict[str, Any]:
    """Measure; ``root`` reuses a store already filled with the size's market (see :func:`fill_store`)."""
    import pyarrow.dataset as ds

    from benchmarks.common import workspace
    from features.prices.store import PRICE_SCHEMA, PriceStore

    size = SIZES[check_scale(scale)]
    reps = repeats or size["repeats"]
    with workspace() as scratch:
        figures: dict[str, Figure] = {}
        if root is None:
            root = scratch / "data"
            figures["write_s"] = Figure("s", [fill_store(root, size["tickers"], size["days"])])
        store = PriceStore(root)
        names = store.tickers()
        last = store.read(names[:1])["date"].max()
        ranges = {"20y": None, "5y": last - pd.DateOffset(years=5), "1y": last - pd.DateOffset(years=1)}
        n_rows: dict[str, int] = {}
        for label, start in ranges.items():

            def via_store(start: pd.Timestamp | None = start) -> pd.DataFrame:
                return store.read(names, start=start, end=last)

            def via_arrow(start: pd.Timestamp | None = start) -> pd.DataFrame:
                paths = [str(store.path(t)) for t in names]
                cond = ds.field("date") <= last
                if start is not None:
                    cond = cond & (ds.field("date") >= start)
                return ds.dataset(paths, format="parquet", schema=PRICE_SCHEMA).to_table(filter=cond).to_pandas()

            n_rows[label] = len(via_store())
            t = side_by_side({"store": via_store, "arrow": via_arrow}, repeats=reps, warmup=False)
            figures[f"read_{label}_s"] = Figure("s", t["store"])
            figures[f"arrow_{label}_s"] = Figure("s", t["arrow"])
            figures[f"read_{label}_over_arrow_ratio"] = Figure("ratio", ratios(t["store"], t["arrow"]))
    head = figures["read_20y_s"].median
    return result(
        NAME,
        goal=GOAL,
        headline="read_20y_s",
        figures=figures,
        met=bool(head <= 1.0) if scale == "full" else None,
        params={"tickers": size["tickers"], "days": size["days"], "rows_read": n_rows, "repeats": reps},
        notes=["each file is read from the page cache after the first repeat (a warm read, as in a daily run)"],
    )
