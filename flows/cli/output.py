"""How the ``updown`` commands print a frame: one date format, a sentence for nothing, quiet pipes.

* ``table``: aligned columns, 4 decimals; an empty frame prints the caller's sentence instead of
  pandas' ``Empty DataFrame`` repr.
* ``csv``: the header and rows (only the header when empty).
* ``json``: a list of records (``[]`` when empty).

Dates print as ``YYYY-MM-DD`` in every format (pandas would write ISO timestamps such as
``2018-12-31T00:00:00.000`` in JSON).
"""

from __future__ import annotations

import os
import sys

import pandas as pd

FORMATS = ("table", "csv", "json")
BROKEN_PIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`'s writer


def dates_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every datetime column as ``YYYY-MM-DD`` strings (time of day dropped)."""
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = out[name].dt.strftime("%Y-%m-%d")
    return out


def print_frame(frame: pd.DataFrame, fmt: str, *, empty: str) -> None:
    """Print ``frame`` to stdout as ``table``, ``csv`` or ``json``.

    Args:
        frame: the rows to print.
        fmt: one of :data:`FORMATS`.
        empty: the sentence a ``table`` shows when ``frame`` has no rows.

    Raises:
        ValueError: naming an unknown ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got format={fmt!r}")
    text = dates_as_text(frame)
    if fmt == "csv":
        write(text.to_csv(index=False))
    elif fmt == "json":
        write(text.to_json(orient="records") + "\n")
    elif frame.empty:
        write(empty + "\n")
    else:
        write(text.to_string(index=False, float_format=lambda v: f"{v:.4f}") + "\n")


def write(text: str, *, chunk: int = 8192) -> None:
    """Write ``text`` to stdout in pieces no larger than its buffer.

    One large ``write`` to a pipe whose reader has gone can end in a short write that Python's
    text layer drops silently (the rest of the output is lost with no ``BrokenPipeError``, so
    the exit status would depend on timing); buffer-sized pieces always raise it.
    """
    for start in range(0, len(text), chunk):
        sys.stdout.write(text[start : start + chunk])


def silence_stdout() -> None:
    """Point stdout at ``/dev/null``, after its reader has gone (``updown report | head -5``).

    Python would otherwise print a second ``BrokenPipeError`` while flushing stdout at exit. The
    recipe of https://docs.python.org/3/library/signal.html#note-on-sigpipe; the caller then
    exits with :data:`BROKEN_PIPE_STATUS` (141, what a shell reports for a writer that SIGPIPE
    ended, e.g. ``seq 100000 | head -1`` under ``set -o pipefail``).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
