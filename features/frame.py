"""The canonical price frame that every source returns and the store keeps.

Long format, one row per ``(date, ticker)``:

========== ============== ======================================================
column     dtype          meaning
========== ============== ======================================================
date       datetime64[ns] trading day (naive, midnight; the exchange's local date)
ticker     string         symbol as the source spells it, e.g. ``AAPL``, ``^GSPC``
open       float64        open as the source reports it
high       float64        high as the source reports it
low        float64        low as the source reports it
close      float64        close as the source reports it (not dividend-adjusted; Yahoo's
                          is already split-adjusted, the bundled sample stocks' is raw)
adj_close  float64        close adjusted for splits and dividends: returns, features
                          and labels use this column
volume     float64        shares traded (float so that missing volume can be NaN)
========== ============== ======================================================

Rows are sorted by ``(ticker, date)``: every per-ticker computation (returns, windows) then
reads one contiguous block. Keys are unique.

**Close-only data.** ``close`` and ``adj_close`` are required on every row. ``open``, ``high``
and ``low`` are all three given or all three NaN on a row ("not reported"), and ``volume`` may be
NaN. A source that has only closes (the ``sp500`` sample, a ``dir:`` file with a date and a close)
returns those four columns NaN throughout; price checks skip what is NaN and still check the
closes. A column counts as *missing* for a ticker when it is NaN on every row of that ticker
(:data:`OPTIONAL_COLUMNS`, :func:`missing_columns`); features that need it are then unavailable
(:func:`features.indicators.resolve_features`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
COLUMNS: tuple[str, ...] = ("date", "ticker", *PRICE_COLUMNS, "volume")
REQUIRED_PRICES: tuple[str, ...] = ("close", "adj_close")
"""Prices every row must have; the others (:data:`OPTIONAL_COLUMNS`) may be NaN ("not reported")."""
OHLC_EXTRA: tuple[str, ...] = ("open", "high", "low")
"""Given together or not at all on a row."""
OPTIONAL_COLUMNS: tuple[str, ...] = (*OHLC_EXTRA, "volume")
"""Columns a close-only source leaves NaN."""

# Letters, digits and the punctuation real symbols use (^GSPC, BRK-B, EURUSD=X, RDS.A).
# No slashes, no whitespace, no "..": a ticker ends up in file names.
_TICKER_RE = re.compile(r"^\^?[A-Za-z0-9][A-Za-z0-9.=\-]{0,19}$")


class PriceDataError(ValueError):
    """A price frame breaks the canonical contract; the message names the rule and rows."""


def validate_ticker(ticker: str) -> str:
    """Return ``ticker`` unchanged if it is a safe symbol, else raise ``ValueError``.

    Valid: 1-21 characters of letters, digits, ``.``, ``=``, ``-`` with an optional leading
    ``^``; no ``..``. Examples: ``AAPL``, ``^GSPC``, ``BRK-B``, ``EURUSD=X``.
    """
    if not isinstance(ticker, str) or not _TICKER_RE.fullmatch(ticker) or ".." in ticker:
        raise ValueError(
            f"ticker must be a symbol like 'AAPL', '^GSPC' or 'BRK-B' (letters, digits, "
            f"'.', '=', '-', at most 21 characters), got ticker={ticker!r}"
        )
    return ticker


def parse_tickers(text: str | None) -> list[str] | None:
    """Parse ``"A,B, C"`` into ``["A", "B", "C"]`` (validated, exact duplicates removed); None stays None.

    Raises:
        ValueError: for an invalid symbol, or two that differ only in letter case (``AAPL,aapl``):
            they would share a file on case-insensitive file systems and are almost surely a typo.
    """
    if text is None:
        return None
    out: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if name:
            validate_ticker(name)
            clash = [t for t in out if t.lower() == name.lower() and t != name]
            if clash:
                raise ValueError(f"tickers differ only in letter case: {clash[0]!r} and {name!r} in tickers={text!r}")
            if name not in out:
                out.append(name)
    if not out:
        raise ValueError(f"tickers must name at least one symbol, got tickers={text!r}")
    return out


def empty_frame() -> pd.DataFrame:
    """A canonical frame with no rows and the right dtypes."""
    return canonicalize(pd.DataFrame({c: [] for c in COLUMNS}))


def canonicalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a new frame with canonical columns, dtypes and ``(ticker, date)`` order.

    Missing ``adj_close`` is filled from ``close`` (a source without adjustments).
    Does not check values; see :func:`validate_prices`.
    """
    out = coerce(frame)
    out = out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    return out


