"""Incremental price updates: fetch only what the store lacks, check the overlap, validate, write.

:func:`update_store` is the one path by which prices enter the store (the flows' update task,
``updown prices update``). Per ticker:

1. **Plan** (:func:`plan_fetch`): nothing stored → fetch ``[start, end]``. Stored → fetch from
   the ``overlap_days``-th last stored day to ``end`` (and from ``start`` when it is before the
   first stored day); nothing when the stored range already covers ``[start, end]``.
2. **Fetch** every ticker first (tickers with the same window in one call), so that a source
   that cannot be reached raises :class:`~features.prices.sources.SourceUnavailableError` before
   anything is written. Failed tickers are reported, never fatal to the others.
3. **Check the overlap** (:func:`overlap_disagreement`): if a fetched ``adj_close`` or
   ``close`` differs from the stored one by more than ``rel_tolerance``, or the source reports
   a dividend or split the store has not seen (:func:`unseen_events`), the source has
   re-adjusted history: the ticker's full stored range is fetched again and replaces the file.
4. **Validate** (:mod:`features.prices.validation`): invalid rows are rejected, suspicious new or
   changed rows are flagged; both are in the report with ticker, date and rule.
5. **Write** under the ticker's lock, only when a row is new or changed: re-running the same
   update rewrites nothing. Dividends and splits go to ``<root>/events/<TICKER>.parquet``.

Sources without a notion of "incremental" (sample, synthetic, dir) take the same path: they
return the asked window like any other.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.dates import DateLike, check_not_future, check_range, parse_date
from features.frame import PRICE_COLUMNS, PriceDataError, canonicalize, empty_frame, validate_ticker
from features.prices.sources import PriceSource, get_source
from features.prices.sources.base import FetchResult, SourceError, SourceUnavailableError, canonical_events
from features.prices.store import PriceStore, StoreLockedError
from features.prices.validation import RowIssue, ValidationPolicy, flag_with_history, reject_invalid
from features.storage.layout import DataRoot
from features.storage.quarantine import CorruptFileError

Status = Literal["updated", "unchanged", "failed"]
_VALUES = [*PRICE_COLUMNS, "volume"]
_MAX_LOGGED_ISSUES = 50


@dataclass(frozen=True)
class TickerUpdate:
    """What an update did to one ticker.

    Attributes:
        ticker: The symbol.
        status: ``updated`` (rows written), ``unchanged`` or ``failed``.
        rows_added: Rows for dates the store did not have.
        rows_changed: Rows whose values differ from the stored ones.
        rows_removed: Stored dates the full refetch no longer has (removed with it).
        rows_rejected: Fetched rows that broke a rule and were not written.
        rows_flagged: Written rows that look suspicious.
        refetched_full: Whether the whole history was fetched again and rewritten.
        fetched: The window asked of the source, ``"YYYY-MM-DD..YYYY-MM-DD"`` (``earliest`` or
            ``latest`` for an open end); empty when nothing had to be fetched.
        reason: Why it failed, or why the history was refetched.
        quarantined: When its stored file was corrupt: which, and where it was moved (the
            store then held nothing for it, so the window fetched was that of a new ticker).
    """

    ticker: str
    status: Status
    rows_added: int = 0
    rows_changed: int = 0
    rows_removed: int = 0
    rows_rejected: int = 0
    rows_flagged: int = 0
    refetched_full: bool = False
    fetched: str = ""
    reason: str = ""
    quarantined: str = ""

    def __str__(self) -> str:
        note = f" ({self.quarantined})" if self.quarantined else ""
        if self.status == "failed":
            return f"{self.ticker}: failed: {self.reason}{note}"
        text = (
            f"{self.ticker}{note}: {self.status}, {self.rows_added} added, {self.rows_changed} changed"
            f"{f', {self.rows_removed} removed' if self.rows_removed else ''}, {self.rows_rejected} rejected, "
            f"{self.rows_flagged} flagged"
        )
        if self.refetched_full:
            text += f"; full history refetched: {self.reason}"
        return text + (f" (asked {self.fetched})" if self.fetched else " (up to date, nothing asked)")


@dataclass(frozen=True)
class UpdateReport:
    """The outcome of :func:`update_store`: per ticker, plus every rejected and flagged row."""

    source: str
    start: dt.date | None
    end: dt.date | None
    tickers: tuple[TickerUpdate, ...]
    rejected: tuple[RowIssue, ...] = ()
    flagged: tuple[RowIssue, ...] = ()

    @property
    def succeeded(self) -> list[str]:
        """Tickers that did not fail (updated or unchanged), sorted."""
        return sorted(t.ticker for t in self.tickers if t.status != "failed")

    @property
    def failures(self) -> dict[str, str]:
        """Failed ticker -> reason."""
        return {t.ticker: t.reason for t in self.tickers if t.status == "failed"}

    @property
    def changed_rows(self) -> dict[str, int]:
        """Rows added, changed or removed, per ticker that did not fail."""
        return {t.ticker: t.rows_added + t.rows_changed + t.rows_removed for t in self.tickers if t.status != "failed"}

    @property
    def all_failed(self) -> bool:
        """True when there were tickers and every one failed."""
        return bool(self.tickers) and not self.succeeded

    def failure_message(self) -> str:
        """One line per failed ticker, for an error or a log."""
        failed = self.failures
        lines = [f"source {self.source!r}: {len(failed)} of {len(self.tickers)} tickers failed:"]
        return "\n".join(lines + [f"  {t}: {reason}" for t, reason in failed.items()])

    def log_lines(self) -> list[tuple[int, str]]:
        """``(logging level, message)`` pairs: a summary, each ticker, then the row issues."""
        counts = {s: sum(t.status == s for t in self.tickers) for s in ("updated", "unchanged", "failed")}
        lines = [
            (
                logging.WARNING if counts["failed"] else logging.INFO,
                f"prices from {self.source}: {counts['updated']} updated, {counts['unchanged']} unchanged, "
                f"{counts['failed']} failed; {len(self.rejected)} rows rejected, {len(self.flagged)} flagged",
            )
        ]
        lines += [
            (logging.WARNING if t.status == "failed" or t.quarantined else logging.INFO, str(t)) for t in self.tickers
        ]
        issues = [*self.rejected, *self.flagged]
        lines += [(logging.WARNING, str(issue)) for issue in issues[:_MAX_LOGGED_ISSUES]]
        if len(issues) > _MAX_LOGGED_ISSUES:
            more = len(issues) - _MAX_LOGGED_ISSUES
            lines.append((logging.WARNING, f"... and {more} more rejected or flagged rows in the report"))
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (plain types, ISO dates)."""
        return {
            "source": self.source,
            "start": None if self.start is None else f"{self.start:%Y-%m-%d}",
            "end": None if self.end is None else f"{self.end:%Y-%m-%d}",
            "tickers": [asdict(t) for t in self.tickers],
            "failures": self.failures,
            "rejected": [i.to_dict() for i in self.rejected],
            "flagged": [i.to_dict() for i in self.flagged],
        }


