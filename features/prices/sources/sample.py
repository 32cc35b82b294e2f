"""The real prices bundled with the project in ``data/sample/prices.parquet``.

Provenance and licence: ``data/sample/README.md``. The file is found next to the source tree
(editable installs and checkouts); ``UPDOWN_SAMPLE_PATH`` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from features.prices.sources.base import DateLike, SourceError, select

DEFAULT_SAMPLE_PATH = Path(__file__).resolve().parents[3] / "data" / "sample" / "prices.parquet"


class SampleSource:
    """Reads the bundled sample: two US indices 1999-2018 and five US stocks 2000-2013, daily."""

    name = "sample"

    def __init__(self, path: Path | None = None) -> None:
        env = os.environ.get("UPDOWN_SAMPLE_PATH")
        self.path = Path(path) if path is not None else Path(env) if env else DEFAULT_SAMPLE_PATH

    def fetch(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        if not self.path.is_file():
            raise SourceError(
                f"source 'sample': bundled data not found at {self.path}; "
                "set UPDOWN_SAMPLE_PATH or regenerate it with scripts/make_sample_data.py"
            )
        return select(pd.read_parquet(self.path), tickers, start, end, name=f"sample:{self.path}")
