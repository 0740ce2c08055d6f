"""Span reads: a filtered, keyset-paged listing and the full record of one span.

The listing is ordered newest first by ``(start_time, trace_id, span_id)``. A listed span carries its summary
fields (no message bodies); :func:`get_span` returns every stored column with JSON decoded, the log events
that carry the span's ids, and its annotations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import orjson
from pydantic import BaseModel, Field

from collector.annotations import Annotation, annotations_by_span
from collector.queries.filters import (
    TOKENS_SQL,
    Page,
    SpanListFilters,
    Where,
    annotation_condition,
    as_utc,
    check_span_id,
    check_trace_id,
    decode_cursor,
    encode_cursor,
    find_span,
    finite,
    span_conditions,
)
from collector.store.database import Store
from collector.store.schema import SPAN_JSON_COLUMNS

__all__ = [
    "SUMMARY_COLUMNS",
    "LogEvent",
    "SpanDetail",
    "SpanSummary",
    "get_span",
    "list_spans",
    "preview",
    "span_summary",
]

PREVIEW_CHARS = 300
SUMMARY_COLUMNS = (
    "trace_id, span_id, parent_span_id, project, name, kind, start_time, end_time, latency_ms, "
    "status_code, status_message, provider, model, prompt_name, prompt_version, input_tokens, output_tokens, "
    "total_tokens, cost, session_id, user_id, input_value, output_value"
)
_DETAIL_JSON = SPAN_JSON_COLUMNS
_DETAIL_OTHER = (
    "prompt_template",
    "source_convention",
    "otel_kind",
    "base_url",
    "legacy_events",
    "scope_name",
    "ingested_at",
)


class SpanSummary(BaseModel):
    """A span's identity, timing, status, model, prompt, token and cost fields, previews and annotations."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    project: str
    name: str
    kind: str
    start_time: datetime
    end_time: datetime
    latency_ms: float
    status_code: str
    status_message: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    input_preview: str | None = Field(None, description=f"The input value, cut to {PREVIEW_CHARS} characters.")
    output_preview: str | None = Field(None, description=f"The output value, cut to {PREVIEW_CHARS} characters.")
    annotations: list[Annotation] = Field(default_factory=list)


class LogEvent(BaseModel):
    """An OTLP log record carrying this span's ids (e.g. ``gen_ai.*`` message events)."""

    log_id: str
    time: datetime
    event_name: str | None = None
    severity_text: str | None = None
    body: Any = None
    attributes: dict[str, Any] | None = None


class SpanDetail(SpanSummary):
    """Every stored field of a span: the canonical LLM fields (JSON decoded), raw OTLP data and log events."""

    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    invocation_parameters: dict[str, Any] | None = None
    tools: list[Any] | None = None
    response_format: Any = None
    prompt_template: str | None = None
    prompt_variables: dict[str, Any] | None = None
    source_convention: str
    otel_kind: str
    input_value: str | None = None
    output_value: str | None = None
    base_url: str | None = None
    metadata: dict[str, Any] | None = None
    legacy_events: bool = False
    attributes: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    resource: dict[str, Any] | None = None
    scope_name: str | None = None
    ingested_at: datetime
    logs: list[LogEvent] = Field(default_factory=list)


def preview(text: str | None) -> str | None:
    """``text`` cut to the preview length (with an ellipsis when cut)."""
    if text is None or len(text) <= PREVIEW_CHARS:
        return text
    return text[: PREVIEW_CHARS - 1] + "…"


