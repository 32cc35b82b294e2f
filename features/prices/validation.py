"""The validation policy for prices entering the store: reject what is wrong, flag what is odd.

Every frame a source returns goes through two steps before anything is written
(``docs/prices.md`` has the same table):

=================== ========== ================================================================
rule                action     a row ...
=================== ========== ================================================================
missing_price       rejected   has a NaN close or adj_close, or some but not all of open, high,
                               low NaN (all three NaN is allowed: a close-only source)
non_finite_price    rejected   has an infinite price
non_positive_price  rejected   has a price <= 0
high_low            rejected   breaks ``low <= open, close <= high`` (relative tolerance 1e-9;
                               not checked where open, high and low are NaN)
negative_volume     rejected   has a volume < 0 (NaN volume is allowed: "not reported")
duplicate_date      rejected   shares its (ticker, date) with another row: exact copies keep the
                               first and reject the rest; conflicting copies are all rejected
unsorted            rejected   is dated before a row that came earlier for its ticker
jump                flagged    moves ``adj_close`` (and ``close``, when the source reports
                               splits) by more than ``max_move`` in one row, unless a split on
                               that day explains it (the move divided out by the ratio is small)
stale               flagged    repeats the previous close, in a run of ``stale_days`` or more
                               equal closes
gap                 flagged    follows its ticker's previous row after more than
                               ``max_gap_days`` weekdays without a price
=================== ========== ================================================================

Rejected rows are dropped and reported (ticker, date, rule); flagged rows are written and
reported. Each row is reported once, for the first rule it breaks in the order above. Real
markets do move 40% in a day, go quiet and close for a week, so the suspicious rules never
drop data: they make it visible.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.frame import COLUMNS, OHLC_EXTRA, PRICE_COLUMNS, canonicalize, coerce

Action = Literal["rejected", "flagged"]

REJECT_RULES: tuple[str, ...] = (
    "missing_price",
    "non_finite_price",
    "non_positive_price",
    "high_low",
    "negative_volume",
    "duplicate_date",
    "unsorted",
)
FLAG_RULES: tuple[str, ...] = ("jump", "stale", "gap")


@dataclass(frozen=True)
class ValidationPolicy:
    """Thresholds of the suspicious-row rules.

    Attributes:
        max_move: Largest one-row move of a price, as a fraction (0.4 = 40%), not flagged.
        stale_days: Rows of equal close in a row from which the repeats are flagged.
        max_gap_days: Most weekdays without a price between two rows of a ticker not flagged.
    """

    max_move: float = 0.4
    stale_days: int = 5
    max_gap_days: int = 10

    def __post_init__(self) -> None:
        if not self.max_move > 0:
            raise ValueError(f"max_move must be > 0 (a fraction), got max_move={self.max_move!r}")
        if not self.stale_days >= 2:
            raise ValueError(f"stale_days must be >= 2, got stale_days={self.stale_days!r}")
        if not self.max_gap_days >= 1:
            raise ValueError(f"max_gap_days must be >= 1, got max_gap_days={self.max_gap_days!r}")


@dataclass(frozen=True)
class RowIssue:
    """One row that broke a rule: what was done with it and why."""

    ticker: str
    date: dt.date
    rule: str
    action: Action
    detail: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready: the date as ``YYYY-MM-DD``."""
        return {
            "ticker": self.ticker,
            "date": f"{self.date:%Y-%m-%d}",
            "rule": self.rule,
            "action": self.action,
            "detail": self.detail,
        }

    def __str__(self) -> str:
        return f"{self.ticker} {self.date:%Y-%m-%d} {self.rule} ({self.action}): {self.detail}"


@dataclass(frozen=True)
class ValidationResult:
    """Output of :func:`validate`: the rows fit to store and what was said about the rest."""

    clean: pd.DataFrame
    rejected: tuple[RowIssue, ...]
    flagged: tuple[RowIssue, ...]


