"""``POST /api/v1/sql``: one read-only SELECT over the store, with the server's row and time limits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from collector.queries.sql import SqlLimits, SqlResult, run_sql
from collector.store.database import Store
from ui.deps import get_store

__all__ = ["SqlRequest", "router", "sql_limits"]

router = APIRouter(tags=["sql"])


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000, description="One SELECT (or EXPLAIN SELECT) statement.")


def sql_limits(request: Request) -> SqlLimits:
    """The limits from the settings the server started with (``app.state.settings``), else the defaults."""
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        return SqlLimits()
    return SqlLimits(timeout_seconds=settings.sql_timeout_seconds, max_rows=settings.sql_max_rows)


@router.post("/sql", response_model=SqlResult)
def sql(body: SqlRequest, store: Store = Depends(get_store), limits: SqlLimits = Depends(sql_limits)) -> SqlResult:
    """Run one read-only query on the store (tables ``spans``, ``logs``, ``annotations``).

    Accepted: a single SELECT (also ``FROM …``, ``WITH``, ``VALUES``, ``SHOW``, ``DESCRIBE``,
    ``SUMMARIZE``) or ``EXPLAIN [ANALYZE]`` of one. Refused with 400: any other statement (writes,
    COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA), several statements, and functions that read files or
    the network (``read_csv``, ``read_parquet``, ``read_json*``, ``glob``, …).
    Rows stop at ``SPANLAB_SQL_MAX_ROWS`` (``truncated``); a query running past
    ``SPANLAB_SQL_TIMEOUT_SECONDS`` is stopped with 408. Values: timestamps ISO 8601, decimals as
    numbers, blobs base64, JSON columns decoded, NaN/Infinity as strings.
    """
    return run_sql(store, body.sql, limits=limits)
