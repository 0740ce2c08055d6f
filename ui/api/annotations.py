"""``POST``/``GET /api/v1/spans/{span_id}/annotations``: attach and list scores, labels and explanations."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from collector.annotations import Annotation, AnnotationInput, add_annotation, list_annotations
from collector.queries.filters import Page
from collector.store.database import Store
from ui.api.spans import SpanIdPath, TraceIdQuery
from ui.deps import get_store

__all__ = ["router"]

router = APIRouter(tags=["annotations"])


@router.post("/spans/{span_id}/annotations", response_model=Annotation, status_code=201)
def annotate(
    span_id: SpanIdPath,
    body: AnnotationInput,
    trace_id: TraceIdQuery = None,
    store: Store = Depends(get_store),
) -> Annotation:
    """Attach an annotation to a span and return it (201) with its ``id`` (UUID4) and ``created_at``.

    The body needs ``name`` (1 to 200 characters) and at least one of ``score``, ``label`` and ``explanation``
    (at most 10,000 characters); ``annotator_kind`` is HUMAN (default), LLM or CODE. 422 for an invalid body,
    400 for a malformed id, 404 for an unknown span, 409 when several traces hold the span id and
    ``trace_id`` is not given.
    """
    return add_annotation(store, span_id, body, trace_id=trace_id)


@router.get("/spans/{span_id}/annotations", response_model=Page[Annotation])
def span_annotations(
    span_id: SpanIdPath, trace_id: TraceIdQuery = None, store: Store = Depends(get_store)
) -> Page[Annotation]:
    """A span's annotations, oldest first (not paged: ``next_cursor`` is always null); errors as for POST."""
    return Page(data=list_annotations(store, span_id, trace_id=trace_id))
