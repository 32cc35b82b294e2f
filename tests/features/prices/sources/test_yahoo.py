"""Offline contract tests of :class:`features.prices.sources.yahoo.YahooSource`.

How Yahoo is faked
------------------
``FakeYahoo`` subclasses ``requests.Session`` and overrides ``request()``; the tests pass it
as ``YahooSource(session=FakeYahoo(...))``. yfinance 1.7 hands that session to its ``YfData``
singleton (``yfinance/data.py``: ``YfData._set_session`` accepts any ``curl_cffi`` or
``requests`` Session, checked by ``yfinance._http.is_supported_session``), and every HTTP call
yfinance makes goes through ``YfData._session.get/post``, i.e. through ``request()``. So the
whole of yfinance runs for real (cookie and crumb handling, retries on 4xx, JSON parsing,
time zones) and only the wire is fake. This is yfinance's public ``session=`` argument, not a
monkeypatch of its internals.

The fake answers the calls yfinance 1.7 makes for ``Ticker.history``:

* ``https://fc.yahoo.com`` (cookie, "basic" strategy) and ``https://guce.yahoo.com/consent``
  ("csrf" strategy, tried after any 4xx): an HTML page without a consent form;
* ``https://query1.finance.yahoo.com/v1/test/getcrumb`` (and ``query2``): a crumb string;
* ``https://query2.finance.yahoo.com/v8/finance/chart/{SYMBOL}``: once with ``range=1d`` to
  learn the exchange time zone (``TickerBase._fetch_ticker_tz``), then with
  ``period1``/``period2`` for the prices; answered with Yahoo's v8 JSON, a 404 for an
  unknown symbol, or a scripted 429;
* ``https://query2.finance.yahoo.com/v10/finance/quoteSummary/{SYMBOL}``: yfinance's
  time-zone fallback for a symbol whose chart 404s (only twice per process): a 404;
* anything else is recorded as unexpected and fails the test.

No real network
---------------
The autouse ``no_network`` fixture replaces ``socket.getaddrinfo``,
``socket.create_connection``, ``socket.socket.connect``/``connect_ex`` and
``curl_cffi.requests.Session.request`` (libcurl opens its own sockets) with functions that
record the attempt and raise. At teardown it fails the test if anything tried to connect,
unless the test declared that expected (only the test of a real ``requests.Session`` with
the network down does).

yfinance's warning
------------------
Under pandas 3.1, every ``history()`` call of yfinance 1.7.0 emits ``pandas.errors.
Pandas4Warning: The inplace keyword in DataFrame.sort_index is deprecated and will be
removed in a future version (PDEP-8).`` from ``yfinance/utils.py`` line 568 (``parse_quotes``:
``quotes.sort_index(inplace=True)``), and the same for ``set_index``/``sort_index`` at lines
585, 587, 604, 606 (``parse_actions``) when the chart has dividends or splits. Nothing a
caller passes avoids it, so ``pytestmark`` ignores exactly that message from module
``yfinance.utils`` and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import curl_cffi.requests
import pandas as pd
import pytest
import requests
import yfinance as yf

from features.frame import COLUMNS, canonicalize
from features.prices.sources import get_source
from features.prices.sources.base import SourceError, SourceUnavailableError
from features.prices.sources.yahoo import YahooSource
from features.prices.store import PriceStore
from features.prices.update import source_for, update_store

pytestmark = pytest.mark.filterwarnings(
    r"ignore:The inplace keyword in DataFrame\.(sort_index|set_index) is deprecated"
    r":pandas.errors.Pandas4Warning:yfinance\.utils"
)

# --------------------------------------------------------------------------------------------
# Yahoo's v8 chart JSON
# --------------------------------------------------------------------------------------------

Bar = tuple[str, float | None, float | None, float | None, float | None, float | None, int | None]
#            date  open          high          low           close         adjclose      volume

AAPL_BARS: list[Bar] = [
    ("2024-01-02", 187.15, 188.44, 183.89, 185.64, 184.532, 82488700),
    ("2024-01-03", 184.22, 185.88, 183.43, 184.25, 183.150, 58414500),
    ("2024-01-04", 182.15, 183.09, 180.88, 181.91, 180.824, 71983600),
    ("2024-01-05", 181.99, 182.76, 180.17, 181.18, 180.098, 62303300),
]
# The ASX opens at 10:00 Sydney time, which is 23:00 UTC the day before: a bar's UTC date
# is one day earlier than its trading day.
BHP_BARS: list[Bar] = [
    ("2024-01-02", 51.50, 51.80, 51.20, 51.62, 47.91, 6512345),
    ("2024-01-03", 51.40, 51.45, 50.70, 50.83, 47.18, 7423456),
    ("2024-01-04", 50.60, 50.95, 50.31, 50.88, 47.22, 5834567),
    ("2024-01-05", 50.70, 51.10, 50.55, 51.02, 47.35, 6012789),
]


@dataclass(frozen=True)
class Listing:
    symbol: str
    tz: str  # exchangeTimezoneName
    tz_abbr: str  # timezone
    exchange: str
    currency: str
    open_time: str  # regular session, local time
    close_time: str
    bars: list[Bar]
    dividends: dict[str, float] = field(default_factory=dict)  # date -> amount
    splits: dict[str, tuple[int, int]] = field(default_factory=dict)  # date -> (numerator, denominator)


AAPL = Listing("AAPL", "America/New_York", "EST", "NMS", "USD", "09:30", "16:00", AAPL_BARS)
BHP = Listing(
    "BHP.AX",
    "Australia/Sydney",
    "AEDT",
    "ASX",
    "AUD",
    "10:00",
    "16:00",
    BHP_BARS,
    dividends={"2024-01-04": 0.45},
)


def _ts(day: str, time: str, tz: str) -> int:
    return int(pd.Timestamp(f"{day} {time}", tz=tz).timestamp())


def chart_json(listing: Listing, *, period1: int | None, period2: int | None) -> dict[str, Any]:
    """Yahoo's ``/v8/finance/chart/{symbol}`` answer, bars cut to ``[period1, period2)``."""
    stamps = [_ts(b[0], listing.open_time, listing.tz) for b in listing.bars]
    if period1 is None or period2 is None:  # range=1d: the last bar only
        keep = [len(stamps) - 1]
    else:
        keep = [i for i, t in enumerate(stamps) if period1 <= t < period2]
    bars = [listing.bars[i] for i in keep]
    last = listing.bars[-1][0]
    offset = int(pd.Timestamp(last, tz=listing.tz).utcoffset().total_seconds())

    def period(start: str, end: str) -> dict[str, Any]:
        return {
            "timezone": listing.tz_abbr,
            "start": _ts(last, start, listing.tz),
            "end": _ts(last, end, listing.tz),
            "gmtoffset": offset,
        }

    result: dict[str, Any] = {
        "meta": {
            "currency": listing.currency,
            "symbol": listing.symbol,
            "exchangeName": listing.exchange,
            "fullExchangeName": listing.exchange,
            "instrumentType": "EQUITY",
            "firstTradeDate": 345479400,
            "regularMarketTime": _ts(last, listing.close_time, listing.tz),
            "hasPrePostMarketData": True,
            "gmtoffset": offset,
            "timezone": listing.tz_abbr,
            "exchangeTimezoneName": listing.tz,
            "regularMarketPrice": listing.bars[-1][4],
            "chartPreviousClose": listing.bars[0][4],
            "priceHint": 2,
            "currentTradingPeriod": {
                "pre": period("04:00", listing.open_time),
                "regular": period(listing.open_time, listing.close_time),
                "post": period(listing.close_time, "20:00"),
            },
            "dataGranularity": "1d",
            "range": "" if period1 is not None else "1d",
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        },
        "timestamp": [stamps[i] for i in keep],
        "indicators": {
            "quote": [
                {
                    "open": [b[1] for b in bars],
                    "high": [b[2] for b in bars],
                    "low": [b[3] for b in bars],
                    "close": [b[4] for b in bars],
                    "volume": [b[6] for b in bars],
                }
            ],
            "adjclose": [{"adjclose": [b[5] for b in bars]}],
        },
    }
    dividends = {
        str(t): {"amount": listing.dividends[day], "date": t}
        for day in listing.dividends
        if (t := _ts(day, listing.open_time, listing.tz)) in result["timestamp"]
    }
    splits = {
        str(t): {"date": t, "numerator": num, "denominator": den, "splitRatio": f"{num}:{den}"}
        for day, (num, den) in listing.splits.items()
        if (t := _ts(day, listing.open_time, listing.tz)) in result["timestamp"]
    }
    events = {k: v for k, v in (("dividends", dividends), ("splits", splits)) if v}
    if events:
        result["events"] = events
    return {"chart": {"result": [result], "error": None}}