class _Marks:
    """The first rule each row of a frame breaks, and what it saw ("" = none yet)."""

    def __init__(self, n_rows: int) -> None:
        self.rule = np.full(n_rows, "", dtype=object)
        self.detail = np.full(n_rows, "", dtype=object)

    @property
    def free(self) -> np.ndarray:
        """Rows that broke no rule so far (boolean mask)."""
        return np.asarray(self.rule == "", dtype=bool)

    def mark(self, rows: np.ndarray, name: str, describe: Callable[[int], str]) -> None:
        """Give rule ``name`` to the rows (a boolean mask or positions) that have none yet."""
        positions = np.flatnonzero(rows) if rows.dtype == bool else rows
        for i in positions:
            if self.rule[i] == "":
                self.rule[i], self.detail[i] = name, describe(int(i))

    def issues(self, frame: pd.DataFrame, action: Action, *, rows: np.ndarray) -> list[RowIssue]:
        """One :class:`RowIssue` per marked row of ``frame`` among ``rows`` (a boolean mask)."""
        hit = ~self.free & rows
        found = zip(frame["ticker"][hit], frame["date"][hit], self.rule[hit], self.detail[hit], strict=True)
        return [RowIssue(str(t), d.date(), str(r), action, str(x)) for t, d, r, x in found]


def reject_invalid(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[RowIssue]]:
    """Drop the rows that break the canonical contract and say which and why.

    Args:
        frame: Prices with the canonical columns (:data:`features.frame.COLUMNS`), in the
            source's order; dtypes are coerced.

    Returns:
        The remaining rows as a canonical frame (sorted; :func:`features.frame.validate_prices`
        holds for it) and one :class:`RowIssue` per rejected row, sorted by ticker and date.

    Raises:
        PriceDataError: when a canonical column is missing.
    """
    work = coerce(frame).reset_index(drop=True)
    marks = _Marks(len(work))
    _mark_bad_values(work, marks)
    _mark_duplicates(work, marks)
    alive = np.flatnonzero(marks.free)
    rows = work.iloc[alive]
    prior = rows.groupby("ticker")["date"].cummax().groupby(rows["ticker"]).shift()
    earlier = alive[(rows["date"] < prior).to_numpy()]
    marks.mark(earlier, "unsorted", lambda i: "dated before an earlier row of its ticker")

    issues = marks.issues(work, "rejected", rows=np.ones(len(work), dtype=bool))
    issues.sort(key=lambda issue: (issue.ticker, issue.date, issue.rule))
    return canonicalize(work.loc[marks.free]), issues


def _mark_bad_values(work: pd.DataFrame, marks: _Marks) -> None:
    """The rules about one row's values: missing, infinite, non-positive prices, high/low, volume."""
    prices = work.loc[:, list(PRICE_COLUMNS)].to_numpy(dtype="float64")
    op, hi, lo, cl, _ = prices.T
    volume = work["volume"].to_numpy(dtype="float64")
    nan = np.isnan(prices)
    extra = np.isin(PRICE_COLUMNS, OHLC_EXTRA)
    unreported = nan[:, extra].all(axis=1)  # a close-only row: open, high, low not reported
    missing = nan & ~(unreported[:, None] & extra)
    with np.errstate(invalid="ignore"):
        for mask, name, what in (
            (missing, "missing_price", "missing"),
            (np.isinf(prices), "non_finite_price", "infinite"),
            (prices <= 0, "non_positive_price", "<= 0"),
        ):
            marks.mark(mask.any(axis=1), name, functools.partial(_describe_columns, mask, what))
        tol = 1e-9 * np.abs(hi)
        inside = unreported | ((lo <= op + tol) & (lo <= cl + tol) & (op <= hi + tol) & (cl <= hi + tol))
        marks.mark(
            ~inside,
            "high_low",
            lambda i: f"need low <= open, close <= high; got {op[i]:g}/{hi[i]:g}/{lo[i]:g}/{cl[i]:g} (o/h/l/c)",
        )
        marks.mark(volume < 0, "negative_volume", lambda i: f"volume {volume[i]:g} < 0")


