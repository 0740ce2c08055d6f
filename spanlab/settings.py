"""The one typed settings object, read once at start-up: flags, then ``SPANLAB_*`` env, then defaults.

Every setting is documented here and in the README (a test checks that each field is mentioned there).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from replay.providers import ProviderConfig, check_provider_names

__all__ = ["Settings"]


def _default_workers() -> int:
    # One normalizer process per spare core: the request loop keeps one core for HTTP/gRPC and DuckDB.
    return max(1, (os.cpu_count() or 2) - 1)


class Settings(BaseSettings):
    """spanlab's settings. Env names are ``SPANLAB_`` + the field name in upper case."""

    model_config = SettingsConfigDict(env_prefix="SPANLAB_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP and gRPC servers bind to.")
    http_port: int = Field(4318, ge=0, le=65535, description="OTLP/HTTP, REST API, docs and UI port.")
    grpc_port: int = Field(4317, ge=0, le=65535, description="OTLP/gRPC port.")
    db: Path = Field(Path(".spanlab/spanlab.duckdb"), description="The DuckDB file (created if missing).")
    url: str = Field("http://127.0.0.1:4318", description="Where CLI commands and SDK clients reach the server.")
    api_key: str | None = Field(None, description="Bearer key the REST API requires when set.")
    max_message_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest OTLP request accepted, after decompression."
    )
    max_pending_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="Accepted-but-not-yet-stored bytes past which exports are refused with 503/UNAVAILABLE.",
    )
    ingest_workers: int = Field(
        default_factory=_default_workers,
        ge=0,
        description="Processes that decode and normalize spans (0 = in the writer thread).",
    )
    wal_fsync: bool = Field(True, description="fsync the write-ahead log before acknowledging an export.")
    sql_timeout_seconds: float = Field(30.0, gt=0, description="Longest a `spanlab sql` query may run.")
    sql_max_rows: int = Field(10_000, gt=0, description="Most rows a `spanlab sql` query returns.")
    duckdb_memory_limit: str = Field("512MB", description="DuckDB's memory_limit for the store.")
    providers: dict[str, ProviderConfig] = Field(
        default_factory=dict,
        description="Named OpenAI-compatible model providers for replay, as JSON: "
        '{"name": {"base_url": "...", "api_key_env": "ENV_VAR", "default_model": "..."}}.',
    )

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, value: dict[str, ProviderConfig]) -> dict[str, ProviderConfig]:
        check_provider_names(value)
        return value

    @property
    def wal_dir(self) -> Path:
        """The write-ahead log folder, beside the DuckDB file."""
        return self.db.with_suffix(".wal")
