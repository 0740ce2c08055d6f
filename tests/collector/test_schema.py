from __future__ import annotations

from pathlib import Path

import duckdb

from collector.store.schema import MIGRATIONS, migrate


def test_migrations_apply_once_and_record_their_versions(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert migrate(con) == len(MIGRATIONS)
    assert migrate(con) == len(MIGRATIONS), "a second run applies nothing"
    versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    indexes = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    assert {"spans_span_id", "spans_trace_id", "logs_span"} <= indexes


def test_a_database_at_version_one_is_brought_up_to_date(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    for statement in MIGRATIONS[0]:
        con.execute(statement)
    con.execute("INSERT INTO schema_migrations VALUES (1, now())")
    con.execute("INSERT INTO annotations VALUES ('a', 't', 's', 'n', 1.0, NULL, NULL, 'HUMAN', NULL, now())")
    assert migrate(con) == len(MIGRATIONS)
    assert con.execute("SELECT count(*) FROM annotations").fetchone() == (1,), "data survives a migration"
