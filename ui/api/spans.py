"""``GET /api/v1/spans`` (filtered, keyset-paged) and ``GET /api/v1/spans/{span_id}`` (everything stored)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from collector.queries.filters import Page, SpanListFilters
from collector.queries.spans import SpanDetail, SpanSummary, get_span, list_spans
from collector.store.database import Store
from ui.api.traces import Paging
from ui.deps import get_store

__all__ = ["SpanIdPath", "SpanQuery", "TraceIdQuery", "router"]

router = APIRouter(tags=["spans"])

SpanIdPath = Annotated[str, Path(description="16 hexadecimal characters.")]
TraceIdQuery = Annotated[
    str | None,
    Query(description="The span's trace (32 hex); needed only when several traces hold this span id."),
]


class SpanQuery(SpanListFilters, Paging):
    """The query parameters of ``GET /spans``: the span filters and paging; unknown names are refused."""


@router.get("/spans", response_model=Page[SpanSummary])
def spans(query: Annotated[SpanQuery, Query()], store: Store = Depends(get_store)) -> Page[SpanSummary]:
    """Spans, newest first, each with its summary fields and annotations (no message bodies).

    Every filter applies to the span itself; ``span_ids`` may repeat or hold comma-separated ids (500 at
    most).
    Errors: 422 for a malformed or unknown parameter, 400 for a bad cursor.
    """
    return list_spans(store, query, limit=query.limit, cursor=query.cursor)


@router.get("/spans/{span_id}", response_model=SpanDetail)
def span(span_id: SpanIdPath, trace_id: TraceIdQuery = None, store: Store = Depends(get_store)) -> SpanDetail:
    """One span: every canonical field (JSON decoded), the raw attributes, events and resource, the log events
    carrying its ids, and its annotations. 400 for a malformed id, 404 when unknown, 409 when several traces
    hold this span id and ``trace_id`` is not given."""
    return get_span(store, span_id, trace_id=trace_id)