def source_for(spec: str, *, root: str | Path) -> PriceSource:
    """The source a spec names, with yfinance's caches under ``<root>/cache/yfinance``."""
    if spec.strip().lower() == "yahoo":
        from features.prices.sources.yahoo import YahooSource

        return YahooSource(cache_dir=DataRoot(root).yfinance_cache)
    return get_source(spec)


def check_request(
    tickers: list[str] | None,
    start: DateLike | None,
    end: DateLike | None,
    *,
    today: dt.date,
) -> tuple[list[str] | None, pd.Timestamp | None, pd.Timestamp | None]:
    """Validate an update request before any path or request is built.

    Returns:
        The tickers (validated, duplicates removed; None stays None) and the parsed dates.

    Raises:
        ValueError: naming the argument and echoing the value: a bare string or empty list of
            tickers, a bad symbol, an unparsable date, ``start`` after ``end``, a future date.
    """
    names: list[str] | None = None
    if tickers is not None:
        if isinstance(tickers, str) or not isinstance(tickers, list | tuple):
            raise ValueError(f"tickers must be a list of symbols like ['AAPL'], got tickers={tickers!r}")
        names = list(dict.fromkeys(validate_ticker(t) for t in tickers))
        if not names:
            raise ValueError(f"tickers must name at least one symbol, got tickers={tickers!r}")
    lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
    check_range(lo, hi)
    check_not_future(lo, name="start", today=today)
    check_not_future(hi, name="end", today=today)
    return names, lo, hi


