"""Annotations: named scores, labels and explanations attached to a span by a human, an LLM judge or code.

An annotation belongs to one span (and so to its trace); a span may carry any number, several with the same
name (e.g. one per reviewer). Writes go through the store's single writer; reads are plain queries that the
span and trace queries join in, so annotations appear in every span and trace read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.queries.filters import as_utc, check_span_id, check_trace_id, invalid, resolve_span
from collector.store.database import Store

__all__ = [
    "Annotation",
    "AnnotationInput",
    "AnnotationSummary",
    "AnnotatorKind",
    "add_annotation",
    "annotation_summaries",
    "annotations_by_span",
    "list_annotations",
]

AnnotatorKind = Literal["HUMAN", "LLM", "CODE"]
MAX_METADATA_BYTES = 64 * 1024
_COLUMNS = "id, trace_id, span_id, name, score, label, explanation, annotator_kind, metadata, created_at"


class AnnotationInput(BaseModel):
    """What a client sends: a name plus at least one of ``score``, ``label`` and ``explanation``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What is judged, e.g. 'correctness'.")
    score: float | None = Field(None, allow_inf_nan=False, description="A number; higher is not assumed better.")
    label: str | None = Field(None, min_length=1, max_length=200, description="A category, e.g. 'wrong_intent'.")
    explanation: str | None = Field(None, max_length=10_000, description="Free text: why.")
    annotator_kind: AnnotatorKind = Field("HUMAN", description="Who annotated: HUMAN, LLM or CODE.")
    metadata: dict[str, Any] | None = Field(None, description="Any JSON object (at most 64 KiB).")

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > MAX_METADATA_BYTES:
            raise invalid(f"metadata must encode to at most {MAX_METADATA_BYTES} bytes of JSON")
        return value

    @model_validator(mode="after")
    def _something_said(self) -> AnnotationInput:
        if self.score is None and self.label is None and not self.explanation:
            raise invalid("give at least one of score, label or explanation")
        return self


class Annotation(BaseModel):
    """A stored annotation."""

    id: str = Field(description="A UUID4.")
    trace_id: str
    span_id: str
    name: str
    score: float | None = None
    label: str | None = None
    explanation: str | None = None
    annotator_kind: AnnotatorKind
    metadata: dict[str, Any] | None = None
    created_at: datetime


class AnnotationSummary(BaseModel):
    """The annotations of one name on a trace: how many, their mean score and their distinct labels."""

    name: str
    count: int
    mean_score: float | None = None
    labels: list[str] = Field(default_factory=list)


def add_annotation(store: Store, span_id: str, data: AnnotationInput, *, trace_id: str | None = None) -> Annotation:
    """Store an annotation on a span and return it.

    Raises ``InvalidQuery`` for malformed ids, ``NotFound`` for an unknown span and ``AmbiguousSpan`` when the
    span id occurs in several traces and ``trace_id`` is not given.
    """
    span_id = check_span_id(span_id)
    wanted = check_trace_id(trace_id) if trace_id is not None else None
    owner = store.read(lambda con: resolve_span(con, span_id, trace_id=wanted))
    annotation = Annotation(
        id=str(uuid.uuid4()),
        trace_id=owner,
        span_id=span_id,
        created_at=datetime.now(UTC),
        **data.model_dump(),
    )
    row = annotation.model_dump()
    row["metadata"] = None if data.metadata is None else orjson.dumps(data.metadata).decode()
    row["created_at"] = annotation.created_at.replace(tzinfo=None)

    def insert(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"INSERT INTO annotations ({_COLUMNS}) VALUES ({', '.join('?' * 10)})", list(row.values()))

    store.write(insert).result()
    return annotation


def list_annotations(store: Store, span_id: str, *, trace_id: str | None = None) -> list[Annotation]:
    """A span's annotations, oldest first (errors as :func:`add_annotation`)."""
    span_id = check_span_id(span_id)
    wanted = check_trace_id(trace_id) if trace_id is not None else None

    def query(con: duckdb.DuckDBPyConnection) -> list[Annotation]:
        owner = resolve_span(con, span_id, trace_id=wanted)
        return annotations_by_span(con, [owner]).get((owner, span_id), [])

    return store.read(query)


def annotations_by_span(
    con: duckdb.DuckDBPyConnection, trace_ids: list[str]
) -> dict[tuple[str, str], list[Annotation]]:
    """Every annotation of these traces keyed by ``(trace_id, span_id)``, each list oldest first."""
    out: dict[tuple[str, str], list[Annotation]] = defaultdict(list)
    if not trace_ids:
        return out
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM annotations WHERE trace_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY created_at, id",
        [trace_ids],
    ).fetchall()
    for row in rows:
        annotation = _annotation(row)
        out[(annotation.trace_id, annotation.span_id)].append(annotation)
    return out


def annotation_summaries(con: duckdb.DuckDBPyConnection, trace_ids: list[str]) -> dict[str, list[AnnotationSummary]]:
    """Per trace, one :class:`AnnotationSummary` per annotation name (sorted by name)."""
    out: dict[str, list[AnnotationSummary]] = defaultdict(list)
    if not trace_ids:
        return out
    rows = con.execute(
        "SELECT trace_id, name, count(*), avg(score), "
        "coalesce(list(DISTINCT label ORDER BY label) FILTER (WHERE label IS NOT NULL), []) "
        "FROM annotations WHERE trace_id IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY trace_id, name ORDER BY name",
        [trace_ids],
    ).fetchall()
    for trace_id, name, count, mean, labels in rows:
        out[trace_id].append(AnnotationSummary(name=name, count=count, mean_score=mean, labels=labels))
    return out


def _annotation(row: tuple[Any, ...]) -> Annotation:
    id_, trace_id, span_id, name, score, label, explanation, kind, metadata, created_at = row
    return Annotation(
        id=id_,
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        score=score,
        label=label,
        explanation=explanation,
        annotator_kind=kind,
        metadata=None if metadata is None else orjson.loads(metadata),
        created_at=as_utc(created_at),
    )
