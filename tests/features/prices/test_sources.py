"""The source registry: specs it refuses (each source's own behaviour: tests/features/prices/sources/)."""

import pytest

from features.prices.sources import get_source


@pytest.mark.parametrize("spec", ["nope", "dir:", "yahoo:x", "synthetic:bogus=1", "synthetic:tickers=abc"])
def test_bad_specs_are_rejected_naming_them(spec):
    with pytest.raises(ValueError, match=r"source|synthetic"):
        get_source(spec)


def test_sample_specs_name_their_set():
    assert get_source("sample").name == "sample"
    assert get_source("SAMPLE:SP500").name == "sample:sp500"
