"""How a backtest's predictions are traded: the strategy's settings, importable without pandas or SciPy.

Kept apart from :mod:`models.evaluation.strategy` so the CLI can build its options from these fields
(``updown backtest --cost-bps ...``) without loading the evaluation code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrategyConfig(BaseModel):
    """How the predictions are traded: costs, borrow, risk-free rate and how the long/short book is built.

    ``portfolio`` chooses the long/short book (:mod:`models.evaluation.portfolios`): ``demeaned`` (the
    default: the score demeaned per date, shaped by ``neutral``), ``topk`` (equal-weight long the ``topk``
    best scores, short the ``topk`` worst), ``topk_dropout`` (Qlib's TopkDropout on each side: at most
    ``n_drop`` names swapped per side and decision date) or ``quantile`` (long the top, short the bottom of
    ``quantiles`` score buckets). ``neutral`` applies to ``demeaned`` only; the others are dollar-neutral.
    """

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
    portfolio: Literal["demeaned", "topk", "topk_dropout", "quantile"] = Field(
        default="demeaned",
        description="long/short book: demeaned score (default), topk / bottom-k equal weight, "
        "topk_dropout (Qlib's TopkDropout: n_drop names swapped per side and date), "
        "or quantile (top minus bottom score quantile)",
    )
    topk: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="names per side of the topk and topk_dropout books (fewer tickers than 2*topk on a date: "
        "floor(n/2) per side)",
    )
    n_drop: int = Field(default=2, ge=1, le=1000, description="topk_dropout: names replaced per side and date")
    quantiles: int = Field(default=5, ge=2, le=100, description="quantile book: number of score buckets")

    @model_validator(mode="after")
    def _drop_within_book(self) -> StrategyConfig:
        if self.portfolio == "topk_dropout" and self.n_drop > self.topk:
            raise ValueError(f"n_drop must be <= topk, got n_drop={self.n_drop}, topk={self.topk}")
        return self
