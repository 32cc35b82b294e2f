"""The strategy's settings: defaults, inclusive bounds, and refusals naming the field."""

import pydantic
import pytest

from models.evaluation.config import StrategyConfig


def test_defaults():
    assert StrategyConfig().model_dump() == {
        "cost_bps": 5.0, "borrow_bps": 0.0, "risk_free": 0.0, "neutral": "demean", "portfolio": "demeaned",
        "topk": 10, "n_drop": 2, "quantiles": 5,
    }  # fmt: skip


def test_the_bounds_are_inclusive():
    edge = StrategyConfig(cost_bps=1000, borrow_bps=10000, risk_free=-0.1, neutral="none")
    assert (edge.cost_bps, edge.borrow_bps, edge.risk_free, edge.neutral) == (1000.0, 10000.0, -0.1, "none")
    assert StrategyConfig(cost_bps=0, risk_free=1.0).risk_free == 1.0


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cost_bps", -0.5, "greater than or equal to 0"),
    ("cost_bps", 1000.5, "less than or equal to 1000"),
    ("borrow_bps", -1, "greater than or equal to 0"),
    ("borrow_bps", 10001, "less than or equal to 10000"),
    ("risk_free", -0.11, "greater than or equal to -0.1"),
    ("risk_free", 1.01, "less than or equal to 1"),
    ("neutral", "long", "'demean' or 'none'"),
    ("cost", 5.0, "Extra inputs are not permitted"),
    ("topk", 0, "greater than or equal to 1"),
    ("n_drop", 0, "greater than or equal to 1"),
    ("quantiles", 1, "greater than or equal to 2"),
])  # fmt: skip
def test_bad_values_are_refused_naming_the_field(field, value, message):
    with pytest.raises(pydantic.ValidationError) as info:
        StrategyConfig(**{field: value})
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert message in error["msg"]
    assert field in str(info.value)


def test_settings_are_frozen():
    config = StrategyConfig()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.cost_bps = 1.0  # type: ignore[misc]