def _mark_duplicates(work: pd.DataFrame, marks: _Marks) -> None:
    """Rows sharing a (ticker, date) among those still alive: extra exact copies, or every conflicting one."""
    alive = np.flatnonzero(marks.free)
    rows = work.iloc[alive]
    copies = rows.duplicated(["ticker", "date"], keep=False).to_numpy()
    if not copies.any():
        return
    dup = rows.loc[copies]
    distinct = dup.drop_duplicates(list(COLUMNS)).groupby(["ticker", "date"]).size()
    conflict = pd.MultiIndex.from_frame(dup[["ticker", "date"]]).map(distinct).to_numpy() > 1
    extra = dup.duplicated(list(COLUMNS), keep="first").to_numpy()
    where = alive[copies]
    marks.mark(
        where[conflict],
        "duplicate_date",
        lambda i: "another row of this date has different values; every copy is rejected",
    )
    marks.mark(where[extra], "duplicate_date", lambda i: "exact copy of an earlier row; the first copy is kept")


def flag_suspicious(
    frame: pd.DataFrame,
    *,
    report: pd.Series | np.ndarray | None = None,
    events: pd.DataFrame | None = None,
    policy: ValidationPolicy | None = None,
) -> list[RowIssue]:
    """Flag jumps, stale runs and gaps in a valid canonical frame.

    Args:
        frame: A canonical frame that passed :func:`reject_invalid`: a ticker's whole known
            history (stored and new rows), so that the first new row is compared with the last
            stored one.
        report: Boolean mask over ``frame``'s rows: flag only these (the rows being written).
            None: all rows.
        events: Corporate actions (:data:`features.prices.sources.base.EVENT_COLUMNS`); their splits
            explain jumps. None: the source does not report them; then only ``adj_close``
            jumps are checked (a raw ``close`` moves at every split the source adjusted for).
        policy: Thresholds; None = :class:`ValidationPolicy` defaults.

    Returns:
        One :class:`RowIssue` per flagged row (the first rule it breaks), by ticker and date.
    """
    policy = policy or ValidationPolicy()
    if frame.empty:
        return []
    wanted = np.ones(len(frame), dtype=bool) if report is None else np.asarray(report, dtype=bool)
    same_ticker = (frame["ticker"] == frame["ticker"].shift()).to_numpy()
    marks = _Marks(len(frame))
    _mark_jumps(frame, marks, same_ticker=same_ticker, events=events, max_move=policy.max_move)

    close = frame["close"].to_numpy()
    repeat = same_ticker & (close == np.roll(close, 1))
    run_id = np.cumsum(~repeat)
    run_len = pd.Series(run_id).map(pd.Series(run_id).value_counts()).to_numpy()
    stale = repeat & (run_len >= policy.stale_days)
    marks.mark(stale, "stale", lambda i: f"close {close[i]:g} unchanged for {run_len[i]} rows in a row")

    days = frame["date"].to_numpy().astype("datetime64[D]")
    between = np.zeros(len(frame), dtype=np.int64)
    if len(frame) > 1:
        between[1:] = np.busday_count(days[:-1], days[1:]) - 1
    prev_date = frame["date"].shift()
    marks.mark(
        same_ticker & (between > policy.max_gap_days),
        "gap",
        lambda i: f"{between[i]} weekdays without a price since {prev_date.iloc[i]:%Y-%m-%d}",
    )
    return marks.issues(frame, "flagged", rows=wanted)


