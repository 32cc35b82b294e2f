"""Which library versions a stored model, a report or a fold cache key was made with."""

from __future__ import annotations

from importlib import metadata as importlib_metadata

VERSIONED = ("updown", "keras", "tensorflow", "numpy", "pandas", "pyarrow", "prefect", "scikit-learn")
"""The libraries a stored model or report records."""


def library_versions(names: tuple[str, ...] = VERSIONED) -> dict[str, str]:
    """Versions of the libraries a stored model or report depends on ("not installed" when absent)."""
    out = {}
    for name in names:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
