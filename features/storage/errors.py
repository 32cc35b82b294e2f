"""Errors about what is stored, shared by ``features`` and ``models`` (``flows.exits`` maps them to exit statuses)."""

from __future__ import annotations


class CorruptDataError(RuntimeError):
    """A stored file is corrupt, truncated or not what its name says; the message names the file.

    Retrying does not help; the file must be repaired, restored or removed (``updown`` exits with
    :data:`flows.exits.CORRUPT`).
    """
