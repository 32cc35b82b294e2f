"""SampleSource: the bundled sample prices."""

from pathlib import Path

import pytest

from features.prices.sources import SourceError, get_source
from features.prices.sources.sample import SampleSource


def test_sample_source_reads_the_bundled_file():
    out = get_source("sample").fetch(["^GSPC"], "2008-10-01", "2008-10-31")
    assert len(out) == 23  # trading days in October 2008
    assert out["close"].min() < 900 < out["close"].max()


def test_sample_source_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SourceError, match="bundled data not found"):
        SampleSource(tmp_path / "missing.parquet").fetch()