def _mark_jumps(
    frame: pd.DataFrame, marks: _Marks, *, same_ticker: np.ndarray, events: pd.DataFrame | None, max_move: float
) -> None:
    """One-row moves above ``max_move`` that no split of that day explains."""
    ratio = np.ones(len(frame))
    if events is not None and not events.empty:
        splits = events.loc[events["split_ratio"] != 1.0, ["ticker", "date", "split_ratio"]]
        splits = splits.drop_duplicates(["ticker", "date"], keep="last")
        joined = frame[["ticker", "date"]].merge(splits, on=["ticker", "date"], how="left")
        ratio = joined["split_ratio"].fillna(1.0).to_numpy()
    prev_date = frame["date"].shift()
    for col in ("adj_close", "close") if events is not None else ("adj_close",):
        price = frame[col].to_numpy()
        prev = np.roll(price, 1)
        move = price / prev - 1.0
        after_split = price * ratio / prev - 1.0
        jump = same_ticker & (np.abs(move) > max_move) & (np.abs(after_split) > max_move)

        def describe(i: int, col: str = col, move: np.ndarray = move) -> str:
            split = f" (a {ratio[i]:g}:1 split that day does not explain it)" if ratio[i] != 1.0 else ""
            return f"{col} moved {move[i]:+.1%} from {prev_date.iloc[i]:%Y-%m-%d}{split}"

        marks.mark(jump, "jump", describe)


def flag_with_history(
    clean: pd.DataFrame,
    *,
    history: pd.DataFrame | None = None,
    report: np.ndarray | None = None,
    events: pd.DataFrame | None = None,
    policy: ValidationPolicy | None = None,
) -> list[RowIssue]:
    """Flag suspicious rows of ``clean`` seen after the stored ``history`` they join.

    The suspicious rules need the context before a row (a jump from the last stored close, a
    gap since it), so ``clean`` is merged into ``history`` (on the same (ticker, date) the row
    of ``clean`` wins) and :func:`flag_suspicious` runs over the result, reporting only rows of
    ``clean``.

    Args:
        clean: Valid canonical rows (:func:`reject_invalid`'s first result).
        history: Already stored canonical prices of the same tickers; None or empty: none.
        report: Boolean mask over ``clean``'s rows: report only these (the rows being written:
            new or changed). None: every row of ``clean``.
        events: Corporate actions that explain jumps; see :func:`flag_suspicious`.
        policy: Thresholds; None = defaults.

    Returns:
        One :class:`RowIssue` per flagged row of ``clean``, by ticker and date.
    """
    new = np.ones(len(clean), dtype=bool) if report is None else np.asarray(report, dtype=bool)
    if history is None or history.empty:
        merged = clean
    else:
        tagged = pd.concat(
            [canonicalize(history).assign(_new=False), clean.assign(_new=new)], ignore_index=True
        ).drop_duplicates(["ticker", "date"], keep="last")
        tagged = tagged.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
        merged, new = tagged.drop(columns="_new"), tagged["_new"].to_numpy(dtype=bool)
    return flag_suspicious(merged, report=new, events=events, policy=policy)


def validate(
    frame: pd.DataFrame,
    *,
    history: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    policy: ValidationPolicy | None = None,
) -> ValidationResult:
    """Apply the whole policy to ``frame``: reject invalid rows, flag suspicious new ones.

    :func:`features.prices.update.update_store` takes the same two steps with an overlap check
    between them (:func:`reject_invalid`, then :func:`flag_with_history`).

    Args:
        frame: New prices with the canonical columns, in the source's order.
        history: Already stored canonical prices of the same tickers, the context of the
            suspicious rules (a jump from the last stored close, a gap since it). On the same
            (ticker, date) the new row wins.
        events: Corporate actions that explain jumps; see :func:`flag_suspicious`.
        policy: Thresholds; None = defaults.

    Returns:
        ``clean`` (the valid rows of ``frame``, canonical), ``rejected`` and ``flagged``.
    """
    clean, rejected = reject_invalid(frame)
    flagged = flag_with_history(clean, history=history, events=events, policy=policy)
    return ValidationResult(clean=clean, rejected=tuple(rejected), flagged=tuple(flagged))


def _describe_columns(mask: np.ndarray, what: str, row: int) -> str:
    return ", ".join(c for c, m in zip(PRICE_COLUMNS, mask[row], strict=True) if m) + f" {what}"
