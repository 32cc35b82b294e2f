"""library_versions: what a stored model, report or fold cache key records."""

from importlib import metadata

from models.versions import VERSIONED, library_versions


def test_installed_libraries_report_their_version_and_missing_ones_say_so() -> None:
    versions = library_versions(("numpy", "no-such-library-xyz"))
    assert versions == {"numpy": metadata.version("numpy"), "no-such-library-xyz": "not installed"}


def test_the_default_list_covers_the_model_stack() -> None:
    versions = library_versions()
    assert tuple(versions) == VERSIONED
    assert {"keras", "tensorflow", "numpy", "pandas", "updown"} <= set(versions)
    assert versions["pandas"] == metadata.version("pandas")