CHART_NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}


def quote_summary_not_found(symbol: str) -> dict[str, Any]:
    return {
        "quoteSummary": {
            "result": None,
            "error": {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"},
        }
    }


# --------------------------------------------------------------------------------------------
# The fake transport
# --------------------------------------------------------------------------------------------


def _response(url: str, status: int, body: object, content_type: str) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}.get(status, "")
    r._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    r.headers["Content-Type"] = content_type
    r.encoding = "utf-8"
    r.url = url
    return r


class FakeYahoo(requests.Session):
    """A ``requests.Session`` that answers yfinance's calls from memory; see module docstring.

    Args:
        listings: The symbols Yahoo knows; any other symbol gets a 404.
        chart_status: Per symbol, statuses to answer the next chart requests with before
            answering normally (e.g. ``{"AAPL": [429, 429]}``).
        down: Raise ``requests.ConnectionError`` for every request (no network).
        malformed: Per symbol, a broken body (truncated JSON, HTML...) to answer its price
            request with, status 200.
    """

    def __init__(
        self,
        listings: list[Listing],
        *,
        chart_status: dict[str, list[int]] | None = None,
        down: bool = False,
        malformed: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.malformed = dict(malformed or {})
        self.listings = {x.symbol: x for x in listings}
        self.chart_status = {k: list(v) for k, v in (chart_status or {}).items()}
        self.down = down
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.unexpected: list[str] = []

    def request(self, method: str, url: str, params: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        params = dict(params or {})
        self.calls.append((method, url, params))
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
        if self.down:
            raise requests.exceptions.ConnectionError(
                f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded "
                f"(Caused by NameResolutionError: Failed to resolve '{host}')"
            )
        if host == "fc.yahoo.com" or host.endswith(("guce.yahoo.com", "consent.yahoo.com")):
            return _response(url, 200, "<html><body>ok</body></html>", "text/html")
        if path == "/v1/test/getcrumb":
            return _response(url, 200, "Fake.crumb/42", "text/plain")
        if path.startswith("/v8/finance/chart/"):
            symbol = path.rsplit("/", 1)[1]
            scripted = self.chart_status.get(symbol)
            if scripted:
                status = scripted.pop(0)
                return _response(url, status, "Edge: Too Many Requests", "text/plain")
            if symbol not in self.listings:
                return _response(url, 404, CHART_NOT_FOUND, "application/json")
            if symbol in self.malformed and "period1" in params:
                return _response(url, 200, self.malformed[symbol], "application/json")
            body = chart_json(self.listings[symbol], period1=params.get("period1"), period2=params.get("period2"))
            return _response(url, 200, body, "application/json")
        if path.startswith("/v10/finance/quoteSummary/"):
            symbol = path.rsplit("/", 1)[1]
            return _response(url, 404, quote_summary_not_found(symbol), "application/json")
        if path == "/v7/finance/quote":
            return _response(url, 200, {"quoteResponse": {"result": [], "error": None}}, "application/json")
        self.unexpected.append(f"{method} {url}")
        return _response(url, 404, "<html>unexpected</html>", "text/html")

    def chart_calls(self, symbol: str) -> list[dict[str, Any]]:
        return [p for _, u, p in self.calls if urlsplit(u).path == f"/v8/finance/chart/{symbol}"]


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@dataclass
class NetworkGuard:
    attempts: list[str] = field(default_factory=list)
    expected: bool = False

    def blocked(self, what: str, exc: Callable[[str], BaseException], *, method: bool = False) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            target = f"{what}{args[1:] if method else args}"  # a method's args[0] is self
            self.attempts.append(target)
            raise exc(f"network blocked by test: {target}")

        return refuse


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Make every real connection attempt fail, and fail the test if one was made."""
    guard = NetworkGuard()

    def dns_error(msg: str) -> BaseException:
        return socket.gaierror(socket.EAI_NONAME, msg)

    monkeypatch.setattr(socket, "getaddrinfo", guard.blocked("socket.getaddrinfo", dns_error))
    monkeypatch.setattr(socket, "create_connection", guard.blocked("socket.create_connection", ConnectionRefusedError))
    monkeypatch.setattr(socket.socket, "connect", guard.blocked("socket.connect", ConnectionRefusedError, method=True))
    monkeypatch.setattr(
        socket.socket, "connect_ex", guard.blocked("socket.connect_ex", ConnectionRefusedError, method=True)
    )
    monkeypatch.setattr(
        curl_cffi.requests.Session,
        "request",
        guard.blocked("curl_cffi.Session.request", curl_cffi.requests.exceptions.ConnectionError, method=True),
    )
    yield guard
    if guard.attempts and not guard.expected:
        pytest.fail(f"test tried to reach the network: {guard.attempts[:3]}")


@dataclass
class FakeClock:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "yf-cache"


@pytest.fixture
def make_source(clock: FakeClock, cache_dir: Path) -> Iterator[Callable[..., YahooSource]]:
    """Build a YahooSource on a fake transport, instant sleeps and a fake clock."""
    sessions: list[Any] = []

    def build(session: Any, **kwargs: Any) -> YahooSource:
        sessions.append(session)
        options: dict[str, Any] = {
            "cache_dir": cache_dir,
            "sleep": clock.sleep,
            "clock": clock.monotonic,
            "rng": random.Random(7),
        }
        return YahooSource(session=session, **{**options, **kwargs})

    yield build
    for s in sessions:
        assert not getattr(s, "unexpected", []), f"unexpected requests: {s.unexpected}"


def expected_frame(rows: list[tuple[str, Bar]]) -> pd.DataFrame:
    names = ("date", "open", "high", "low", "close", "adj_close", "volume")
    records = [{"ticker": sym, **dict(zip(names, bar, strict=True))} for sym, bar in rows]
    return canonicalize(pd.DataFrame(records))


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_two_tickers_map_to_the_canonical_frame(
    make_source: Callable[..., YahooSource], clock: FakeClock, cache_dir: Path
) -> None:
    fake = FakeYahoo([AAPL, BHP])
    source = make_source(fake)
    config_before = (yf.config.debug.hide_exceptions, yf.config.network.retries)

    got = source.fetch(["BHP.AX", "AAPL"], start="2024-01-02", end="2024-01-05")

    want = expected_frame([("AAPL", b) for b in AAPL_BARS] + [("BHP.AX", b) for b in BHP_BARS])
    assert list(got.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    # Raw close and adjusted close both survive, unmixed.
    row = got[(got["ticker"] == "AAPL") & (got["date"] == "2024-01-02")].iloc[0]
    assert (row["close"], row["adj_close"], row["volume"]) == (185.64, 184.532, 82488700.0)
    # BHP.AX bars are stamped 23:00 UTC the day before; the date is the Sydney trading day.
    bhp_days = got.loc[got["ticker"] == "BHP.AX", "date"].dt.strftime("%Y-%m-%d").tolist()
    assert bhp_days == ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    assert clock.sleeps == []
    assert (cache_dir / "tkr-tz.db").exists()  # yfinance's tz cache went where we said
    assert (yf.config.debug.hide_exceptions, yf.config.network.retries) == config_before


def test_end_is_inclusive_and_sent_to_yahoo_as_exclusive_next_day(
    make_source: Callable[..., YahooSource],
) -> None:
    fake = FakeYahoo([AAPL])

    got = make_source(fake).fetch(["AAPL"], start="2024-01-03", end="2024-01-04")

    assert got["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-03", "2024-01-04"]
    prices = [p for p in fake.chart_calls("AAPL") if "period1" in p]
    assert prices, fake.calls
    assert prices[-1]["period1"] == _ts("2024-01-03", "00:00", "America/New_York")
    assert prices[-1]["period2"] == _ts("2024-01-05", "00:00", "America/New_York")
    assert prices[-1]["interval"] == "1d"


def test_unknown_ticker_among_good_ones_is_a_source_error_naming_it(
    make_source: Callable[..., YahooSource], clock: FakeClock
) -> None:
    fake = FakeYahoo([AAPL, BHP])

    with pytest.raises(SourceError) as info:
        make_source(fake).fetch(["AAPL", "ZZZZ", "BHP.AX"], start="2024-01-02", end="2024-01-05")

    assert not isinstance(info.value, SourceUnavailableError)
    message = str(info.value)
    assert "ZZZZ: unknown or delisted symbol" in message
    assert "1 of 3 tickers" in message
    assert "AAPL" not in message
    assert "BHP.AX" not in message
    assert "nothing was written" in message
    assert fake.chart_calls("BHP.AX"), "the tickers after the unknown one are still fetched"
    assert clock.sleeps == [], "a 404 is not retried"


def test_rate_limit_is_retried_with_backoff_then_succeeds(
    make_source: Callable[..., YahooSource], clock: FakeClock
) -> None:
    # yfinance retries a 4xx once itself (after switching cookie strategy), so two 429s
    # make one YFRateLimitError; the source backs off once and the next attempt succeeds.
    fake = FakeYahoo([AAPL], chart_status={"AAPL": [429, 429]})

    got = make_source(fake, backoff_s=0.5).fetch(["AAPL"], start="2024-01-02", end="2024-01-05")

    pd.testing.assert_frame_equal(got, expected_frame([("AAPL", b) for b in AAPL_BARS]))
    assert len(clock.sleeps) == 1
    assert 0.25 <= clock.sleeps[0] <= 0.75  # 0.5 s with +-50 % jitter


def test_persistent_rate_limit_gives_up_within_budget(
    make_source: Callable[..., YahooSource], clock: FakeClock
) -> None:
    fake = FakeYahoo([AAPL, BHP], chart_status={"AAPL": [429] * 100})

    with pytest.raises(SourceError, match=r"AAPL: rate limited by Yahoo \(HTTP 429\)") as info:
        make_source(fake, retries=3, max_wait_s=10.0).fetch(["AAPL", "BHP.AX"], start="2024-01-02")

    assert not isinstance(info.value, SourceUnavailableError)
    assert "BHP.AX: not tried: Yahoo was rate limited for AAPL" in str(info.value)
    assert len(clock.sleeps) == 3
    assert sum(clock.sleeps) <= 10.0
    assert fake.chart_calls("BHP.AX") == []


def test_network_down_is_source_unavailable_quickly(make_source: Callable[..., YahooSource], clock: FakeClock) -> None:
    fake = FakeYahoo([AAPL, BHP], down=True)

    with pytest.raises(SourceUnavailableError) as info:
        make_source(fake, retries=3, max_wait_s=10.0).fetch(["AAPL", "BHP.AX"])

    message = str(info.value)
    assert "'yahoo'" in message
    assert "--source sample" in message
    assert "nothing was written" in message
    assert len(clock.sleeps) == 3
    assert sum(clock.sleeps) <= 10.0
    assert clock.now - 1000.0 <= 10.0
    assert len(fake.chart_calls("AAPL")) == 4  # 1 try + 3 retries
    assert fake.chart_calls("BHP.AX") == [], "no point trying more tickers"


def test_network_down_respects_max_wait(make_source: Callable[..., YahooSource], clock: FakeClock) -> None:
    fake = FakeYahoo([AAPL], down=True)

    with pytest.raises(SourceUnavailableError):
        make_source(fake, retries=50, backoff_s=0.5, max_wait_s=2.0).fetch(["AAPL"])

    assert sum(clock.sleeps) <= 2.0
    assert len(clock.sleeps) <= 3


def test_blocked_sockets_through_a_real_requests_session_are_source_unavailable(
    make_source: Callable[..., YahooSource], clock: FakeClock, no_network: NetworkGuard
) -> None:
    no_network.expected = True
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment

    with pytest.raises(SourceUnavailableError, match=r"--source sample"):
        make_source(session, retries=1).fetch(["AAPL"], start="2024-01-02")

    assert no_network.attempts, "the real stack did try to resolve Yahoo"
    assert all("yahoo.com" in a for a in no_network.attempts), no_network.attempts
    assert len(clock.sleeps) == 1


def test_rows_with_nan_prices_are_dropped_with_a_warning(
    make_source: Callable[..., YahooSource], caplog: pytest.LogCaptureFixture
) -> None:
    holes = [
        AAPL_BARS[0],
        ("2024-01-03", 184.22, 185.88, 183.43, None, None, 58414500),  # close missing
        ("2024-01-04", None, None, None, None, None, None),  # Yahoo's empty bar
        AAPL_BARS[3],
    ]
    listing = Listing("AAPL", "America/New_York", "EST", "NMS", "USD", "09:30", "16:00", holes)
    fake = FakeYahoo([listing])

    with caplog.at_level(logging.WARNING, logger="features.prices.sources.yahoo"):
        got = make_source(fake).fetch(["AAPL"], start="2024-01-02", end="2024-01-05")

    assert got["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-02", "2024-01-05"]
    assert got[["open", "high", "low", "close", "adj_close"]].notna().all().all()
    warned = [r.getMessage() for r in caplog.records if r.name == "features.prices.sources.yahoo"]
    assert any("AAPL" in m and "2024-01-03" in m and "close" in m for m in warned), warned
    assert any("AAPL" in m and "2024-01-04" in m for m in warned), warned


@pytest.mark.parametrize("tickers", [["../etc"], ["AAPL", "../etc"], ["AA PL"], ["a/b"]])
def test_bad_ticker_is_rejected_before_any_request(make_source: Callable[..., YahooSource], tickers: list[str]) -> None:
    fake = FakeYahoo([AAPL])

    with pytest.raises(ValueError, match=r"ticker"):
        make_source(fake).fetch(tickers)

    assert fake.calls == []


@pytest.mark.parametrize(
    ("tickers", "match"),
    [(None, r"tickers=None"), ("AAPL", r"tickers='AAPL'"), ([], r"tickers=\[\]")],
)
def test_tickers_must_be_a_nonempty_list(make_source: Callable[..., YahooSource], tickers: Any, match: str) -> None:
    fake = FakeYahoo([AAPL])

    with pytest.raises(ValueError, match=match):
        make_source(fake).fetch(tickers)

    assert fake.calls == []


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [("2024-13-45", None, r"start="), (None, "soon", r"end="), ("2024-02-01", "2024-01-01", r"start")],
)
def test_bad_dates_are_rejected_before_any_request(
    make_source: Callable[..., YahooSource], start: str | None, end: str | None, match: str
) -> None:
    fake = FakeYahoo([AAPL])

    with pytest.raises(ValueError, match=match):
        make_source(fake).fetch(["AAPL"], start=start, end=end)

    assert fake.calls == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_wait_s": -1.0}, "max_wait_s"),
        ({"retries": -1}, "retries"),
        ({"backoff_s": 0.0}, "backoff_s"),
        ({"request_timeout_s": 0.0}, "request_timeout_s"),
    ],
)
def test_bad_options_are_rejected(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        YahooSource(**kwargs)


def test_get_source_builds_yahoo_without_touching_the_network() -> None:
    source = get_source("yahoo")

    assert isinstance(source, YahooSource)
    assert source.name == "yahoo"


def test_default_session_is_curl_cffi_with_capped_timeouts(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, cache_dir: Path
) -> None:
    seen: list[tuple[str, Any]] = []

    def refuse(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((url, kwargs.get("timeout")))
        raise curl_cffi.requests.exceptions.ConnectionError(f"Could not resolve host: {urlsplit(url).hostname}")

    monkeypatch.setattr(curl_cffi.requests.Session, "request", refuse)  # over no_network's guard
    source = YahooSource(
        cache_dir=cache_dir, request_timeout_s=4.0, retries=1, sleep=clock.sleep, clock=clock.monotonic
    )

    with pytest.raises(SourceUnavailableError, match=r"--source sample"):
        source.fetch(["AAPL"], start="2024-01-02")

    assert any(url == "https://fc.yahoo.com" for url, _ in seen)  # yfinance asks 30 s here
    assert {timeout for _, timeout in seen} == {4.0}


# --------------------------------------------------------------------------------------------
# fetch_report: per-ticker results, events, today's bar
# --------------------------------------------------------------------------------------------


def test_fetch_report_keeps_good_tickers_and_names_the_bad_one(make_source: Callable[..., YahooSource]) -> None:
    fake = FakeYahoo([AAPL, BHP])

    result = make_source(fake).fetch_report(["AAPL", "ZZZZ", "BHP.AX"], start="2024-01-02", end="2024-01-05")

    want = expected_frame([("AAPL", b) for b in AAPL_BARS] + [("BHP.AX", b) for b in BHP_BARS])
    pd.testing.assert_frame_equal(result.prices, want, check_exact=True)
    assert list(result.failures) == ["ZZZZ"]
    # HTTP 404, or "no time zone" once yfinance's two quoteSummary fallbacks per process are used.
    assert result.failures["ZZZZ"].startswith("unknown or delisted symbol")
    assert result.events is not None
    assert result.events.to_dict("records") == [
        {"date": pd.Timestamp("2024-01-04"), "ticker": "BHP.AX", "dividend": 0.45, "split_ratio": 1.0}
    ]


@pytest.mark.parametrize(
    "body",
    [
        '{"chart": {"result": [{"meta": {"currency": "USD", "symbol": "AAPL"',  # truncated mid-object
        "<html><body>Service Unavailable</body></html>",  # an HTML error page with status 200
        '{"chart": {"result": [{"meta": {}, "timestamp": [1], "indicators": {}}], "error": null}}',  # wrong shape
    ],
)
def test_malformed_json_fails_that_ticker_only(make_source: Callable[..., YahooSource], body: str) -> None:
    fake = FakeYahoo([AAPL, BHP], malformed={"AAPL": body})

    result = make_source(fake).fetch_report(["AAPL", "BHP.AX"], start="2024-01-02", end="2024-01-05")

    assert list(result.failures) == ["AAPL"]
    assert result.failures["AAPL"]  # a reason is given
    assert set(result.prices["ticker"]) == {"BHP.AX"}


def test_fetch_report_maps_splits_to_events(make_source: Callable[..., YahooSource]) -> None:
    listing = replace(AAPL, splits={"2024-01-04": (4, 1)})

    result = make_source(FakeYahoo([listing])).fetch_report(["AAPL"], start="2024-01-02")

    assert result.events is not None
    assert result.events[["date", "dividend", "split_ratio"]].to_dict("records") == [
        {"date": pd.Timestamp("2024-01-04"), "dividend": 0.0, "split_ratio": 4.0}
    ]
    assert len(result.prices) == 4


def _at(day: str, time: str, tz: str) -> Callable[[], dt.datetime]:
    moment = pd.Timestamp(f"{day} {time}", tz=tz).to_pydatetime()
    return lambda: moment


@pytest.mark.parametrize(
    ("listing", "now", "last_day"),
    [
        (AAPL, _at("2024-01-05", "15:59", "America/New_York"), "2024-01-04"),  # session still open
        (AAPL, _at("2024-01-05", "16:10", "America/New_York"), "2024-01-04"),  # closed, within the grace
        (AAPL, _at("2024-01-05", "16:21", "America/New_York"), "2024-01-05"),  # closed and settled
        (AAPL, _at("2024-01-06", "08:15", "Australia/Sydney"), "2024-01-04"),  # 16:15 in New York
        (BHP, _at("2024-01-05", "15:00", "Australia/Sydney"), "2024-01-04"),
        (BHP, _at("2024-01-05", "16:30", "Australia/Sydney"), "2024-01-05"),
        (BHP, _at("2024-01-05", "06:00", "America/New_York"), "2024-01-05"),  # 22:00 in Sydney
    ],
)
def test_todays_bar_is_kept_only_after_the_exchange_closed(
    make_source: Callable[..., YahooSource], listing: Listing, now: Callable[[], dt.datetime], last_day: str
) -> None:
    fake = FakeYahoo([listing])

    got = make_source(fake, now=now).fetch([listing.symbol], start="2024-01-02")

    assert f"{got['date'].max():%Y-%m-%d}" == last_day


def test_a_bar_dated_after_the_exchanges_today_is_dropped(make_source: Callable[..., YahooSource]) -> None:
    got = make_source(FakeYahoo([AAPL]), now=_at("2024-01-04", "20:00", "America/New_York")).fetch(
        ["AAPL"], start="2024-01-02"
    )

    assert f"{got['date'].max():%Y-%m-%d}" == "2024-01-04"


def test_now_must_be_time_zone_aware(make_source: Callable[..., YahooSource]) -> None:
    source = make_source(FakeYahoo([AAPL]), now=lambda: dt.datetime(2024, 1, 5, 12, 0))

    with pytest.raises(ValueError, match=r"now must return a time-zone aware datetime"):
        source.fetch(["AAPL"], start="2024-01-02")


def test_duplicated_last_bar_comes_back_once(make_source: Callable[..., YahooSource]) -> None:
    # Yahoo sometimes repeats the latest bar (a live snapshot next to the final one).
    repeated = (*AAPL_BARS[-1][:6], 62999999)
    listing = replace(AAPL, bars=[*AAPL_BARS, repeated])

    result = make_source(FakeYahoo([listing])).fetch_report(["AAPL"], start="2024-01-02")

    assert not result.prices.duplicated(["ticker", "date"]).any()
    assert result.prices["date"].dt.strftime("%Y-%m-%d").tolist() == [b[0] for b in AAPL_BARS]
    assert result.prices["volume"].iloc[-1] == 62999999.0  # yfinance keeps the later copy


def test_rate_limit_cooldown_stops_later_fetches_from_asking(
    make_source: Callable[..., YahooSource], clock: FakeClock
) -> None:
    fake = FakeYahoo([AAPL, BHP], chart_status={"AAPL": [429] * 100})
    source = make_source(fake, retries=2, rate_limit_cooldown_s=60.0)
    source.fetch_report(["AAPL"], start="2024-01-02")
    asked = len(fake.calls)

    again = source.fetch_report(["BHP.AX", "AAPL"], start="2024-01-02")

    assert len(fake.calls) == asked, "no request during the cooldown"
    assert set(again.failures) == {"BHP.AX", "AAPL"}
    assert all(r.startswith("not tried: Yahoo rate limited this process") for r in again.failures.values())
    clock.now += 61.0
    assert make_source(fake).fetch_report(["BHP.AX"], start="2024-01-02").failures == {}


def test_source_for_yahoo_puts_the_caches_in_the_data_root(tmp_path: Path) -> None:
    source = source_for("yahoo", root=tmp_path)

    assert isinstance(source, YahooSource)
    assert source.cache_dir == tmp_path / "cache" / "yfinance"


# --------------------------------------------------------------------------------------------
# The scenarios, end to end through the incremental update and the store
# --------------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _yahoo(make_source: Callable[..., YahooSource], fake: FakeYahoo, root: Path, **kwargs: Any) -> YahooSource:
    return make_source(fake, cache_dir=root / "cache" / "yfinance", **kwargs)


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*.parquet")}


def test_update_stores_several_tickers_with_their_events(make_source: Callable[..., YahooSource], root: Path) -> None:
    store = PriceStore(root)

    report = update_store(_yahoo(make_source, FakeYahoo([AAPL, BHP]), root), store, ["aapl", "BHP.AX"])

    assert [(t.ticker, t.status, t.rows_added) for t in report.tickers] == [
        ("AAPL", "updated", 4),
        ("BHP.AX", "updated", 4),
    ]
    assert report.failures == {}
    want = expected_frame([("AAPL", b) for b in AAPL_BARS] + [("BHP.AX", b) for b in BHP_BARS])
    pd.testing.assert_frame_equal(store.read(), want, check_exact=True)
    assert store.read_events("BHP.AX")["dividend"].tolist() == [0.45]
    assert not store.events_path("AAPL").exists()  # no events, no file
    assert (root / "cache" / "yfinance" / "tkr-tz.db").exists()


def test_rerunning_the_update_changes_nothing(make_source: Callable[..., YahooSource], root: Path) -> None:
    fake = FakeYahoo([AAPL, BHP])
    store = PriceStore(root)
    update_store(_yahoo(make_source, fake, root), store, ["AAPL", "BHP.AX"])
    before = _mtimes(root)

    report = update_store(_yahoo(make_source, fake, root), store, ["AAPL", "BHP.AX"])

    assert _mtimes(root) == before
    assert [(t.status, t.rows_added, t.rows_changed, t.refetched_full) for t in report.tickers] == [
        ("unchanged", 0, 0, False)
    ] * 2
    # Only the overlap was asked again: from the 5th-last stored day (here the first).
    assert [t.fetched for t in report.tickers] == ["2024-01-02..latest"] * 2


def test_unknown_ticker_is_reported_and_the_others_stored(make_source: Callable[..., YahooSource], root: Path) -> None:
    store = PriceStore(root)

    report = update_store(_yahoo(make_source, FakeYahoo([AAPL, BHP]), root), store, ["AAPL", "ZZZZ", "BHP.AX"])

    assert list(report.failures) == ["ZZZZ"]
    assert report.failures["ZZZZ"].startswith("unknown or delisted symbol")
    assert report.succeeded == ["AAPL", "BHP.AX"]
    assert store.tickers() == ["AAPL", "BHP.AX"]
    assert not report.all_failed


def test_update_after_a_429_succeeds(make_source: Callable[..., YahooSource], clock: FakeClock, root: Path) -> None:
    fake = FakeYahoo([AAPL], chart_status={"AAPL": [429, 429]})

    report = update_store(_yahoo(make_source, fake, root), PriceStore(root), ["AAPL"])

    assert report.tickers[0].status == "updated"
    assert report.tickers[0].rows_added == 4
    assert len(clock.sleeps) == 1


def test_update_under_a_permanent_429_gives_up_in_bounded_time(
    make_source: Callable[..., YahooSource], clock: FakeClock, root: Path
) -> None:
    fake = FakeYahoo([AAPL, BHP], chart_status={"AAPL": [429] * 100})

    report = update_store(
        _yahoo(make_source, fake, root, retries=5, max_wait_s=3.0), PriceStore(root), ["AAPL", "BHP.AX"]
    )

    assert report.all_failed
    assert report.failures["AAPL"].startswith("rate limited by Yahoo (HTTP 429)")
    assert report.failures["BHP.AX"] == "not tried: Yahoo was rate limited for AAPL"
    assert sum(clock.sleeps) <= 3.0
    assert clock.now - 1000.0 <= 3.0
    assert fake.chart_calls("BHP.AX") == []
    assert not (root / "prices").exists()


def test_nan_prices_with_volume_are_rejected_and_reported(make_source: Callable[..., YahooSource], root: Path) -> None:
    holes = [AAPL_BARS[0], ("2024-01-03", 184.22, 185.88, 183.43, None, None, 58414500), *AAPL_BARS[2:]]
    store = PriceStore(root)

    report = update_store(_yahoo(make_source, FakeYahoo([replace(AAPL, bars=holes)]), root), store, ["AAPL"])

    assert [i.to_dict() for i in report.rejected] == [
        {
            "ticker": "AAPL",
            "date": "2024-01-03",
            "rule": "missing_price",
            "action": "rejected",
            "detail": "close, adj_close missing",
        }
    ]
    assert store.read()["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-02", "2024-01-04", "2024-01-05"]
    assert report.tickers[0].rows_rejected == 1


def _split_adjusted(bars: list[Bar], ratio: int) -> list[Bar]:
    """Bars as Yahoo serves them after a ``ratio``:1 split: prices divided, volume multiplied."""

    def cut(p: float | None) -> float | None:
        return None if p is None else round(p / ratio, 4)

    return [
        (d, cut(o), cut(h), cut(lo), cut(c), cut(a), None if v is None else v * ratio) for d, o, h, lo, c, a, v in bars
    ]


def test_split_in_the_overlap_refetches_and_rewrites_the_full_history(
    make_source: Callable[..., YahooSource], root: Path
) -> None:
    fake = FakeYahoo([AAPL])
    store = PriceStore(root)
    update_store(_yahoo(make_source, fake, root), store, ["AAPL"], start="2024-01-02")
    before = _mtimes(root)
    # A 2:1 split on 2024-01-09: Yahoo now serves every earlier bar halved.
    later: list[Bar] = [
        ("2024-01-08", 182.09, 185.60, 181.50, 185.56, 184.45, 59144500),
        ("2024-01-09", 92.80, 93.20, 91.80, 92.60, 92.60, 84000000),
        ("2024-01-10", 92.70, 93.90, 92.40, 93.60, 93.60, 80000000),
    ]
    adjusted = _split_adjusted([*AAPL_BARS, later[0]], 2) + later[1:]
    fake.listings["AAPL"] = replace(AAPL, bars=adjusted, splits={"2024-01-09": (2, 1)})

    report = update_store(_yahoo(make_source, fake, root), store, ["AAPL"], overlap_days=2)

    outcome = report.tickers[0]
    assert outcome.refetched_full
    assert outcome.reason.startswith("adj_close of 2024-01-04 was 180.824, the source now says 90.412")
    assert (outcome.rows_added, outcome.rows_changed, outcome.fetched) == (3, 4, "2024-01-02..latest")
    periods = [p["period1"] for p in fake.chart_calls("AAPL") if "period1" in p]
    assert periods[-2:] == [_ts("2024-01-04", "00:00", AAPL.tz), _ts("2024-01-02", "00:00", AAPL.tz)]
    pd.testing.assert_frame_equal(store.read(), expected_frame([("AAPL", b) for b in adjusted]), check_exact=True)
    assert store.read_events("AAPL")[["date", "split_ratio"]].to_dict("records") == [
        {"date": pd.Timestamp("2024-01-09"), "split_ratio": 2.0}
    ]
    assert report.flagged == ()  # the adjusted series has no jump
    assert _mtimes(root)["prices/AAPL.parquet"] != before["prices/AAPL.parquet"]


def test_network_down_is_source_unavailable_and_writes_nothing(
    make_source: Callable[..., YahooSource], root: Path
) -> None:
    with pytest.raises(SourceUnavailableError, match=r"--source sample"):
        update_store(_yahoo(make_source, FakeYahoo([AAPL, BHP], down=True), root), PriceStore(root), ["AAPL", "BHP.AX"])

    assert not (root / "prices").exists()
    assert not (root / "events").exists()
