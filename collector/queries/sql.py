"""Read-only SQL over the store for ``spanlab sql`` and ``POST /api/v1/sql``.

A query is accepted only when DuckDB parses it as exactly one ``SELECT`` (which includes ``FROM …``,
``VALUES``, ``WITH``, ``SHOW``, ``DESCRIBE``, ``SUMMARIZE``) or an ``EXPLAIN [ANALYZE]`` of one.
Its syntax tree (``json_serialize_sql``) is then checked:

- table functions must be on an allow-list (``range``, ``unnest``, ``duckdb_tables()``, …);
- functions that reach files, the network or settings (``read_csv``, ``read_parquet``, ``read_json*``,
  ``glob``, ``query``, …) are refused;
- so is a table name that is not a table, view or CTE (DuckDB would otherwise read ``FROM 'file.csv'``
  or a Python variable of the server).

It runs on a dedicated cursor, streamed, stopping after ``max_rows`` rows (``truncated``) and interrupted
after ``timeout_seconds`` (:class:`QueryTimeout`, HTTP 408). Values are made JSON-safe by :func:`json_value`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import math
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson
import pyarrow as pa
from pydantic import BaseModel, Field

from collector.errors import InvalidQuery
from collector.store.database import Store

__all__ = ["QueryTimeout", "SqlLimits", "SqlResult", "json_value", "run_sql"]

_NOT_SELECT = (
    "only a single SELECT (or EXPLAIN SELECT) is accepted: writes are not allowed through SQL, "
    "and neither are statements that change settings or reach files (got {kind})"
)
_EXPLAIN = re.compile(r"^\s*explain\s+(analy[sz]e\s+)?", re.IGNORECASE)
_TABLE_FUNCTIONS = frozenset(
    [
        "range",
        "generate_series",
        "unnest",
        "json_each",
        "json_tree",
        "repeat",
        "repeat_row",
        "summary",
        "histogram",
        "histogram_values",
        "pg_timezone_names",
        "icu_calendar_names",
        "duckdb_tables",
        "duckdb_columns",
        "duckdb_views",
        "duckdb_schemas",
        "duckdb_functions",
        "duckdb_types",
        "duckdb_indexes",
        "duckdb_constraints",
        "duckdb_databases",
        "duckdb_keywords",
        "duckdb_settings",
        "duckdb_sequences",
        "duckdb_dependencies",
        "duckdb_variables",
        "pragma_table_info",
        "pragma_storage_info",
        "pragma_database_size",
        "pragma_version",
        "pragma_platform",
        "pragma_show",
    ]
)
_OUTSIDE = re.compile(
    r"^(read_|parquet_|sniff_|iceberg_|delta_|sqlite_|postgres_|mysql_|http|s3_|enable_|disable_|create_|"
    r"register_|deregister_|destroy_|truncate_|force_|add_parquet)|_scan$|"
    r"^(glob|query|query_table|getenv|json_execute_serialized_sql|which_secret|checkpoint)$"
)

_PATH_LIKE = re.compile(r"[./\\:*?~]")


class QueryTimeout(InvalidQuery):
    """The query ran past the time limit and was interrupted (HTTP 408)."""

    status_code = 408


@dataclass(frozen=True, slots=True)
class SqlLimits:
    """How long a query may run and how many rows it may return."""

    timeout_seconds: float = 30.0
    max_rows: int = 10_000


class SqlResult(BaseModel):
    """Column names and DuckDB types, then the rows as JSON-safe lists (see :func:`json_value`)."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = Field(description="True when the query had more rows than the limit.")


def run_sql(store: Store, sql: str, *, limits: SqlLimits | None = None) -> SqlResult:
    """Run one read-only query; ``InvalidQuery`` when refused or failing, ``QueryTimeout`` past the limit."""
    limits = limits or SqlLimits()
    if not sql.strip():
        raise InvalidQuery("the SQL text is empty")
    cursor = store.read(lambda con: con.cursor())  # a connection of its own, so interrupt() hits only this
    timer = threading.Timer(limits.timeout_seconds, _interrupt, [cursor])
    timer.start()
    try:
        query = _checked(cursor, sql)
        return _execute(cursor, query, limits.max_rows)
    except duckdb.InterruptException:
        raise QueryTimeout(
            f"the query ran longer than {limits.timeout_seconds:g} s and was stopped; narrow it with WHERE or LIMIT"
        ) from None
    except duckdb.Error as exc:
        raise InvalidQuery(_message(exc)) from None
    finally:
        timer.cancel()
        cursor.close()


