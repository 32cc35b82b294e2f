"""The real prices bundled with the project in ``data/sample/prices.parquet``.

Provenance and licence: ``data/sample/README.md``. The file is found next to the source tree
(editable installs and checkouts); ``UPDOWN_SAMPLE_PATH`` points elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.dates import DateLike
from features.prices.sources.base import SourceError, select
from features.settings import Settings


class SampleSource:
    """Reads the bundled sample: two US indices 1999-2018 and five US stocks 2000-2013, daily."""

    name = "sample"

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else Settings.from_env().sample_path

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
