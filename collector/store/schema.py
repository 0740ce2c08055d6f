"""Versioned schema migrations for the DuckDB store.

Each migration is a list of statements applied in one transaction; ``schema_migrations`` records which ran.
Never edit a released migration: add a new one.
"""

from __future__ import annotations

import duckdb

__all__ = ["LOG_COLUMNS", "LOG_JSON_COLUMNS", "MIGRATIONS", "SPAN_COLUMNS", "SPAN_JSON_COLUMNS", "migrate"]

# The spans table: canonical fields of DESIGN.md, then what the UI and queries need, then the raw data.
SPAN_COLUMNS: dict[str, str] = {
    "trace_id": "VARCHAR NOT NULL",
    "span_id": "VARCHAR NOT NULL",
    "parent_span_id": "VARCHAR",
    "project": "VARCHAR NOT NULL",
    "name": "VARCHAR NOT NULL",
    "kind": "VARCHAR NOT NULL",
    "start_time": "TIMESTAMP NOT NULL",
    "end_time": "TIMESTAMP NOT NULL",
    "status_code": "VARCHAR NOT NULL",
    "status_message": "VARCHAR",
    "provider": "VARCHAR",
    "model": "VARCHAR",
    "input_messages": "JSON",
    "output_messages": "JSON",
    "invocation_parameters": "JSON",
    "tools": "JSON",
    "response_format": "JSON",
    "prompt_name": "VARCHAR",
    "prompt_version": "VARCHAR",
    "prompt_template": "VARCHAR",
    "prompt_variables": "JSON",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "total_tokens": "BIGINT",
    "cost": "DOUBLE",
    "session_id": "VARCHAR",
    "user_id": "VARCHAR",
    "source_convention": "VARCHAR NOT NULL",
    "latency_ms": "DOUBLE NOT NULL",
    "otel_kind": "VARCHAR NOT NULL",
    "input_value": "VARCHAR",
    "output_value": "VARCHAR",
    "base_url": "VARCHAR",
    "metadata": "JSON",
    "search_text": "VARCHAR",
    "legacy_events": "BOOLEAN NOT NULL",
    "attributes": "JSON",
    "events": "JSON",
    "resource": "JSON",
    "scope_name": "VARCHAR",
    "ingested_at": "TIMESTAMP NOT NULL",
}

LOG_COLUMNS: dict[str, str] = {
    "log_id": "VARCHAR NOT NULL",
    "trace_id": "VARCHAR",
    "span_id": "VARCHAR",
    "project": "VARCHAR NOT NULL",
    "time": "TIMESTAMP NOT NULL",
    "event_name": "VARCHAR",
    "severity_text": "VARCHAR",
    "body": "JSON",
    "attributes": "JSON",
    "resource": "JSON",
    "ingested_at": "TIMESTAMP NOT NULL",
}

SPAN_JSON_COLUMNS = tuple(name for name, kind in SPAN_COLUMNS.items() if kind == "JSON")
LOG_JSON_COLUMNS = tuple(name for name, kind in LOG_COLUMNS.items() if kind == "JSON")


def _create(table: str, columns: dict[str, str], key: str) -> str:
    body = ",\n    ".join(f"{name} {kind}" for name, kind in columns.items())
    return f"CREATE TABLE {table} (\n    {body},\n    PRIMARY KEY ({key})\n)"


MIGRATIONS: list[list[str]] = [
    [
        _create("spans", SPAN_COLUMNS, "trace_id, span_id"),
        _create("logs", LOG_COLUMNS, "log_id"),
        """CREATE TABLE annotations (
            id VARCHAR PRIMARY KEY,
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            score DOUBLE,
            label VARCHAR,
            explanation VARCHAR,
            annotator_kind VARCHAR NOT NULL,
            metadata JSON,
            created_at TIMESTAMP NOT NULL
        )""",
    ],
    # Point lookups (one span, one trace, a span's log events) use these ART indexes instead of a full scan.
    [
        "CREATE INDEX spans_span_id ON spans (span_id)",
        "CREATE INDEX spans_trace_id ON spans (trace_id)",
        "CREATE INDEX logs_span ON logs (trace_id, span_id)",
        "CREATE INDEX annotations_span ON annotations (span_id)",
    ],
]


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration the database lacks; return the schema version now in force."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    current = int(row[0]) if row else 0
    for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
