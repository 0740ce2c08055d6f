"""Per-project totals: spans, traces, LLM calls and errors, when first and last seen, tokens and cost."""

from __future__ import annotations

from datetime import datetime

import duckdb
from pydantic import BaseModel, Field

from collector.queries.filters import TOKENS_SQL, as_utc, finite
from collector.store.database import Store

__all__ = ["ProjectSummary", "list_projects"]

_SQL = f"""
SELECT project, count(*), count(DISTINCT trace_id), count(*) FILTER (WHERE kind = 'LLM'),
       count(*) FILTER (WHERE status_code = 'ERROR'), min(start_time), max(end_time),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum({TOKENS_SQL}), sum(cost)
FROM spans GROUP BY project ORDER BY max(end_time) DESC, project
"""


class ProjectSummary(BaseModel):
    """One project (``openinference.project.name`` or ``service.name`` of the spans' resource)."""

    name: str
    span_count: int
    trace_count: int
    llm_span_count: int
    error_count: int = Field(description="Spans with status ERROR.")
    first_seen: datetime = Field(description="Start of the earliest span.")
    last_seen: datetime = Field(description="End of the latest span.")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float | None = Field(None, description="Summed cost; null when no span reports one.")


def list_projects(store: Store) -> list[ProjectSummary]:
    """Every project that has spans, most recently active first."""

    def query(con: duckdb.DuckDBPyConnection) -> list[ProjectSummary]:
        return [
            ProjectSummary(
                name=name,
                span_count=spans,
                trace_count=traces,
                llm_span_count=llm,
                error_count=errors,
                first_seen=as_utc(first),
                last_seen=as_utc(last),
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                total_tokens=tokens,
                cost=finite(cost),
            )
            for name, spans, traces, llm, errors, first, last, input_tokens, output_tokens, tokens, cost in (
                con.execute(_SQL).fetchall()
            )
        ]

    return store.read(query)
