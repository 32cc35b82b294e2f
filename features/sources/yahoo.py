"""Yahoo Finance through yfinance: the only code in the project that talks to Yahoo.

:class:`YahooSource` downloads daily bars one ticker at a time with
``yf.Ticker(symbol, session=...).history(auto_adjust=False, ...)`` and returns the canonical
frame (:mod:`features.frame`): Yahoo's ``close`` as ``close`` and its ``adjclose`` as
``adj_close``, dates as the exchange-local trading day (naive).

Failures, all before anything is written by the caller:

* ``tickers`` missing, a bad symbol or a bad date: ``ValueError`` before any request.
* Yahoo cannot be reached at all (DNS failure, refused connection, timeout) after bounded
  retries with backoff and jitter: :class:`~features.sources.base.SourceUnavailableError`,
  whose message suggests ``--source sample`` for offline work.
* Some tickers fail (unknown symbol, HTTP 404, no rows, rate limit that does not clear):
  :class:`~features.sources.base.SourceError` listing each failed ticker and why.

yfinance keeps process-wide state (one ``YfData`` singleton holding the HTTP session, cookie
and crumb; one config object; sqlite caches). :meth:`YahooSource.fetch` sets what it needs
for the duration of the call and restores the config afterwards, so two sources must not
fetch concurrently in one process. See ``docs/yahoo.md`` for the yfinance 1.7 facts this
module relies on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import socket
import time
from collections.abc import Callable, Iterator
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

from features.frame import PRICE_COLUMNS, validate_ticker
from features.sources.base import (
    DateLike,
    SourceError,
    SourceUnavailableError,
    check_range,
    parse_date,
    select,
)

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


class YahooSource:
    """Daily prices from Yahoo Finance (production source; needs network).

    Args:
        session: HTTP session handed to ``yf.Ticker(..., session=session)``. yfinance 1.7
            accepts a ``curl_cffi.requests.Session`` or a ``requests.Session`` (or a
            subclass: tests inject a fake one). None: a curl_cffi session with Chrome
            impersonation (what yfinance would build) whose timeouts are capped at
            ``request_timeout_s``.
        cache_dir: Folder for yfinance's sqlite caches (ticker time zones, cookie, ISIN).
            None: yfinance's default (``platformdirs.user_cache_dir()/py-yfinance``).
        max_wait_s: Budget in seconds for retrying one :meth:`fetch`: no retry starts, and no
            backoff sleep is taken, that would end later than ``max_wait_s`` after the fetch
            began. Worst case wall time is this plus one attempt's requests.
        retries: Retries per ticker after a network error or HTTP 429, each after an
            exponential backoff ``backoff_s * 2**k`` with ``±50 %`` jitter.
        backoff_s: First backoff delay in seconds.
        request_timeout_s: Timeout of each HTTP request yfinance makes for prices (and, for
            the default session, the cap on every request).
        sleep: Called with seconds to wait between retries (tests pass a recorder).
        clock: Monotonic seconds, read to enforce ``max_wait_s`` (tests pass a fake clock).
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
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be >= 0 seconds, got max_wait_s={max_wait_s!r}")
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
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()

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
            end: Last day (inclusive); None = up to now.

        Returns:
            The canonical frame, sorted by ``(ticker, date)``. Rows with a missing or
            non-positive price are dropped with a logged warning.

        Raises:
            ValueError: for missing or bad ``tickers`` or bad dates, before any request.
            SourceUnavailableError: Yahoo could not be reached at all.
            SourceError: some tickers failed; the message lists each with its reason.
        """
        symbols = _check_tickers(tickers)
        lo, hi = parse_date(start, name="start"), parse_date(end, name="end")
        check_range(lo, hi)

        began = self._clock()
        deadline = began + self.max_wait_s
        frames: list[pd.DataFrame] = []
        failures: dict[str, _Failure] = {}
        skipped: list[str] = []
        with self._yfinance_configured() as session:
            for i, symbol in enumerate(symbols):
                result = self._fetch_one(symbol, lo, hi, session=session, deadline=deadline)
                if isinstance(result, _Failure):
                    failures[symbol] = result
                    if result.kind in ("unreachable", "rate_limited"):
                        # Every further request would meet the same wall; stop here.
                        skipped = symbols[i + 1 :]
                        break
                    continue
                frame = _to_canonical(result, symbol)
                if frame.empty:
                    failures[symbol] = _Failure("missing", "no usable rows in the date range")
                else:
                    frames.append(frame)

        if failures:
            first = failures.get(symbols[0])
            if first is not None and first.kind == "unreachable":
                raise SourceUnavailableError(
                    f"source 'yahoo' could not reach Yahoo Finance ({first.reason}; gave up "
                    f"after {self._clock() - began:.1f}s); nothing was written. Check the "
                    f"network, or use --source sample for offline use."
                )
            raise SourceError(_failure_message(symbols, failures, skipped))
        return select(pd.concat(frames, ignore_index=True), symbols, lo, hi, name="yahoo")

    # -- one ticker -------------------------------------------------------------------------

    def _fetch_one(
        self,
        symbol: str,
        lo: pd.Timestamp | None,
        hi: pd.Timestamp | None,
        *,
        session: Any,
        deadline: float,
    ) -> pd.DataFrame | _Failure:
        """Yahoo's frame for one ticker, retrying network errors and HTTP 429 with backoff."""
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
            log.warning(
                "yahoo: %s: %s; retry %d/%d in %.2fs",
                symbol,
                failure.reason,
                attempt + 1,
                self.retries,
                delay,
            )
            self._sleep(delay)
            attempt += 1

    def _history(self, symbol: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None, *, session: Any) -> pd.DataFrame:
        """One call of ``Ticker.history``; dates are exchange-local days, ``end`` exclusive."""
        kwargs: dict[str, Any] = {
            "interval": "1d",
            "auto_adjust": False,  # keep Yahoo's close and adjclose side by side
            "back_adjust": False,
            "actions": False,  # dividends/splits columns: not part of the canonical frame
            "repair": False,
            "keepna": True,  # so that dropped NaN rows are logged here, by name and date
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
        return frame

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


def _check_tickers(tickers: list[str] | None) -> list[str]:
    if tickers is None:
        raise ValueError("tickers must list the symbols to download: Yahoo has no 'all tickers', got tickers=None")
    if isinstance(tickers, str) or not all(isinstance(t, str) for t in tickers):
        raise ValueError(f"tickers must be a list of symbols like ['AAPL'], got tickers={tickers!r}")
    symbols: list[str] = []
    for t in tickers:
        symbol = validate_ticker(t).upper()
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


def _to_canonical(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Map yfinance's columns, make dates naive exchange-local days, drop rows without prices."""
    missing = [c for c in _YAHOO_COLUMNS if c not in frame.columns]
    if missing:
        raise SourceError(
            f"source 'yahoo': yfinance returned columns {list(frame.columns)} for {symbol}, missing {missing}"
        )
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        # Daily bars come back as midnight in the exchange's zone: that wall date is the
        # trading day. Converting to UTC first would move Asia/Pacific bars a day back.
        index = index.tz_localize(None)
    out = frame.loc[:, list(_YAHOO_COLUMNS)].rename(columns=_YAHOO_COLUMNS)
    out.index = pd.RangeIndex(len(out))
    out.insert(0, "ticker", symbol)
    out.insert(0, "date", index.normalize())
    prices = out.loc[:, list(PRICE_COLUMNS)].to_numpy(dtype="float64")
    bad = ~(np.isfinite(prices) & (prices > 0))
    for row in np.flatnonzero(bad.any(axis=1)):
        cols = [c for c, b in zip(PRICE_COLUMNS, bad[row], strict=True) if b]
        log.warning(
            "yahoo: dropping %s %s: missing or non-positive %s",
            symbol,
            f"{out['date'].iloc[row]:%Y-%m-%d}",
            ", ".join(cols),
        )
    return out.loc[~bad.any(axis=1)].reset_index(drop=True)


def _failure_message(symbols: list[str], failures: dict[str, _Failure], skipped: list[str]) -> str:
    lines = [
        f"source 'yahoo' could not fetch {len(failures) + len(skipped)} of {len(symbols)} tickers; nothing was written:"
    ]
    lines += [f"  {symbol}: {failure.reason}" for symbol, failure in failures.items()]
    if skipped:
        lines.append(f"  not tried after that: {', '.join(skipped)}")
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