def coerce(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a new frame with canonical columns and dtypes, rows and index as given.

    What :func:`canonicalize` does before sorting: row-level checks that depend on the
    source's order (:func:`features.prices.validation.reject_invalid`) start from here.

    Raises:
        PriceDataError: when a canonical column is missing, naming it.
    """
    out = frame.copy()
    if "adj_close" not in out.columns and "close" in out.columns:
        out["adj_close"] = out["close"]
    missing = [c for c in COLUMNS if c not in out.columns]
    if missing:
        raise PriceDataError(f"price frame is missing columns {missing}; has {list(frame.columns)}")
    out = out.loc[:, list(COLUMNS)]
    out["date"] = pd.to_datetime(out["date"]).dt.tz_localize(None).dt.normalize()
    out["date"] = out["date"].astype("datetime64[ns]")
    out["ticker"] = out["ticker"].astype(str)
    for col in (*PRICE_COLUMNS, "volume"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def validate_prices(frame: pd.DataFrame, *, name: str = "prices") -> pd.DataFrame:
    """Check the canonical contract and return ``frame`` if it holds.

    Rules: canonical columns; unique ``(ticker, date)``; sorted by ``(ticker, date)``; ``close``
    and ``adj_close`` positive and finite; ``open, high, low`` all NaN or all positive and finite,
    and then ``low <= open, close <= high``; volume NaN or not negative.

    Args:
        frame: A frame as returned by :func:`canonicalize`.
        name: What to call the frame in error messages (a source spec or a file path).

    Raises:
        PriceDataError: naming the rule, the ticker and the first offending date.
    """
    if list(frame.columns) != list(COLUMNS):
        raise PriceDataError(f"{name}: columns must be {list(COLUMNS)}, got {list(frame.columns)}")
    for t in frame["ticker"].unique():
        validate_ticker(t)
    dup = frame.duplicated(["ticker", "date"])
    if dup.any():
        _raise_rows(frame, dup.to_numpy(), name, "duplicate (ticker, date) rows")
    order = frame.sort_values(["ticker", "date"], kind="stable").index
    if not (order == frame.index).all():
        raise PriceDataError(f"{name}: rows must be sorted by (ticker, date)")
    prices = frame.loc[:, list(PRICE_COLUMNS)].to_numpy()
    unreported = np.isnan(frame.loc[:, list(OHLC_EXTRA)].to_numpy()).all(axis=1)
    checked = np.where(unreported[:, None], 1.0, prices)  # NaN open/high/low together: not reported
    bad = np.asarray(~(np.isfinite(checked) & (checked > 0)).all(axis=1), dtype=bool)
    if bad.any():
        _raise_rows(frame, bad, name, "prices must be positive and finite (open, high, low may be NaN together)")
    hi, lo = frame["high"].to_numpy(), frame["low"].to_numpy()
    tol = 1e-9 * hi
    inside = unreported | (
        (lo <= frame["open"].to_numpy() + tol)
        & (lo <= frame["close"].to_numpy() + tol)
        & (frame["open"].to_numpy() <= hi + tol)
        & (frame["close"].to_numpy() <= hi + tol)
    )
    if not inside.all():
        _raise_rows(frame, ~inside, name, "need low <= open, close <= high")
    vol = frame["volume"].to_numpy()
    if (vol < 0).any():
        _raise_rows(frame, vol < 0, name, "volume must not be negative")
    return frame


def missing_columns(frame: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Optional columns (:data:`OPTIONAL_COLUMNS`) that some ticker of ``frame`` lacks entirely.

    Args:
        frame: A canonical frame.

    Returns:
        Column -> the tickers whose every row has it NaN (sorted); columns no ticker lacks are
        left out, so ``{}`` means full OHLCV. An empty frame lacks nothing.
    """
    if frame.empty:
        return {}
    absent = frame.loc[:, list(OPTIONAL_COLUMNS)].isna().groupby(frame["ticker"].to_numpy()).all()
    return {
        col: tuple(sorted(str(t) for t in absent.index[absent[col].to_numpy()]))
        for col in OPTIONAL_COLUMNS
        if absent[col].any()
    }


def fingerprint(frame: pd.DataFrame) -> str:
    """A short content hash of a canonical frame (same rows and values -> same string)."""
    import hashlib

    hashed = pd.util.hash_pandas_object(frame.loc[:, list(COLUMNS)], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _raise_rows(frame: pd.DataFrame, mask: np.ndarray, name: str, rule: str) -> None:
    rows = frame.loc[mask, ["ticker", "date"]]
    first = rows.iloc[0]
    raise PriceDataError(
        f"{name}: {rule}: {len(rows)} row(s), first ticker={first['ticker']!r} date={first['date']:%Y-%m-%d}"
    )
