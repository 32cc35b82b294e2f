"""Build ``data/sample/prices.parquet`` and ``sp500_20.parquet`` from real daily prices shipped inside PyPI wheels.

Run from anywhere (the repository root is put on ``sys.path``)::

    pip install -e '.[sample]'
    pip install --no-deps skfolio==1.12.2   # only its data file is read; nothing of it is imported
    python scripts/make_sample_data.py               # both files
    python scripts/make_sample_data.py --set sp500   # only sp500_20.parquet

Sources (see ``data/sample/README.md`` for provenance, licences and what was measured):

* ``arch`` -- ``arch/data/sp500/sp500.csv.gz`` and ``arch/data/nasdaq/nasdaq.csv.gz``:
  S&P 500 (``^GSPC``) and NASDAQ Composite (``^IXIC``), 1999-2018.
* ``bokeh-sampledata`` -- ``bokeh_sampledata/_data/stocks.csv.gz``: AAPL, FB, GOOG, IBM,
  MSFT to 2013-03-01, raw OHLCV plus the source's split/dividend-adjusted close.

* ``skfolio`` -- ``skfolio/datasets/data/sp500_dataset.csv.gz``: adjusted closes of 20 S&P 500
  stocks, 1990-01-02..2022-12-28, written **close-only** to ``sp500_20.parquet`` (``close =
  adj_close`` = the file's adjusted close; open, high, low, volume NaN). The file is found through
  the installed distribution's metadata (``importlib.metadata``), so skfolio's own dependencies are
  not needed; ``--skfolio-wheel`` reads it from a downloaded wheel instead.

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
DEFAULT_SP500_OUT = REPO_ROOT / "data" / "sample" / "sp500_20.parquet"


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

SKFOLIO_SP500 = SourceFile(
    "skfolio",
    "skfolio.datasets.data",
    "sp500_dataset.csv.gz",
    "ee21cac28befb1d0a739a9ceb22184f995394726aa0cfde9a21941d1ac04ac0d",
    "1.12.2",
)
SKFOLIO_PATH = "skfolio/datasets/data/sp500_dataset.csv.gz"  # inside the distribution / wheel
SP500_TICKERS: tuple[str, ...] = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)  # fmt: skip

BOKEH_TICKERS: tuple[str, ...] = ("AAPL", "FB", "GOOG", "IBM", "MSFT")
EXPECTED_TICKERS: tuple[str, ...] = ("^GSPC", "^IXIC", *BOKEH_TICKERS)


class SourceDriftError(RuntimeError):
    """A packaged source file is not the one the committed sample was built from."""


def _locate(src: SourceFile, *, allow_drift: bool) -> Path:
    path = Path(str(importlib.resources.files(src.package).joinpath(src.resource)))
    version = importlib.metadata.version(src.distribution)
    _check_digest(src, path.read_bytes(), version, f"{src.package}/{src.resource}", allow_drift=allow_drift)
    return path


def _check_digest(src: SourceFile, data: bytes, version: str, where: str, *, allow_drift: bool) -> None:
    digest = hashlib.sha256(data).hexdigest()
    print(f"source {src.distribution}=={version} {where} sha256={digest}")
    if digest != src.sha256:
        msg = (
            f"{src.distribution}=={version}: {src.resource} has sha256 {digest}, expected "
            f"{src.sha256} ({src.distribution}=={src.built_with}); the sample and its tests "
            f"were built from that version"
        )
        if not allow_drift:
            raise SourceDriftError(msg + " (pass --allow-source-drift to build anyway)")
        print(f"WARNING: {msg}")


def _skfolio_bytes(*, wheel: Path | None, allow_drift: bool) -> bytes:
    """The gzipped skfolio CSV, from ``wheel`` or the installed distribution (never imported)."""
    if wheel is not None:
        import zipfile

        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(SKFOLIO_PATH)
        version, where = wheel.name.split("-")[1], f"{wheel.name}:{SKFOLIO_PATH}"
    else:
        dist = importlib.metadata.distribution(SKFOLIO_SP500.distribution)
        path = Path(str(dist.locate_file(SKFOLIO_PATH)))
        data, version, where = path.read_bytes(), dist.version, str(path)
    _check_digest(SKFOLIO_SP500, data, version, where, allow_drift=allow_drift)
    return data


def load_skfolio_sp500(*, wheel: Path | None = None, allow_drift: bool = False) -> pd.DataFrame:
    """skfolio's 20-stock file (wide: ``Date`` then one adjusted-close column per ticker) as a close-only frame.

    ``close`` and ``adj_close`` are both the file's adjusted close (the file has no raw close);
    ``open``, ``high``, ``low`` and ``volume`` are NaN. Empty cells (none in 1.12.2) become
    missing rows, not NaN prices.
    """
    import gzip
    import io

    text = gzip.decompress(_skfolio_bytes(wheel=wheel, allow_drift=allow_drift)).decode("utf-8")
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if list(raw.columns) != ["Date", *SP500_TICKERS]:
        raise ValueError(f"{SKFOLIO_SP500.resource}: columns {list(raw.columns)}, expected Date + {SP500_TICKERS}")
    long = raw.melt(id_vars="Date", var_name="ticker", value_name="text")
    long = long[long["text"] != ""]
    close = np.array([_to_float(x) for x in long["text"]], dtype="float64")
    nan = np.full(len(long), np.nan)
    columns = {
        "date": pd.to_datetime(long["Date"].to_numpy(), format="%Y-%m-%d"),
        "ticker": long["ticker"].to_numpy(),
        "open": nan, "high": nan, "low": nan,
        "close": close, "adj_close": close,
        "volume": nan,
    }  # fmt: skip
    return pd.DataFrame(columns)


def build_sp500(*, wheel: Path | None = None, allow_drift: bool = False) -> pd.DataFrame:
    """The close-only 20-stock sample, canonical and validated."""
    frame = canonicalize(load_skfolio_sp500(wheel=wheel, allow_drift=allow_drift))
    return validate_prices(drop_invalid(frame), name="sp500 sample prices")


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
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    close_only = np.isnan(o) & np.isnan(h) & np.isnan(lo)  # open, high, low not reported
    prices = np.where(close_only[:, None], 1.0, frame.loc[:, list(PRICE_COLUMNS)].to_numpy())
    tol = 1e-9 * h
    with np.errstate(invalid="ignore"):
        rules: list[tuple[str, np.ndarray]] = [
            ("missing or non-finite price", ~np.isfinite(prices).all(axis=1)),
            ("non-positive price", ~(prices > 0).all(axis=1)),
            (
                "outside low <= open, close <= high",
                ~(close_only | ((lo <= o + tol) & (lo <= c + tol) & (o <= h + tol) & (c <= h + tol))),
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
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output parquet path of the 7-ticker set")
    parser.add_argument("--sp500-out", type=Path, default=DEFAULT_SP500_OUT, help="output path of the sp500 set")
    parser.add_argument(
        "--set", choices=("all", "prices", "sp500"), default="all", help="which file(s) to build (default: all)"
    )
    parser.add_argument("--skfolio-wheel", type=Path, help="read skfolio's file from this wheel, not the install")
    parser.add_argument(
        "--allow-source-drift",
        action="store_true",
        help="build even if a packaged source file differs from the one the sample was built from",
    )
    args = parser.parse_args(argv)
    builders = {
        "prices": (args.out, lambda: build(allow_drift=args.allow_source_drift)),
        "sp500": (args.sp500_out, lambda: build_sp500(wheel=args.skfolio_wheel, allow_drift=args.allow_source_drift)),
    }
    for name, (out, make) in builders.items():
        if args.set not in ("all", name):
            continue
        try:
            frame = make()
        except SourceDriftError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        write_parquet_atomic(frame, out)
        summarize(frame)
        print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