def plan_fetch(
    stored: pd.DatetimeIndex,
    *,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    overlap_days: int,
) -> tuple[pd.Timestamp | None, pd.Timestamp | None] | None:
    """The window to fetch for a ticker whose stored dates are ``stored`` (sorted).

    Returns:
        ``(lo, hi)`` (None = open end), or None when the stored range covers ``[start, end]``.
        A stored ticker is fetched from its ``overlap_days``-th last stored day (going forward)
        or up to its ``overlap_days``-th first (going back), so every fetch overlaps the store.
    """
    if stored.empty:
        return start, end
    backfill = start is not None and start < stored[0]
    forward = end is None or end > stored[-1]
    if not (backfill or forward):
        return None
    lo = start if backfill else stored[max(len(stored) - overlap_days, 0)]
    hi = end if forward else stored[min(overlap_days, len(stored)) - 1]
    return lo, hi


def overlap_disagreement(stored: pd.DataFrame, fetched: pd.DataFrame, *, rel_tolerance: float) -> str:
    """Why ``fetched`` rows contradict ``stored`` ones on the same dates ("" when they agree).

    Only ``adj_close`` and ``close`` count: a dividend re-adjusts every earlier ``adj_close``,
    a split every earlier price. Volume and intraday revisions are ordinary updates.
    """
    both = stored[["date", "adj_close", "close"]].merge(
        fetched[["date", "adj_close", "close"]], on="date", suffixes=("_old", "_new")
    )
    for col in ("adj_close", "close"):
        old, new = both[f"{col}_old"].to_numpy(), both[f"{col}_new"].to_numpy()
        rel = np.abs(new / old - 1.0)
        bad = np.flatnonzero(rel > rel_tolerance)
        if bad.size:
            i = bad[0]
            return (
                f"{col} of {both['date'].iloc[i]:%Y-%m-%d} was {old[i]:g}, the source now says {new[i]:g} "
                f"({new[i] / old[i] - 1:+.4%}; {bad.size} of {len(both)} overlapping days differ)"
            )
    return ""


def unseen_events(stored: pd.DataFrame, stored_events: pd.DataFrame, fetched_events: pd.DataFrame | None) -> str:
    """A dividend or split the store has not seen, dated after its first row ("" if none).

    Such an event re-adjusts every stored row before it, including rows outside the overlap.
    """
    if fetched_events is None or fetched_events.empty or stored.empty:
        return ""
    known = set(zip(stored_events["date"], stored_events["dividend"], stored_events["split_ratio"], strict=True))
    for row in fetched_events.itertuples(index=False):
        if row.date > stored["date"].iloc[0] and (row.date, row.dividend, row.split_ratio) not in known:
            what = f"split {row.split_ratio:g}:1" if row.split_ratio != 1.0 else f"dividend {row.dividend:g}"
            return f"the source reports a {what} on {row.date:%Y-%m-%d} that the store has not seen"
    return ""


def update_store(
    source: PriceSource,
    store: PriceStore,
    tickers: list[str] | None = None,
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
    overlap_days: int = 5,
    rel_tolerance: float = 1e-4,
    policy: ValidationPolicy | None = None,
    today: dt.date | None = None,
) -> UpdateReport:
    """Bring the store up to date with ``source`` for ``tickers`` over ``[start, end]``.

    Args:
        source: Any price source; one with ``fetch_report`` (Yahoo) reports per-ticker
            failures itself, for the others a failing group is retried ticker by ticker.
        store: The price store to update.
        tickers: Symbols; None = every ticker the source has (not for Yahoo).
        start: First day wanted (inclusive). None: a new ticker from the source's first day;
            a stored ticker from where it is.
        end: Last day wanted (inclusive); None = up to the latest the source has.
        overlap_days: Stored trading days fetched again to detect re-adjusted history.
        rel_tolerance: Largest relative difference of an overlapping ``adj_close``/``close``
            still taken as agreement.
        policy: Thresholds of the suspicious-row rules.
        today: The date after which ``start``/``end`` are "in the future" (default: today).

    Returns:
        An :class:`UpdateReport`. It never raises for a failed ticker; check ``all_failed``.

    Raises:
        ValueError: bad tickers or dates (see :func:`check_request`), before any request.
        SourceUnavailableError: the source cannot be reached; nothing was written.
    """
    if isinstance(overlap_days, bool) or not isinstance(overlap_days, int) or overlap_days < 1:
        raise ValueError(f"overlap_days must be an integer >= 1, got overlap_days={overlap_days!r}")
    if not rel_tolerance >= 0:
        raise ValueError(f"rel_tolerance must be >= 0, got rel_tolerance={rel_tolerance!r}")
    names, lo, hi = check_request(tickers, start, end, today=today or dt.date.today())
    canonical = getattr(source, "canonical_ticker", None)
    if names is not None and callable(canonical):
        names = list(dict.fromkeys(canonical(t) for t in names))

    # 1-2: plan and fetch everything before writing anything.
    if names is None:
        result = _fetch(source, None, lo, hi)
        names = sorted(set(result.prices["ticker"]) | set(result.failures))
        windows: dict[str, _Window | None] = dict.fromkeys(names, (lo, hi))
        fetched = dict.fromkeys(names, result)
    else:
        windows, fetched = _plan_and_fetch(source, store, names, lo, hi, overlap_days=overlap_days)

    # 3-5: per ticker, under its lock.
    settings = _Settings(lo, hi, rel_tolerance, policy or ValidationPolicy())
    outcomes: list[TickerUpdate] = []
    rejected: list[RowIssue] = []
    flagged: list[RowIssue] = []
    for name in names:
        outcome, bad, odd = _update_ticker(source, store, name, windows[name], fetched.get(name), settings=settings)
        outcomes.append(outcome)
        rejected += bad
        flagged += odd
    return UpdateReport(
        source=str(getattr(source, "name", type(source).__name__)),
        start=None if lo is None else lo.date(),
        end=None if hi is None else hi.date(),
        tickers=tuple(outcomes),
        rejected=tuple(rejected),
        flagged=tuple(flagged),
    )