def span_summary(row: tuple[Any, ...], annotations: list[Annotation]) -> dict[str, Any]:
    """The :class:`SpanSummary` fields of a row selected with :data:`SUMMARY_COLUMNS`."""
    names = [c.strip() for c in SUMMARY_COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    values["start_time"] = as_utc(values["start_time"])
    values["end_time"] = as_utc(values["end_time"])
    values["cost"] = finite(values["cost"])
    values["input_preview"] = preview(values.pop("input_value"))
    values["output_preview"] = preview(values.pop("output_value"))
    values["annotations"] = annotations
    return values


def list_spans(
    store: Store, filters: SpanListFilters, *, limit: int = 50, cursor: str | None = None
) -> Page[SpanSummary]:
    """Spans matching every filter, newest first; ``cursor`` continues a previous page."""
    where = _span_where(filters)
    if cursor is not None:
        after, (trace_id, span_id) = decode_cursor(cursor, "span", 2)
        where.add(
            "start_time <= ? AND (start_time < ? OR trace_id < ? OR (trace_id = ? AND span_id < ?))",
            after,
            after,
            trace_id,
            trace_id,
            span_id,
        )
    sql = (
        f"SELECT {SUMMARY_COLUMNS} FROM spans WHERE {where.sql()} "
        "ORDER BY start_time DESC, trace_id DESC, span_id DESC LIMIT ?"
    )

    def query(con: duckdb.DuckDBPyConnection) -> Page[SpanSummary]:
        rows = con.execute(sql, [*where.params, limit + 1]).fetchall()
        page = rows[:limit]
        notes = annotations_by_span(con, sorted({r[0] for r in page}))
        data = [SpanSummary(**span_summary(r, notes.get((r[0], r[1]), []))) for r in page]
        next_cursor = None
        if len(rows) > limit:
            last = data[-1]
            after = last.start_time.replace(tzinfo=None)
            next_cursor = encode_cursor("span", after, last.trace_id, last.span_id)
        return Page(data=data, next_cursor=next_cursor)

    return store.read(query)


def _span_where(filters: SpanListFilters) -> Where:
    where = span_conditions(filters)
    simple = {
        "project": "project = ?",
        "start": "start_time >= ?",
        "end": "start_time < ?",
        "status": "status_code = ?",
        "min_latency_ms": "latency_ms >= ?",
        "trace_id": "trace_id = ?",
        "kind": "kind = ?",
    }
    for name, clause in simple.items():
        value = getattr(filters, name)
        if value is not None:
            where.add(clause, value)
    if filters.min_tokens is not None:
        where.add(f"{TOKENS_SQL} >= ?", filters.min_tokens)
    if filters.span_ids is not None:
        where.add("span_id IN (SELECT unnest(?::VARCHAR[]))", filters.span_ids)
    where.extend(annotation_condition(filters, "span_id"))
    return where


def get_span(store: Store, span_id: str, *, trace_id: str | None = None) -> SpanDetail:
    """One span with everything stored about it.

    Raises ``InvalidQuery`` for malformed ids, ``NotFound`` when unknown, and ``AmbiguousSpan`` (409) when the
    span id occurs in several traces and ``trace_id`` is not given.
    """
    span_id = check_span_id(span_id)
    wanted = check_trace_id(trace_id) if trace_id is not None else None
    return store.read(lambda con: _detail(con, span_id, wanted))


def _detail(con: duckdb.DuckDBPyConnection, span_id: str, trace_id: str | None) -> SpanDetail:
    columns = ", ".join((SUMMARY_COLUMNS, *_DETAIL_JSON, *_DETAIL_OTHER))
    row = find_span(con, span_id, trace_id=trace_id, columns=columns)
    owner = row[0]
    summary_width = len(SUMMARY_COLUMNS.split(","))
    values = span_summary(row[:summary_width], annotations_by_span(con, [owner]).get((owner, span_id), []))
    values["input_value"], values["output_value"] = row[summary_width - 2], row[summary_width - 1]
    extra = dict(zip((*_DETAIL_JSON, *_DETAIL_OTHER), row[summary_width:], strict=True))
    for name in _DETAIL_JSON:
        extra[name] = None if extra[name] is None else orjson.loads(extra[name])
    extra["ingested_at"] = as_utc(extra["ingested_at"])
    return SpanDetail(**values, **extra, logs=_logs(con, owner, span_id))


def _logs(con: duckdb.DuckDBPyConnection, trace_id: str, span_id: str) -> list[LogEvent]:
    rows = con.execute(
        "SELECT log_id, time, event_name, severity_text, body, attributes FROM logs "
        "WHERE trace_id = ? AND span_id = ? ORDER BY time, log_id",
        [trace_id, span_id],
    ).fetchall()
    return [
        LogEvent(
            log_id=log_id,
            time=as_utc(time),
            event_name=event_name,
            severity_text=severity,
            body=None if body is None else orjson.loads(body),
            attributes=None if attributes is None else orjson.loads(attributes),
        )
        for log_id, time, event_name, severity, body, attributes in rows
    ]
