from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from spanlab.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [f"SPANLAB_{name.upper()}" for name in Settings.model_fields if f"SPANLAB_{name.upper()}" not in text]
    assert not missing, f"document these settings in README.md: {missing}"


def test_env_overrides_defaults_and_explicit_values_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLAB_HTTP_PORT", "9999")
    monkeypatch.setenv("SPANLAB_DB", "data/x.duckdb")
    settings = Settings()
    assert settings.http_port == 9999 and settings.db == Path("data/x.duckdb")
    assert settings.wal_dir == Path("data/x.wal")
    assert Settings(http_port=1234).http_port == 1234
    assert Settings().grpc_port == 4317


def test_bad_env_values_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLAB_HTTP_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="http_port"):
        Settings()
    monkeypatch.setenv("SPANLAB_HTTP_PORT", "70000")
    with pytest.raises(ValidationError, match="65535"):
        Settings()