_Window = tuple[pd.Timestamp | None, pd.Timestamp | None]


@dataclass(frozen=True)
class _Settings:
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    rel_tolerance: float
    policy: ValidationPolicy


def _plan_and_fetch(
    source: PriceSource,
    store: PriceStore,
    names: list[str],
    lo: pd.Timestamp | None,
    hi: pd.Timestamp | None,
    *,
    overlap_days: int,
) -> tuple[dict[str, _Window | None], dict[str, FetchResult]]:
    """Steps 1-2: each ticker's window (None: nothing to fetch), and one fetch per distinct window."""
    stored_dates = store.stored_dates(names)
    windows: dict[str, _Window | None] = {}
    groups: dict[_Window, list[str]] = defaultdict(list)
    for name in names:
        window = plan_fetch(stored_dates[name], start=lo, end=hi, overlap_days=overlap_days)
        windows[name] = window
        if window is not None:
            groups[window].append(name)
    fetched: dict[str, FetchResult] = {}
    for (a, b), group in groups.items():
        fetched.update(dict.fromkeys(group, _fetch(source, group, a, b)))
    return windows, fetched


def _update_ticker(
    source: PriceSource,
    store: PriceStore,
    name: str,
    window: _Window | None,
    got: FetchResult | None,
    *,
    settings: _Settings,
) -> tuple[TickerUpdate, list[RowIssue], list[RowIssue]]:
    """Steps 3-5 for one ticker, or why there is nothing to do; a failure is an outcome, not an error.

    A corrupt stored file was quarantined by the store when it was first read (it then counts as
    absent); the outcome says so in ``quarantined``.
    """
    bad: list[RowIssue] = []
    odd: list[RowIssue] = []
    if window is None or got is None:
        outcome = TickerUpdate(name, "unchanged")
    elif name in got.failures:
        outcome = TickerUpdate(name, "failed", fetched=_window_text(*window), reason=got.failures[name])
    else:
        try:
            outcome, bad, odd = _apply(source, store, name, got, asked=_window_text(*window), settings=settings)
        except (SourceError, StoreLockedError, PriceDataError, CorruptFileError) as exc:
            outcome = TickerUpdate(name, "failed", fetched=_window_text(*window), reason=str(exc))
    note = store.quarantined.get(name, "")
    return (replace(outcome, quarantined=note) if note else outcome), bad, odd


