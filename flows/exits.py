"""The ``updown`` exit statuses, defined once, and the error each one stands for (no Prefect, no Keras).

====== ================= ==========================================================================
status name              meaning (what a scheduler can do about it)
====== ================= ==========================================================================
0      ``OK``            done
1      ``FAILED``        an unexpected error (a bug): the traceback is printed; report it
2      ``BAD_INPUT``     bad input or a refused request (an option, a ticker, a date, a data root
                         that is a file, stale prices): fix the command line; retrying repeats it
3      ``PARTIAL``       some of the requested tickers failed; without ``--allow-partial`` nothing
                         derived from the rest was trained or published (``prices update`` keeps the
                         good tickers' prices, which stand alone); rerun later or pass
                         ``--allow-partial``
4      ``CORRUPT``       a stored file is corrupt or unreadable (a model, its metadata, the champion
                         pointer, a Parquet file): the message names it; repair or remove it
5      ``INFRA``         the machine, not the input: Prefect's temporary server did not start, the
                         disk is full, the data root is read-only or not permitted; fix and rerun
141    ``BROKEN_PIPE``   stdout's reader went away early (``updown report | head -5``)
====== ================= ==========================================================================

Every status but 0, 1 and 141 comes with one line on stderr naming the input or file. The CLI maps
an exception to its status with :func:`status_of`; the flows raise the exceptions below (or the
standard ones the table names) so a deployment's failed run carries the same distinction.
"""

from __future__ import annotations

import errno

from features.storage.errors import CorruptDataError

OK = 0
FAILED = 1
BAD_INPUT = 2
PARTIAL = 3
CORRUPT = 4
INFRA = 5
BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`'s writer

STATUSES: dict[int, str] = {
    OK: "ok",
    FAILED: "unexpected error",
    BAD_INPUT: "bad input",
    PARTIAL: "partial",
    CORRUPT: "corrupt data",
    INFRA: "infrastructure",
    BROKEN_PIPE: "broken pipe",
}

# OS errors no retry can mend: the disk stays full, the root read-only, the path a file.
PERMANENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENOENT,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)
_INFRA_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class PartialFailureError(RuntimeError):
    """Some requested tickers failed and ``allow_partial`` was not given (status :data:`PARTIAL`).

    Attributes:
        failures: ``{ticker: reason}`` of the tickers that failed.
    """

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})


class InfrastructureError(RuntimeError):
    """The machine failed, not the input (status :data:`INFRA`)."""


def is_permanent_os_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` that a retry would only repeat (a full disk, a read-only root...)."""
    return isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS


def partial_message(failures: dict[str, str], *, of: int, hint: bool = True) -> str:
    """``1 of 2 tickers failed (ZZZZ: no such ticker)``: the one line of a partial failure.

    With ``hint`` it ends saying how to go on with the others (``--allow-partial``).
    """
    shown = "; ".join(f"{t}: {why}" for t, why in sorted(failures.items()))
    line = f"{len(failures)} of {of} tickers failed ({shown})"
    return f"{line}; pass --allow-partial (allow_partial=True) to go on with the others" if hint else line


def status_of(exc: BaseException) -> int | None:
    """The exit status for an error the CLI reports in one line; None for an unexpected one (a bug).

    The class decides, most specific first: :class:`PartialFailureError`, then corrupt data
    (:class:`features.storage.errors.CorruptDataError` and its subclasses, such as the
    registry's :class:`models.serving.registry.CorruptModelError`), then infrastructure
    (:class:`InfrastructureError`, Prefect's temporary server not starting, an ``OSError`` of a
    full disk or a read-only or forbidden path), then bad input
    (``ValueError``, ``FileNotFoundError``, ``NotADirectoryError`` and other ``RuntimeError``).
    """
    if isinstance(exc, PartialFailureError):
        return PARTIAL
    if isinstance(exc, CorruptDataError):
        return CORRUPT
    if isinstance(exc, InfrastructureError) or "ephemeral Prefect API server" in str(exc):
        return INFRA
    if isinstance(exc, OSError) and exc.errno in _INFRA_ERRNOS:
        return INFRA
    if isinstance(exc, ValueError | FileNotFoundError | NotADirectoryError | RuntimeError):
        return BAD_INPUT
    return None
