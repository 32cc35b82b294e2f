"""Settings: every UPDOWN_* variable, its default, a bad value named, read when asked (not at import)."""

import dataclasses
import re
from pathlib import Path

import pytest

from features.settings import DEFAULT_SAMPLE_PATH, VARIABLES, Settings, SettingsError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_when_nothing_is_set():
    settings = Settings.from_env({})
    assert settings.data_root == "data"
    assert settings.source == "sample"
    assert settings.task_runner == "local"
    assert settings.mirror_dir == Path.home() / ".cache" / "updown" / "mirrors"
    assert dict(settings.storage_options) == {}
    assert settings.sample_path == DEFAULT_SAMPLE_PATH == REPO / "data" / "sample" / "prices.parquet"
    assert Settings.from_env({name: "  " for name in VARIABLES}) == settings  # empty counts as unset


def test_every_variable_sets_its_field(tmp_path):
    env = {
        "UPDOWN_DATA_ROOT": "s3://bucket/updown",
        "UPDOWN_SOURCE": "synthetic:seed=3",
        "UPDOWN_TASK_RUNNER": "threads:2",
        "UPDOWN_MIRROR_DIR": str(tmp_path / "mirrors"),
        "UPDOWN_STORAGE_OPTIONS": '{"endpoint_url": "http://minio:9000"}',
        "UPDOWN_SAMPLE_PATH": "~/prices.parquet",
    }
    settings = Settings.from_env(env)
    assert settings.data_root == "s3://bucket/updown"
    assert settings.source == "synthetic:seed=3"
    assert settings.task_runner == "threads:2"
    assert settings.mirror_dir == tmp_path / "mirrors"
    assert dict(settings.storage_options) == {"endpoint_url": "http://minio:9000"}
    assert settings.sample_path == Path.home() / "prices.parquet"
    assert set(VARIABLES) == set(env)
    defaults = Settings()
    assert [f for f in VARIABLES.values() if getattr(settings, f) == getattr(defaults, f)] == []


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '"text"'])
def test_a_bad_value_names_the_variable(bad):
    with pytest.raises(
        SettingsError, match=r"UPDOWN_STORAGE_OPTIONS must be a JSON object, got " + re.escape(repr(bad))
    ):
        Settings.from_env({"UPDOWN_STORAGE_OPTIONS": bad})
    assert issubclass(SettingsError, ValueError)


def test_settings_are_frozen_and_read_when_asked(monkeypatch):
    settings = Settings.from_env()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.source = "yahoo"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.storage_options["endpoint_url"] = "x"  # type: ignore[index]
    monkeypatch.setenv("UPDOWN_SOURCE", "yahoo")
    assert Settings.from_env().source == "yahoo"  # no value cached at import
    monkeypatch.delenv("UPDOWN_SOURCE")
    assert Settings.from_env().source == "sample"


def test_the_operations_guide_documents_every_variable():
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Environment", 1)[1].split("\n## ", 1)[0]
    for name in VARIABLES:
        assert f"`{name}`" in section, f"docs/operations.md's Environment table lacks {name}"
