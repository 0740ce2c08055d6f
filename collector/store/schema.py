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
    # Prompt hub and datasets (replay/prompts, replay/datasets). A dataset example row is one revision of an
    # example, visible in versions [valid_from, valid_to); the current version reads rows with valid_to NULL.
    [
        """CREATE TABLE prompts (
            name VARCHAR PRIMARY KEY,
            description VARCHAR,
            created_at TIMESTAMP NOT NULL
        )""",
        """CREATE TABLE prompt_versions (
            prompt_name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            template JSON NOT NULL,
            model_provider VARCHAR,
            model_name VARCHAR,
            invocation_parameters JSON NOT NULL,
            tools JSON,
            response_format JSON,
            metadata JSON NOT NULL,
            commit_message VARCHAR,
            created_at TIMESTAMP NOT NULL,
            content_hash VARCHAR NOT NULL,
            PRIMARY KEY (prompt_name, version)
        )""",
        """CREATE TABLE prompt_tags (
            prompt_name VARCHAR NOT NULL,
            tag VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (prompt_name, tag)
        )""",
        """CREATE TABLE prompt_tag_moves (
            prompt_name VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            tag VARCHAR NOT NULL,
            from_version INTEGER,
            to_version INTEGER NOT NULL,
            moved_at TIMESTAMP NOT NULL,
            note VARCHAR,
            PRIMARY KEY (prompt_name, seq)
        )""",
        """CREATE TABLE datasets (
            name VARCHAR PRIMARY KEY,
            description VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            version INTEGER NOT NULL
        )""",
        """CREATE TABLE dataset_versions (
            dataset VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL,
            note VARCHAR NOT NULL,
            example_count INTEGER NOT NULL,
            PRIMARY KEY (dataset, version)
        )""",
        """CREATE TABLE dataset_examples (
            dataset VARCHAR NOT NULL,
            example_id VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            valid_from INTEGER NOT NULL,
            valid_to INTEGER,
            input JSON NOT NULL,
            expected_output JSON,
            metadata JSON NOT NULL,
            source_trace_id VARCHAR,
            source_span_id VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )""",
        "CREATE INDEX dataset_examples_id ON dataset_examples (dataset, example_id)",
    ],
    # Replays (replay/records.py): one row per successful replay, the original output beside the new one.
    [
        """CREATE TABLE replays (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            source_trace_id VARCHAR,
            source_span_id VARCHAR,
            dataset VARCHAR,
            example_id VARCHAR,
            provider VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            request JSON NOT NULL,
            overrides JSON NOT NULL,
            original JSON NOT NULL,
            output JSON NOT NULL,
            diff JSON NOT NULL,
            expected_output JSON,
            replay_trace_id VARCHAR,
            replay_span_id VARCHAR
        )""",
        "CREATE INDEX replays_source_span ON replays (source_span_id)",
    ],
    # Experiments and online evaluation (replay/experiments): one row per experiment, one per run (example x
    # repetition) with its evaluations, and the online-evaluation rules with their ingested_at watermark.
    [
        """CREATE TABLE experiments (
            id VARCHAR PRIMARY KEY,
            name VARCHAR,
            dataset VARCHAR NOT NULL,
            dataset_version INTEGER,
            origin VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            config JSON NOT NULL,
            total_runs INTEGER NOT NULL,
            summary JSON,
            error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP
        )""",
        "CREATE INDEX experiments_dataset ON experiments (dataset)",
        """CREATE TABLE experiment_runs (
            experiment_id VARCHAR NOT NULL,
            example_id VARCHAR NOT NULL,
            repetition INTEGER NOT NULL,
            position INTEGER NOT NULL,
            input JSON,
            expected_output JSON,
            output JSON,
            error VARCHAR,
            attempts INTEGER NOT NULL,
            latency_ms DOUBLE,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cost DOUBLE,
            trace_id VARCHAR,
            span_id VARCHAR,
            evaluations JSON NOT NULL,
            started_at TIMESTAMP NOT NULL
        )""",
        "CREATE INDEX experiment_runs_experiment ON experiment_runs (experiment_id)",
        """CREATE TABLE online_rules (
            id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            project VARCHAR,
            prompt_name VARCHAR,
            span_kind VARCHAR NOT NULL,
            sample_rate DOUBLE NOT NULL,
            evaluators JSON NOT NULL,
            enabled BOOLEAN NOT NULL,
            watermark TIMESTAMP NOT NULL,
            evaluated BIGINT NOT NULL,
            failed BIGINT NOT NULL,
            errors BIGINT NOT NULL,
            last_evaluated_at TIMESTAMP,
            last_error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )""",
    ],
    # Optimizations (optimizer/records.py): one row per optimizer run — its settings, the dataset split (stored
    # before the first rollout), live progress, and the result and saved prompt version once it ended.
    [
        """CREATE TABLE optimizations (
            id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL,
            prompt_version VARCHAR NOT NULL,
            dataset VARCHAR NOT NULL,
            dataset_version INTEGER NOT NULL,
            request JSON NOT NULL,
            split JSON NOT NULL,
            progress JSON NOT NULL,
            result JSON,
            saved_version VARCHAR,
            error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP
        )""",
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
