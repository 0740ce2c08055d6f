"""``GET /api/v1/traces`` (filtered, keyset-paged) and ``GET /api/v1/traces/{trace_id}`` (the span tree)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from collector.queries.filters import MAX_LIMIT, Page, SpanFilters
from collector.queries.traces import TraceDetail, TraceSummary, get_trace, list_traces
from collector.store.database import Store
from ui.deps import get_store

__all__ = ["Paging", "TraceQuery", "router"]

router = APIRouter(tags=["traces"])


class Paging(BaseModel):
    """Keyset paging parameters shared by the listings."""

    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}.")
    cursor: str | None = Field(
        None, max_length=1000, description="The next_cursor of the previous page; omit for the first page."
    )


class TraceQuery(SpanFilters, Paging):
    """The query parameters of ``GET /traces``: the shared filters and paging; unknown names are refused."""


@router.get("/traces", response_model=Page[TraceSummary])
def traces(query: Annotated[TraceQuery, Query()], store: Store = Depends(get_store)) -> Page[TraceSummary]:
    """Traces, newest first: each is its root span with aggregates over all its spans.

    ``project``, ``start``/``end`` and ``min_latency_ms`` apply to the root span; ``status`` is the trace's
    (ERROR when any span is ERROR, else the root's); ``min_tokens`` applies to the trace's total tokens;
    ``model``, ``provider``, ``prompt_name``, ``prompt_version``, ``q`` and the annotation filters match a
    trace when any of its spans matches. A trace whose root span has not arrived yet is not listed.
    Errors: 422 for a malformed or unknown parameter, 400 for a bad cursor.
    """
    return list_traces(store, query, limit=query.limit, cursor=query.cursor)


@router.get("/traces/{trace_id}", response_model=TraceDetail)
def trace(
    trace_id: Annotated[str, Path(description="32 hexadecimal characters.")],
    store: Store = Depends(get_store),
) -> TraceDetail:
    """One trace: its summary and its spans as a tree (children ordered by start time; spans whose parent is
    missing are at the top level), each with its annotations. 400 for a malformed id, 404 when unknown."""
    return get_trace(store, trace_id)
