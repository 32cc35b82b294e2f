"""Yahoo Finance through yfinance: the only code in the project that talks to Yahoo.

:class:`YahooSource` downloads daily bars one ticker at a time with
``yf.Ticker(symbol, session=...).history(auto_adjust=False, actions=True, ...)`` and returns
the canonical frame (:mod:`features.frame`): Yahoo's ``close`` as ``close`` and its
``adjclose`` as ``adj_close``, dates as the exchange-local trading day (naive), plus the
dividends and splits of the range. Today's bar is dropped while the exchange is still open.

Two entry points: :meth:`YahooSource.fetch_report` (what the incremental update uses) returns
the good tickers' rows, unvalidated, their events, and each failed ticker with its reason, so one
bad ticker never sinks the others; :meth:`YahooSource.fetch` (the ``PriceSource`` protocol) is
the same call made all or nothing. Bad input raises ``ValueError`` before any request; a Yahoo
that cannot be reached at all, after bounded retries with backoff and jitter, raises
:class:`~features.prices.sources.base.SourceUnavailableError` (suggesting ``--source sample``).

yfinance keeps process-wide state (one ``YfData`` singleton holding the HTTP session, cookie
and crumb; one config object; sqlite caches). A fetch sets what it needs for the duration of
the call and restores the config afterwards, so two sources must not fetch concurrently in one
process. See ``docs/yahoo.md`` for the yfinance 1.7 facts this module relies on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import requests
import yfinance as yf
import yfinance.cache as yf_cache
from curl_cffi import requests as curl_requests
from yfinance.data import YfData
from yfinance.exceptions import (
    YFPricesMissingError,
    YFRateLimitError,
    YFTickerMissingError,
    YFTzMissingError,
)

from features.dates import DateLike, check_range, parse_date
from features.frame import canonicalize, empty_frame, validate_ticker
from features.prices.sources.base import (
    FetchResult,
    SourceError,
    SourceUnavailableError,
    canonical_events,
    empty_events,
    select,
    still_forming,
)
from features.prices.validation import reject_invalid

log = logging.getLogger(__name__)

# Exceptions that mean "the request never got an HTTP answer". yfinance 1.7 talks through
# curl_cffi by default and through requests when a requests.Session is injected; HTTPError
# (an answer with a bad status) is deliberately absent: it is a per-ticker failure.
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    curl_requests.exceptions.ConnectionError,  # includes DNSError, SSLError, ConnectTimeout
    curl_requests.exceptions.Timeout,
    curl_requests.exceptions.ProxyError,
    requests.exceptions.ConnectionError,  # includes ProxyError, SSLError, ConnectTimeout
    requests.exceptions.Timeout,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)
_HTTP_ERRORS: tuple[type[BaseException], ...] = (
    curl_requests.exceptions.HTTPError,
    requests.exceptions.HTTPError,
)

_YAHOO_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
FailureKind = Literal["missing", "unreachable", "rate_limited", "error"]


@dataclass(frozen=True)
class _Failure:
    kind: FailureKind
    reason: str


class _TimeoutCappedSession(curl_requests.Session):
    """The default transport: yfinance's own choice (curl_cffi, Chrome impersonation) with
    every request's timeout capped, because yfinance hard-codes 30 s for its cookie fetches."""

    def __init__(self, *, timeout_cap_s: float) -> None:
        super().__init__(impersonate="chrome")
        self._timeout_cap_s = timeout_cap_s

    def request(self, method: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        timeout = kwargs.get("timeout")
        if not isinstance(timeout, int | float) or timeout > self._timeout_cap_s:
            kwargs["timeout"] = self._timeout_cap_s
        return super().request(method, url, *args, **kwargs)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class YahooSource:
    """Daily prices from Yahoo Finance (production source; needs network).

    Args:
        session: HTTP session handed to ``yf.Ticker(..., session=session)``. yfinance 1.7
            accepts a ``curl_cffi.requests.Session`` or a ``requests.Session`` (or a
            subclass: tests inject a fake one). None: a curl_cffi session with Chrome
            impersonation (what yfinance would build) whose timeouts are capped at
            ``request_timeout_s``.
        cache_dir: Folder for yfinance's sqlite caches (ticker time zones, cookie, ISIN); the
            flows pass ``<data root>/cache/yfinance``. None: yfinance's default
            (``platformdirs.user_cache_dir()/py-yfinance``).
        max_wait_s: Budget in seconds for retrying one fetch: no retry starts, and no backoff
            sleep is taken, that would end later than ``max_wait_s`` after the fetch began.
            Worst case wall time is this plus one attempt's requests.
        retries: Retries per ticker after a network error or HTTP 429, each after an
            exponential backoff ``backoff_s * 2**k`` with ``±50 %`` jitter.
        backoff_s: First backoff delay in seconds.
        request_timeout_s: Timeout of each HTTP request yfinance makes for prices (and, for
            the default session, the cap on every request).
        rate_limit_cooldown_s: After a ticker stays rate limited through its retries, no
            request is sent for this many seconds (by ``clock``): further tickers, and later
            fetches of this source, fail at once with "not tried".
        close_grace_minutes: Today's bar is kept only from this long after the exchange's
            regular session ended (late prints and the closing auction settle meanwhile).
        sleep: Called with seconds to wait between retries (tests pass a recorder).
        clock: Monotonic seconds, read to enforce ``max_wait_s`` (tests pass a fake clock).
        now: Wall-clock time, time-zone aware, to tell whether today's bar is final.
        rng: Source of the backoff jitter.
    """

    name: str = "yahoo"

    def __init__(
        self,
        *,
        session: Any = None,
        cache_dir: Path | None = None,
        max_wait_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        request_timeout_s: float = 10.0,
        rate_limit_cooldown_s: float = 300.0,
        close_grace_minutes: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = _utc_now,
        rng: random.Random | None = None,
    ) -> None:
        for option, value, low in (
            ("max_wait_s", max_wait_s, 0.0),
            ("rate_limit_cooldown_s", rate_limit_cooldown_s, 0.0),
            ("close_grace_minutes", close_grace_minutes, 0.0),
        ):
            if not value >= low:
                raise ValueError(f"{option} must be >= {low:g}, got {option}={value!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got retries={retries!r}")
        if not backoff_s > 0:
            raise ValueError(f"backoff_s must be > 0 seconds, got backoff_s={backoff_s!r}")
        if not request_timeout_s > 0:
            raise ValueError(f"request_timeout_s must be > 0 seconds, got request_timeout_s={request_timeout_s!r}")
        self._session = session
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_wait_s = float(max_wait_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.request_timeout_s = float(request_timeout_s)
        self.rate_limit_cooldown_s = float(rate_limit_cooldown_s)
        self.close_grace = pd.Timedelta(minutes=close_grace_minutes)
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._rng = rng if rng is not None else random.Random()
        self._quiet_until: float | None = None  # no requests before this clock() time

    @staticmethod
    def canonical_ticker(symbol: str) -> str:
        """The symbol as Yahoo (and so the store) spells it: validated, upper case."""
        return validate_ticker(symbol).upper()

    def fetch(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """Canonical daily prices for ``tickers`` between ``start`` and ``end`` inclusive.

        Args:
            tickers: Symbols as Yahoo spells them (``AAPL``, ``^GSPC``, ``BHP.AX``); they are
                upper-cased like yfinance does. Required: Yahoo has no "all tickers".
            start: First day (inclusive); None = as far back as Yahoo has data.
            end: Last day (inclusive); None = up to the last closed session.

        Returns:
            The canonical frame, sorted by ``(ticker, date)``. Rows that break the contract
            (:func:`features.prices.validation.reject_invalid`) are dropped with a logged warning.

        Raises:
            ValueError: for missing or bad ``tickers`` or bad dates, before any request.
            SourceUnavailableError: Yahoo could not be reached at all.
            SourceError: some tickers failed; the message lists each with its reason.
        """
        result = self.fetch_report(tickers, start, end)
        symbols = _check_tickers(tickers)
        if result.failures:
            raise SourceError(_failure_message(symbols, result.failures))
        clean, rejected = reject_invalid(result.prices)
        for issue in rejected:
            log.warning("yahoo: dropping %s", issue)
        return select(clean, symbols, start, end, name="yahoo")

    def fetch_report(
        self,
        tickers: list[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> FetchResult:
        """Prices of the tickers that worked, their dividends and splits, and why others failed.

        Same arguments as :meth:`fetch`. Once a ticker ends unreachable or rate limited, the
        remaining tickers are not tried (each reported as such): every further request would
        meet the same wall.

        Returns:
            A :class:`~features.prices.sources.base.FetchResult` whose ``prices`` are canonical but
            unvalidated (a NaN bar is still there, for the caller's validation to report),
            cut to ``[start, end]``, without today's bar while the exchange is open.

        Raises:
            ValueError: for missing or bad ``tickers`` or bad dates, before any request.
            SourceUnavailableError: the first ticker found Yahoo unreachable after retries.
        """
        symbols = _check_tickers(tickers)
        lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
        check_range(lo, hi)
        began = self._clock()
        if self._quiet_until is not None and began < self._quiet_until:
            wait = self._quiet_until - began
            reason = f"not tried: Yahoo rate limited this process; quiet for another {wait:.0f}s"
            return FetchResult(prices=empty_frame(), events=empty_events(), failures=dict.fromkeys(symbols, reason))

        prices, events, failures = self._fetch_each(symbols, lo, hi, deadline=began + self.max_wait_s)
        first = failures.get(symbols[0])
        if first is not None and first.kind == "unreachable":
            raise SourceUnavailableError(
                f"source 'yahoo' could not reach Yahoo Finance ({first.reason}; gave up "
                f"after {self._clock() - began:.1f}s); nothing was written. Check the "
                f"network, or use --source sample for offline use."
            )
        return FetchResult(
            prices=canonicalize(pd.concat(prices, ignore_index=True)) if prices else empty_frame(),
            events=canonical_events(pd.concat(events, ignore_index=True)) if events else empty_events(),
            failures={symbol: failure.reason for symbol, failure in failures.items()},
        )

    def _fetch_each(
        self, symbols: list[str], lo: pd.Timestamp | None, hi: pd.Timestamp | None, *, deadline: float
    ) -> tuple[list[pd.DataFrame], list[pd.DataFrame], dict[str, _Failure]]:
        """Bars and events of each symbol in turn, and the failures; after a symbol that found
        Yahoo unreachable or rate limited, the rest are not tried."""
        prices: list[pd.DataFrame] = []
        events: list[pd.DataFrame] = []
        failures: dict[str, _Failure] = {}
        with self._yfinance_configured() as session:
            for i, symbol in enumerate(symbols):
                got = self._bars_of(symbol, lo, hi, session=session, deadline=deadline)
                if not isinstance(got, _Failure):
                    prices.append(got[0])
                    events.append(got[1])
                    continue
                failures[symbol] = got
                if got.kind in ("unreachable", "rate_limited"):
                    failures.update(self._give_up(symbol, got, symbols[i + 1 :]))
                    break
        return prices, events, failures

    def _bars_of(
        self, symbol: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None, *, session: Any, deadline: float
    ) -> tuple[pd.DataFrame, pd.DataFrame] | _Failure:
        """One symbol's canonical bars in ``[lo, hi]`` and its events, or why there are none."""
        result = self._fetch_one(symbol, lo, hi, session=session, deadline=deadline)
        if isinstance(result, _Failure):
            return result
        try:
            bars, actions = self._to_canonical(*result, symbol)
        except SourceError as exc:  # an answer we cannot map: this ticker's problem only
            return _Failure("error", str(exc))
        if lo is not None:
            bars = bars[bars["date"] >= lo]
        if hi is not None:
            bars = bars[bars["date"] <= hi]
        if bars.empty:
            return _Failure("missing", "no rows in the date range")
        return bars, actions

    def _give_up(self, symbol: str, failure: _Failure, rest: list[str]) -> dict[str, _Failure]:
        """The symbols after one that met a wall, each "not tried"; a rate limit starts the quiet time."""
        if failure.kind == "rate_limited":
            self._quiet_until = self._clock() + self.rate_limit_cooldown_s
        wall = "unreachable" if failure.kind == "unreachable" else "rate limited"
        return {other: _Failure(failure.kind, f"not tried: Yahoo was {wall} for {symbol}") for other in rest}

    # -- one ticker -------------------------------------------------------------------------

    def _fetch_one(
        self,
        symbol: str,
        lo: pd.Timestamp | None,
        hi: pd.Timestamp | None,
        *,
        session: Any,
        deadline: float,
    ) -> tuple[pd.DataFrame, Mapping[str, Any]] | _Failure:
        """Yahoo's frame and chart meta for one ticker, retrying network errors and HTTP 429."""
        attempt = 0
        while True:
            _clear_yfinance_request_cache()
            try:
                return self._history(symbol, lo, hi, session=session)
            except YFRateLimitError:
                failure = _Failure("rate_limited", "rate limited by Yahoo (HTTP 429)")
            except Exception as exc:  # yfinance raises many types; classify, don't guess
                failure = _classify(exc)
                if failure.kind not in ("unreachable", "rate_limited"):
                    return failure
            delay = min(self.backoff_s * 2**attempt, self.max_wait_s) * self._rng.uniform(0.5, 1.5)
            if attempt >= self.retries or self._clock() + delay > deadline:
                tries = "attempt" if attempt == 0 else "attempts"
                return _Failure(failure.kind, f"{failure.reason}, {attempt + 1} {tries}")
            log.warning("yahoo: %s: %s; retry %d/%d in %.2fs", symbol, failure.reason, attempt + 1, self.retries, delay)
            self._sleep(delay)
            attempt += 1

    def _history(
        self, symbol: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None, *, session: Any
    ) -> tuple[pd.DataFrame, Mapping[str, Any]]:
        """One call of ``Ticker.history``; dates are exchange-local days, ``end`` exclusive."""
        kwargs: dict[str, Any] = {
            "interval": "1d",
            "auto_adjust": False,  # keep Yahoo's close and adjclose side by side
            "back_adjust": False,
            "actions": True,  # Dividends and Stock Splits columns: kept as events
            "repair": False,
            "keepna": True,  # NaN bars reach our validation, which reports them by date
            "timeout": self.request_timeout_s,
        }
        if lo is None:
            kwargs["period"] = "max"
        else:
            kwargs["start"] = f"{lo:%Y-%m-%d}"
        if hi is not None:
            kwargs["end"] = f"{hi + dt.timedelta(days=1):%Y-%m-%d}"  # yfinance: end exclusive
        ticker = yf.Ticker(symbol, session=session)
        frame: pd.DataFrame = ticker.history(**kwargs)
        try:  # the meta of the chart just fetched (no request); only a guide to the close time
            meta: Mapping[str, Any] = ticker.get_history_metadata()
        except Exception:
            meta = {}
        return frame, meta

    def _to_canonical(
        self, frame: pd.DataFrame, meta: Mapping[str, Any], symbol: str
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Canonical bars and events of one ticker; today's bar goes while the market is open."""
        missing = [c for c in _YAHOO_COLUMNS if c not in frame.columns]
        if missing:
            raise SourceError(
                f"source 'yahoo': yfinance returned columns {list(frame.columns)} for {symbol}, missing {missing}"
            )
        index = pd.DatetimeIndex(frame.index)
        dividends = _column(frame, "Dividends")
        splits = _column(frame, "Stock Splits")
        prices = frame.loc[:, list(_YAHOO_COLUMNS)[:5]].to_numpy(dtype="float64")
        # yfinance adds a NaN row for an event outside the bars' range: an event, not a bar.
        event_only = np.isnan(prices).all(axis=1) & ((dividends != 0) | (splits != 0))
        forming = np.zeros(len(frame), dtype=bool)
        if index.tz is not None:
            forming = still_forming(index, now=self._now(), session_end=_regular_end(meta), grace=self.close_grace)
            # Daily bars come back as midnight in the exchange's zone: that wall date is the
            # trading day. Converting to UTC first would move Asia/Pacific bars a day back.
            index = index.tz_localize(None)
        for day in index[forming & ~event_only]:
            log.info("yahoo: %s: leaving out the bar of %s: the exchange has not closed yet", symbol, f"{day:%Y-%m-%d}")
        keep = ~(forming | event_only)
        bars = frame.loc[keep, list(_YAHOO_COLUMNS)].rename(columns=_YAHOO_COLUMNS)
        bars.index = pd.RangeIndex(len(bars))
        bars.insert(0, "ticker", symbol)
        bars.insert(0, "date", index[keep].normalize())
        events = pd.DataFrame(
            {"date": index.normalize(), "ticker": symbol, "dividend": dividends, "split_ratio": splits}
        )[(dividends != 0) | (splits != 0)]
        return bars, canonical_events(events)

    # -- yfinance's process-wide state ------------------------------------------------------

    @contextlib.contextmanager
    def _yfinance_configured(self) -> Iterator[Any]:
        """Make yfinance raise instead of log, retry nothing itself, and use our cache folder.

        Yields the session to hand to ``yf.Ticker``.
        """
        if self.cache_dir is not None:
            _point_caches_at(self.cache_dir)
        if self._session is None:
            self._session = _TimeoutCappedSession(timeout_cap_s=self.request_timeout_s)
        config = yf.config
        hide_exceptions, retries = config.debug.hide_exceptions, config.network.retries
        # hide_exceptions=False is how 1.7 asks history() to raise (its raise_errors=True
        # emits a DeprecationWarning); retries=0 because yfinance's own retry sleeps with
        # time.sleep, outside our budget.
        config.debug.hide_exceptions = False
        config.network.retries = 0
        try:
            yield self._session
        finally:
            config.debug.hide_exceptions = hide_exceptions
            config.network.retries = retries


def _regular_end(meta: Mapping[str, Any]) -> pd.Timestamp | None:
    """``currentTradingPeriod.regular.end`` from yfinance's chart meta, if it is there."""
    try:
        end = meta["currentTradingPeriod"]["regular"]["end"]
    except (KeyError, TypeError):
        return None
    if isinstance(end, int | float):
        return pd.Timestamp(end, unit="s", tz="UTC")
    if isinstance(end, pd.Timestamp) and end.tzinfo is not None:
        return end
    return None


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame))
    return pd.to_numeric(frame[name], errors="coerce").fillna(0.0).to_numpy(dtype="float64")


def _check_tickers(tickers: list[str] | None) -> list[str]:
    if tickers is None:
        raise ValueError("tickers must list the symbols to download: Yahoo has no 'all tickers', got tickers=None")
    if isinstance(tickers, str) or not all(isinstance(t, str) for t in tickers):
        raise ValueError(f"tickers must be a list of symbols like ['AAPL'], got tickers={tickers!r}")
    symbols: list[str] = []
    for t in tickers:
        symbol = YahooSource.canonical_ticker(t)
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise ValueError(f"tickers must name at least one symbol, got tickers={tickers!r}")
    return symbols


def _classify(exc: BaseException) -> _Failure:
    """What a failed ``history`` call means for its ticker."""
    if isinstance(exc, _HTTP_ERRORS):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:
            return _Failure("missing", "unknown or delisted symbol (HTTP 404 from Yahoo)")
        if status == 429:
            return _Failure("rate_limited", "rate limited by Yahoo (HTTP 429)")
        return _Failure("error", f"HTTP {status} from Yahoo: {exc}")
    if isinstance(exc, _NETWORK_ERRORS):
        return _Failure("unreachable", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, YFTzMissingError):
        return _Failure("missing", "unknown or delisted symbol (Yahoo has no time zone for it)")
    if isinstance(exc, YFPricesMissingError):
        return _Failure("missing", f"no prices from Yahoo: {exc.rationale}")
    if isinstance(exc, YFTickerMissingError):
        return _Failure("missing", f"unknown or delisted symbol: {exc.rationale}")
    return _Failure("error", f"{type(exc).__name__}: {exc}")


def _failure_message(symbols: list[str], failures: Mapping[str, str]) -> str:
    lines = [f"source 'yahoo' could not fetch {len(failures)} of {len(symbols)} tickers; nothing was written:"]
    lines += [f"  {symbol}: {reason}" for symbol, reason in failures.items()]
    return "\n".join(lines)


def _clear_yfinance_request_cache() -> None:
    """Empty ``YfData.cache_get``'s lru_cache, so a retry sends a fresh request."""
    cache_clear = getattr(YfData.cache_get, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


def _point_caches_at(folder: Path) -> None:
    """Point yfinance's sqlite caches (time zones, cookie, ISIN) at ``folder``.

    ``yf.set_tz_cache_location`` only moves the database path; a cache object that was
    already opened keeps its old database. Forget those objects (private in 1.7, hence the
    guards) so that the new folder is used from the next lookup on.
    """
    folder.mkdir(parents=True, exist_ok=True)
    db_manager = getattr(yf_cache, "_TzDBManager", None)
    if db_manager is not None and Path(db_manager.get_location()) == folder:
        return
    yf.set_tz_cache_location(str(folder))
    for manager, attr in (
        ("_TzCacheManager", "_tz_cache"),
        ("_CookieCacheManager", "_Cookie_cache"),
        ("_ISINCacheManager", "_isin_cache"),
    ):
        owner = getattr(yf_cache, manager, None)
        if owner is not None and hasattr(owner, attr):
            setattr(owner, attr, None)
