"""Build ``data/sample/prices.parquet`` from real daily prices shipped inside PyPI wheels.

Run from anywhere (the repository root is put on ``sys.path``)::

    pip install -e '.[sample]'
    python scripts/make_sample_data.py

Sources (see ``data/sample/README.md`` for provenance, licences and what was measured):

* ``arch`` -- ``arch/data/sp500/sp500.csv.gz`` and ``arch/data/nasdaq/nasdaq.csv.gz``:
  S&P 500 (``^GSPC``) and NASDAQ Composite (``^IXIC``), 1999-2018.
* ``bokeh-sampledata`` -- ``bokeh_sampledata/_data/stocks.csv.gz``: AAPL, FB, GOOG, IBM,
  MSFT to 2013-03-01, raw OHLCV plus the source's split/dividend-adjusted close.

``pmdarima``'s MSFT (``load_msft``) was inspected and deliberately not used: its OHLC are
already split- and dividend-adjusted (no raw close), so it cannot fill the canonical
``close``/``adj_close`` pair; the bokeh MSFT series is used instead.

The script reads the packaged files directly, checks their SHA-256 against the versions the
committed parquet was built from (``--allow-source-drift`` to build from other versions anyway),
drops rows that break the canonical contract with a printed count per ticker and rule, checks
the result with :func:`features.frame.validate_prices` and writes the parquet atomically with
zstd compression. The output is deterministic for the same source files.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.resources
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from features.frame import COLUMNS, PRICE_COLUMNS, canonicalize, validate_prices  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "data" / "sample" / "prices.parquet"


@dataclass(frozen=True)
class SourceFile:
    distribution: str  # PyPI name, for the version
    package: str  # importable package that holds the file
    resource: str  # path of the file inside that package
    sha256: str  # hash of the file the committed parquet was built from
    built_with: str  # distribution version that shipped that file


ARCH_SP500 = SourceFile(
    "arch",
    "arch.data.sp500",
    "sp500.csv.gz",
    "1e028cbb9c400cc018c816ccc439b33c919387e726c3ed5ca2c05c82746059de",
    "8.0.0",
)
ARCH_NASDAQ = SourceFile(
    "arch",
    "arch.data.nasdaq",
    "nasdaq.csv.gz",
    "b2009535343ebb14e0aa11ed086788d2997a416ffe4f9450eed9a561ae30ac59",
    "8.0.0",
)
BOKEH_STOCKS = SourceFile(
    "bokeh-sampledata",
    "bokeh_sampledata",
    "_data/stocks.csv.gz",
    "5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd",
    "2026.1",
)

BOKEH_TICKERS: tuple[str, ...] = ("AAPL", "FB", "GOOG", "IBM", "MSFT")
EXPECTED_TICKERS: tuple[str, ...] = ("^GSPC", "^IXIC", *BOKEH_TICKERS)


class SourceDriftError(RuntimeError):
    """A packaged source file is not the one the committed sample was built from."""


def _locate(src: SourceFile, *, allow_drift: bool) -> Path:
    path = Path(str(importlib.resources.files(src.package).joinpath(src.resource)))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    version = importlib.metadata.version(src.distribution)
    print(f"source {src.distribution}=={version} {src.package}/{src.resource} sha256={digest}")
    if digest != src.sha256:
        msg = (
            f"{src.distribution}=={version}: {src.resource} has sha256 {digest}, expected "
            f"{src.sha256} ({src.distribution}=={src.built_with}); the sample and its tests "
            f"were built from that version"
        )
        if not allow_drift:
            raise SourceDriftError(msg + " (pass --allow-source-drift to build anyway)")
        print(f"WARNING: {msg}")
    return path


def _to_float(text: str) -> float:
    """Python's correctly rounded ``float``; anything unparsable (``null``, ``""``) is NaN."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _read_csv(src: SourceFile, header: list[str], date_format: str, *, allow_drift: bool) -> pd.DataFrame:
    """Read one packaged CSV, check its header, parse numbers with Python's ``float``.

    Numbers are parsed by hand, not by pandas' C parser, so every value is the exact double
    nearest to the text in the file, under any pandas version.
    """
    raw = pd.read_csv(_locate(src, allow_drift=allow_drift), dtype=str, keep_default_na=False)
    if list(raw.columns) != header:
        raise ValueError(f"{src.resource}: columns {list(raw.columns)}, expected {header}")
    out = raw.rename(columns=lambda c: c.lower().replace(" ", "_"))
    for col in ("open", "high", "low", "close", "adj_close", "volume"):
        out[col] = np.array([_to_float(x) for x in out[col]], dtype="float64")
    out["date"] = pd.to_datetime(out["date"], format=date_format)
    return out


def load_arch_index(src: SourceFile, ticker: str, *, allow_drift: bool) -> pd.DataFrame:
    """One arch index file (header ``Date,Open,High,Low,Close,Adj Close,Volume``; M/D/YYYY)."""
    header = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
    out = _read_csv(src, header, "%m/%d/%Y", allow_drift=allow_drift)
    out.insert(1, "ticker", ticker)
    return out