def _interrupt(cursor: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # already closed: the query finished as the timer fired
        cursor.interrupt()


def _message(exc: duckdb.Error) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- checking -----------------------------------------------------------------------------------------------
def _checked(cursor: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The statement's text when it is one read-only SELECT/EXPLAIN; ``InvalidQuery`` otherwise."""
    try:
        statements = cursor.extract_statements(sql)
    except duckdb.Error as exc:
        raise InvalidQuery(f"the SQL does not parse: {_message(exc)}") from None
    if len(statements) != 1:
        raise InvalidQuery(f"send exactly one statement (got {len(statements)}); remove the extra ';'")
    statement = statements[0]
    kind = statement.type.name
    select = statement.query
    if kind == "EXPLAIN":
        select = _EXPLAIN.sub("", select, count=1)
        inner = cursor.extract_statements(select) if select != statement.query else []
        kind = "EXPLAIN " + (inner[0].type.name if len(inner) == 1 else "?")
    if kind not in ("SELECT", "EXPLAIN SELECT"):
        raise InvalidQuery(_NOT_SELECT.format(kind=kind))
    _check_tree(cursor, select)
    return statement.query


def _check_tree(cursor: duckdb.DuckDBPyConnection, select: str) -> None:
    row = cursor.execute("SELECT json_serialize_sql(?)", [select]).fetchone()
    tree = orjson.loads(row[0]) if row else {"error": True, "error_message": "no syntax tree"}
    if tree.get("error"):
        raise InvalidQuery(f"this query cannot be checked to be read-only: {tree.get('error_message')}")
    known = {
        name.lower()
        for (name,) in cursor.execute(
            "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()"
        ).fetchall()
    }
    nodes = list(_walk(tree))
    # CTE names count anywhere (scopes are not tracked), so a path-like one would let an out-of-scope
    # reference fall through to a file-reading replacement scan: those are refused.
    ctes = {entry["key"].lower() for node in nodes for entry in node.get("cte_map", {}).get("map", [])}
    known |= {name for name in ctes if not _PATH_LIKE.search(name)}
    for node in nodes:
        if node.get("type") == "TABLE_FUNCTION":
            name = str(node.get("function", {}).get("function_name", "")).lower()
            if name not in _TABLE_FUNCTIONS:
                raise InvalidQuery(_refusal(name, "table function "))
        elif "function_name" in node and _OUTSIDE.search(str(node["function_name"]).lower()):
            raise InvalidQuery(_refusal(str(node["function_name"]).lower(), "function "))
        elif node.get("type") == "BASE_TABLE" and str(node.get("table_name", "")).lower() not in known:
            raise InvalidQuery(
                f"no table or view named {node.get('table_name')!r}: query spans, logs or annotations "
                "(SHOW TABLES lists them); files and other outside data cannot be read through SQL"
            )


def _refusal(name: str, what: str) -> str:
    if _OUTSIDE.search(name):
        return f"{what}{name}() reaches files, the network or settings, which is not allowed through SQL"
    allowed = ", ".join(sorted(_TABLE_FUNCTIONS))
    return f"{what}{name}() is not allowed through SQL; the table functions allowed are: {allowed}"


def _walk(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON tree (iteratively: deeply nested SQL must not hit the recursion limit)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# -- running ------------------------------------------------------------------------------------------------
def _execute(cursor: duckdb.DuckDBPyConnection, query: str, max_rows: int) -> SqlResult:
    relation = cursor.sql(query)
    columns, types = list(relation.columns), [str(t) for t in relation.types]
    reader = relation.to_arrow_reader(min(max_rows + 1, 2048))
    rows: list[list[Any]] = []
    for batch in reader:
        json_columns = [t == "JSON" for t in types]
        values = [column.to_pylist(maps_as_pydicts="lossy") for column in batch.columns]
        for row in zip(*values, strict=True):
            rows.append(
                [_decoded(v) if is_json else json_value(v) for v, is_json in zip(row, json_columns, strict=True)]
            )
        if len(rows) > max_rows:
            break
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]
    return SqlResult(columns=columns, types=types, rows=rows, row_count=len(rows), truncated=truncated)


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return json_value(value)


def json_value(value: Any) -> Any:
    """A DuckDB/Arrow value as JSON: times ISO 8601, decimals as numbers, blobs base64, NaN/∞ as strings,
    intervals as ISO 8601 durations, UUIDs as text, structs and maps as objects, lists as arrays."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value if math.isfinite(value) else ("NaN" if math.isnan(value) else f"{'-' if value < 0 else ''}Infinity")
        )
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"PT{value.total_seconds():g}S"
    if isinstance(value, pa.MonthDayNano):
        return f"P{value.months}M{value.days}DT{value.nanoseconds / 1e9:g}S"
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)
