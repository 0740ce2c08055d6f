"""Turn decoded OTLP requests into Arrow tables shaped like the store's ``spans`` and ``logs`` tables.

This is the hot path of ingest (tens of thousands of spans a second), so it works column by column, converts
attribute values with a dispatch on the protobuf oneof, and serializes JSON with orjson. It is a pure
function of its input so that it can run in a worker process (see :mod:`collector.ingest.pipeline`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.ingest.otlp import ExportKind
from collector.normalize import CanonicalFields, normalize_span
from collector.store.schema import LOG_COLUMNS, LOG_JSON_COLUMNS, SPAN_COLUMNS, SPAN_JSON_COLUMNS

__all__ = ["Batch", "any_value", "attributes_dict", "build_batch", "project_of", "search_text"]

SEARCH_TEXT_LIMIT = 8192
_OTEL_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_CANONICAL = tuple(f.name for f in dataclasses.fields(CanonicalFields))


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value (bytes become base64 text so they survive JSON)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes_dict(pairs: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in pairs:
        value = kv.value
        which = value.WhichOneof("value")
        # Most attribute values are strings: read them without the generic dispatch.
        out[kv.key] = value.string_value if which == "string_value" else any_value(value)
    return out


def project_of(resource: dict[str, Any]) -> str:
    """``openinference.project.name``, else ``service.name``, else ``default``."""
    for key in ("openinference.project.name", "service.name"):
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value
    return "default"


def search_text(fields: CanonicalFields, name: str) -> str:
    """Lower-cased text that ``q=`` searches: span name, message contents, input and output values."""
    parts: list[str] = [name]
    for messages in (fields.input_messages, fields.output_messages):
        for message in messages or ():
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                parts += [str(function.get("name", "")), str(function.get("arguments", ""))]
    # input_value/output_value repeat the message text on LLM spans: add them only where messages are missing.
    if not fields.input_messages and fields.input_value:
        parts.append(fields.input_value)
    if not fields.output_messages and fields.output_value:
        parts.append(fields.output_value)
    return "\n".join(parts)[:SEARCH_TEXT_LIMIT].lower()


@dataclass(slots=True)
class Batch:
    """Arrow tables for one group of exports, plus the span keys whose messages live in log events."""

    spans: pa.Table
    logs: pa.Table
    log_span_keys: set[tuple[str, str]] = field(default_factory=set)
    legacy_span_keys: set[tuple[str, str]] = field(default_factory=set)


def build_batch(records: list[tuple[int, bytes]]) -> Batch:
    """Decode, normalize and columnize already-validated protobuf export requests (deduplicating keys)."""
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    logs: dict[str, dict[str, Any]] = {}
    now = int(time.time() * 1_000_000)
    batch = Batch(pa.table({}), pa.table({}))
    for kind, payload in records:
        if kind == ExportKind.TRACES:
            _span_rows(ExportTraceServiceRequest.FromString(payload), spans, now, batch.legacy_span_keys)
        else:
            _log_rows(ExportLogsServiceRequest.FromString(payload), logs, now, batch.log_span_keys)
    batch.spans = _to_table(list(spans.values()), SPAN_COLUMNS, SPAN_JSON_COLUMNS)
    batch.logs = _to_table(list(logs.values()), LOG_COLUMNS, LOG_JSON_COLUMNS)
    return batch


def _span_rows(
    request: ExportTraceServiceRequest,
    out: dict[tuple[str, str], dict[str, Any]],
    now: int,
    legacy: set[tuple[str, str]],
) -> None:
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes)
        project = project_of(resource)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name or None
            for span in scope_spans.spans:
                row = _span_row(span, resource, project, scope_name, now)
                key = (row["trace_id"], row["span_id"])
                out[key] = row
                if row["legacy_events"]:
                    legacy.add(key)


def _span_row(span: Any, resource: dict[str, Any], project: str, scope: str | None, now: int) -> dict[str, Any]:
    attributes = attributes_dict(span.attributes)
    events = [
        {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": attributes_dict(e.attributes)}
        for e in span.events
    ]
    fields = normalize_span(
        name=span.name, attributes=attributes, events=events, resource=resource, otel_kind=span.kind
    )
    start, end = span.start_time_unix_nano, span.end_time_unix_nano or span.start_time_unix_nano
    row = {name: getattr(fields, name) for name in _CANONICAL}
    row.update(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        project=project,
        name=span.name,
        start_time=start // 1000,
        end_time=end // 1000,
        latency_ms=(end - start) / 1e6,
        status_code=_STATUS[span.status.code] if span.status.code < 3 else "UNSET",
        status_message=span.status.message or None,
        otel_kind=_OTEL_KINDS[span.kind] if span.kind < 6 else "UNSPECIFIED",
        search_text=search_text(fields, span.name),
        attributes=attributes,
        events=events or None,
        resource=resource,
        scope_name=scope,
        ingested_at=now,
    )
    return row


def _log_rows(
    request: ExportLogsServiceRequest,
    out: dict[str, dict[str, Any]],
    now: int,
    span_keys: set[tuple[str, str]],
) -> None:
    for resource_logs in request.resource_logs:
        resource = attributes_dict(resource_logs.resource.attributes)
        project = project_of(resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes = attributes_dict(record.attributes)
                trace_id, span_id = record.trace_id.hex() or None, record.span_id.hex() or None
                log_id = hashlib.blake2b(record.SerializeToString(deterministic=True), digest_size=16).hexdigest()
                event_name = getattr(record, "event_name", "") or attributes.get("event.name")
                out[log_id] = {
                    "log_id": log_id,
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "project": project,
                    "time": (record.time_unix_nano or record.observed_time_unix_nano or now * 1000) // 1000,
                    "event_name": event_name if isinstance(event_name, str) and event_name else None,
                    "severity_text": record.severity_text or None,
                    "body": any_value(record.body),
                    "attributes": attributes,
                    "resource": resource,
                    "ingested_at": now,
                }
                if trace_id and span_id:
                    span_keys.add((trace_id, span_id))


_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


def _to_table(rows: list[dict[str, Any]], columns: dict[str, str], json_columns: tuple[str, ...]) -> pa.Table:
    arrays = []
    dumps = orjson.dumps
    for name, sql_type in columns.items():
        values = [row[name] for row in rows]
        if name in json_columns:
            values = [None if v is None else dumps(v, default=str).decode() for v in values]
        arrays.append(pa.array(values, type=_ARROW_TYPES[sql_type.split()[0]]))
    return pa.Table.from_arrays(arrays, names=list(columns))