def _apply(
    source: PriceSource, store: PriceStore, name: str, result: FetchResult, *, asked: str, settings: _Settings
) -> tuple[TickerUpdate, list[RowIssue], list[RowIssue]]:
    """Steps 3-5 for one ticker, holding its lock from the read to the write."""
    rows, events = _rows_of(result, name)
    with store.lock(name):
        stored = store.read([name])
        stored_events = store.read_events(name)
        clean, rejected = reject_invalid(rows)
        reason = ""
        if not stored.empty:
            reason = overlap_disagreement(stored, clean, rel_tolerance=settings.rel_tolerance)
            reason = reason or unseen_events(stored, stored_events, events)
        if reason:
            asked, events, clean, rejected = _refetch_full(source, name, stored, reason=reason, settings=settings)
        if clean.empty and stored.empty:
            why = f"all {len(rejected)} fetched rows were rejected" if rejected else "the source returned no rows"
            return TickerUpdate(name, "failed", rows_rejected=len(rejected), fetched=asked, reason=why), rejected, []

        added, changed = _compare(stored, clean)
        removed = int((~stored["date"].isin(clean["date"])).sum()) if reason else 0
        known = None if events is None else canonical_events(pd.concat([stored_events, events], ignore_index=True))
        flagged = flag_with_history(
            clean, history=None if reason else stored, report=added | changed, events=known, policy=settings.policy
        )
        if reason:
            store.replace(name, clean)
        elif (added | changed).any():
            store.write(clean.loc[added | changed])
        if events is not None:
            store.write_events(name, events, replace=bool(reason))
    outcome = TickerUpdate(
        ticker=name,
        status="updated" if (added | changed).any() or removed else "unchanged",
        rows_added=int(added.sum()),
        rows_changed=int(changed.sum()),
        rows_removed=removed,
        rows_rejected=len(rejected),
        rows_flagged=len(flagged),
        refetched_full=bool(reason),
        fetched=asked,
        reason=reason,
    )
    return outcome, rejected, flagged


def _refetch_full(
    source: PriceSource, name: str, stored: pd.DataFrame, *, reason: str, settings: _Settings
) -> tuple[str, pd.DataFrame | None, pd.DataFrame, list[RowIssue]]:
    """Fetch a re-adjusted ticker's whole stored range again (and what was asked beyond it).

    Returns:
        The window asked, the events, the valid rows and the rejected ones.

    Raises:
        SourceError: the refetch failed or has no valid rows.
    """
    first, last = stored["date"].iloc[0], stored["date"].iloc[-1]
    lo = first if settings.start is None else min(first, settings.start)
    hi = None if settings.end is None else max(settings.end, last)
    again = _fetch(source, [name], lo, hi)
    if name in again.failures:
        raise SourceError(f"history was re-adjusted ({reason}) and the full refetch failed: {again.failures[name]}")
    rows, events = _rows_of(again, name)
    clean, rejected = reject_invalid(rows)
    if clean.empty:
        raise SourceError(f"history was re-adjusted ({reason}) but the full refetch has no valid rows")
    return _window_text(lo, hi), events, clean, rejected


def _fetch(
    source: PriceSource, tickers: list[str] | None, lo: pd.Timestamp | None, hi: pd.Timestamp | None
) -> FetchResult:
    """Ask ``source`` for a window; a source without ``fetch_report`` is split up on failure."""
    report = getattr(source, "fetch_report", None)
    if callable(report):
        result: FetchResult = report(tickers, lo, hi)
        return result
    try:
        return FetchResult(prices=canonicalize(source.fetch(tickers, lo, hi)))
    except SourceUnavailableError:
        raise
    except (SourceError, ValueError) as exc:  # PriceDataError is a ValueError
        if tickers is None:
            raise
        if len(tickers) == 1:
            return FetchResult(prices=empty_frame(), failures={tickers[0]: str(exc)})
    parts = [_fetch(source, [t], lo, hi) for t in tickers]
    failures = {k: v for part in parts for k, v in part.failures.items()}
    return FetchResult(prices=canonicalize(pd.concat([p.prices for p in parts], ignore_index=True)), failures=failures)


def _rows_of(result: FetchResult, name: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    rows = result.prices[result.prices["ticker"] == name]
    events = None if result.events is None else result.events[result.events["ticker"] == name]
    return rows, events


def _compare(stored: pd.DataFrame, clean: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``clean``'s rows: dates the store lacks, and dates whose values differ."""
    old = stored.set_index("date")[_VALUES]
    added = ~clean["date"].isin(old.index).to_numpy()
    changed = np.zeros(len(clean), dtype=bool)
    if (~added).any():
        new = clean.loc[~added].set_index("date")[_VALUES]
        before = old.loc[new.index]
        same = (new.to_numpy() == before.to_numpy()) | (new.isna().to_numpy() & before.isna().to_numpy())
        changed[np.flatnonzero(~added)] = ~same.all(axis=1)
    return added, changed


def _window_text(lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> str:
    return f"{'earliest' if lo is None else f'{lo:%Y-%m-%d}'}..{'latest' if hi is None else f'{hi:%Y-%m-%d}'}"
