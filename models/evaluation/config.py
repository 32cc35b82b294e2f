"""How a backtest's predictions are traded: the strategy's settings, importable without pandas or SciPy.

Kept apart from :mod:`models.evaluation.strategy` so the CLI can build its options from these fields
(``updown backtest --cost-bps ...``) without loading the evaluation code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StrategyConfig(BaseModel):
    """How the predictions are traded: costs, borrow, risk-free rate and the long/short's neutrality."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cost_bps: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="cost per unit of one-way turnover, basis points (commission, spread, impact)",
    )
    borrow_bps: float = Field(
        default=0.0, ge=0, le=10000, description="cost of holding short positions, basis points of their size per year"
    )
    risk_free: float = Field(
        default=0.0,
        ge=-0.1,
        le=1.0,
        description="annual risk-free rate, a fraction; Sharpe, Sortino and alpha are in excess of it",
    )
    neutral: Literal["demean", "none"] = Field(
        default="demean",
        description="demean: the long/short is dollar-neutral (score demeaned per date); "
        "none: +1 up / -1 down / 0 flat, net exposure follows the calls",
    )