def load_bokeh_stocks(*, allow_drift: bool) -> pd.DataFrame:
    """bokeh-sampledata's stocks file (``Ticker,Date,Open,High,Low,Close,Volume,Adj Close``)."""
    header = ["Ticker", "Date", "Open", "High", "Low", "Close", "Volume", "Adj Close"]
    out = _read_csv(BOKEH_STOCKS, header, "%Y-%m-%d", allow_drift=allow_drift)
    found = sorted(out["ticker"].unique())
    if found != sorted(BOKEH_TICKERS):
        raise ValueError(f"stocks.csv.gz: tickers {found}, expected {sorted(BOKEH_TICKERS)}")
    return out


def drop_invalid(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows that break :func:`validate_prices`' rules; print every drop by ticker and rule.

    ``frame`` must be canonical (see :func:`canonicalize`). The first failing rule wins, so a
    row is counted once. Duplicated ``(ticker, date)`` keys keep their first row.
    """
    prices = frame.loc[:, list(PRICE_COLUMNS)].to_numpy()
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    tol = 1e-9 * h
    with np.errstate(invalid="ignore"):
        rules: list[tuple[str, np.ndarray]] = [
            ("missing or non-finite price", ~np.isfinite(prices).all(axis=1)),
            ("non-positive price", ~(prices > 0).all(axis=1)),
            (
                "outside low <= open, close <= high",
                ~((lo <= o + tol) & (lo <= c + tol) & (o <= h + tol) & (c <= h + tol)),
            ),
            ("negative volume", frame["volume"].to_numpy() < 0),
            ("duplicate (ticker, date)", frame.duplicated(["ticker", "date"]).to_numpy()),
        ]
    dropped = np.zeros(len(frame), dtype=bool)
    total = 0
    for rule, mask in rules:
        hit = mask & ~dropped
        if hit.any():
            counts = frame.loc[hit, "ticker"].value_counts().sort_index()
            for ticker, n in counts.items():
                first = frame.loc[hit & (frame["ticker"] == ticker).to_numpy(), "date"].min()
                print(f"dropped {n} row(s) of {ticker}: {rule} (first {first:%Y-%m-%d})")
            total += int(hit.sum())
        dropped |= hit
    print(f"dropped {total} row(s) in all" if total else "dropped 0 rows: every row is valid")
    before = set(frame["ticker"].unique())
    kept = frame.loc[~dropped].reset_index(drop=True)
    for ticker in sorted(before - set(kept["ticker"].unique())):
        print(f"WARNING: ticker {ticker} is broken: every one of its rows was dropped")
    return kept


def build(*, allow_drift: bool = False) -> pd.DataFrame:
    """Load every source, canonicalise, drop invalid rows and validate."""
    parts = [
        load_arch_index(ARCH_SP500, "^GSPC", allow_drift=allow_drift),
        load_arch_index(ARCH_NASDAQ, "^IXIC", allow_drift=allow_drift),
        load_bokeh_stocks(allow_drift=allow_drift),
    ]
    frame = canonicalize(pd.concat(parts, ignore_index=True))
    frame = validate_prices(drop_invalid(frame), name="sample prices")
    missing = sorted(set(EXPECTED_TICKERS) - set(frame["ticker"].unique()))
    if missing:
        print(f"WARNING: the sample lacks tickers {missing}")
    return frame


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as zstd parquet via a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # An explicit schema without pandas metadata: plain UTF-8 strings and ns timestamps read
    # back as the canonical dtypes under pandas 2 and 3, and the bytes do not depend on the
    # pandas version that wrote them.
    schema = pa.schema(
        [pa.field("date", pa.timestamp("ns")), pa.field("ticker", pa.string())]
        + [pa.field(c, pa.float64()) for c in COLUMNS[2:]]
    )
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata(None)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(
                table,
                fh,
                compression="zstd",
                compression_level=19,
                row_group_size=len(frame) or None,
                version="2.6",
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summarize(frame: pd.DataFrame) -> None:
    summary = frame.groupby("ticker", sort=True).agg(first=("date", "min"), last=("date", "max"), rows=("date", "size"))
    for ticker, row in summary.iterrows():
        first, last = f"{row['first']:%Y-%m-%d}", f"{row['last']:%Y-%m-%d}"
        print(f"{ticker:6s} {first} .. {last} {row['rows']:5d} rows")
    print(f"total {len(frame)} rows, {frame['ticker'].nunique()} tickers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output parquet path")
    parser.add_argument(
        "--allow-source-drift",
        action="store_true",
        help="build even if a packaged source file differs from the one the sample was built from",
    )
    args = parser.parse_args(argv)
    try:
        frame = build(allow_drift=args.allow_source_drift)
    except SourceDriftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_parquet_atomic(frame, args.out)
    summarize(frame)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
