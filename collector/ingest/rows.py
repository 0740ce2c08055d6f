"""Turn decoded OTLP requests into Arrow tables shaped like the store's ``spans`` and ``logs`` tables.

This is the hot path of ingest (tens of thousands of spans a second). Each span becomes one tuple in a fixed
column order (cheaper to build than a dict, and transposed into columns in C by ``zip``); JSON columns are
serialized with orjson straight to bytes and handed to Arrow as binary viewed as UTF-8 (orjson only writes
valid UTF-8), which skips a decode and Arrow's per-string check. It is a pure function of its input so that it
can run in a worker process (see :mod:`collector.ingest.pipeline`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.ingest.otlp import ExportKind
from collector.normalize import CanonicalFields, normalize_span
from collector.store.schema import LOG_COLUMNS, SPAN_COLUMNS

__all__ = ["Batch", "any_value", "attributes_dict", "build_batch", "project_of", "search_text"]

SEARCH_TEXT_LIMIT = 8192
_OTEL_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_UNSEARCHED_ROLES = frozenset({"system", "developer"})

# The order of the values in a span tuple (see _span_row); the insert matches columns by name.
_SPAN_ORDER = (
    "trace_id", "span_id", "parent_span_id", "project", "name", "start_time", "end_time", "latency_ms",
    "status_code", "status_message", "otel_kind", "search_text", "attributes", "events", "resource",
    "scope_name", "ingested_at",
    # the canonical fields, in CanonicalFields order
    "kind", "provider", "model", "input_messages", "output_messages", "invocation_parameters", "tools",
    "response_format", "prompt_name", "prompt_version", "prompt_template", "prompt_variables", "input_tokens",
    "output_tokens", "total_tokens", "cost", "session_id", "user_id", "source_convention", "input_value",
    "output_value", "base_url", "metadata", "legacy_events",
)  # fmt: skip
_LOG_ORDER = (
    "log_id", "trace_id", "span_id", "project", "time", "event_name", "severity_text", "body", "attributes",
    "resource", "ingested_at",
)  # fmt: skip
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.binary(),  # orjson bytes; viewed as UTF-8 strings once in an array
    "TIMESTAMP": pa.timestamp("us"),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


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
        # Most values are non-empty strings: a set oneof member reads back as "" when another one is set, so
        # a non-empty string_value settles the type without the generic dispatch.
        out[kv.key] = value.string_value or any_value(value)
    return out


def project_of(resource: dict[str, Any]) -> str:
    """``openinference.project.name``, else ``service.name``, else ``default``."""
    for key in ("openinference.project.name", "service.name"):
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value
    return "default"


def search_text(fields: CanonicalFields, name: str) -> str:
    """Lower-cased text that ``q=`` searches: span name, message contents, input and output values.

    System (and developer) messages are left out: every call of an app repeats the same instructions, which
    made up half of all searched text, and a prompt is found by its name (``prompt_name``) instead.
    """
    parts: list[str] = [name]
    for messages in (fields.input_messages, fields.output_messages):
        for message in messages or ():
            if message.get("role") in _UNSEARCHED_ROLES:
                continue
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


class _Rows:
    """Row tuples keyed for deduplication: a key seen again replaces the earlier row (the last one wins)."""

    __slots__ = ("index", "rows", "superseded")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.index: dict[Any, int] = {}
        self.superseded: set[int] = set()

    def add(self, key: Any, row: tuple[Any, ...]) -> None:
        earlier = self.index.get(key)
        if earlier is not None:
            self.superseded.add(earlier)
        self.index[key] = len(self.rows)
        self.rows.append(row)

    def table(self, order: Sequence[str], columns: dict[str, str]) -> pa.Table:
        rows = self.rows
        if self.superseded:
            rows = [row for position, row in enumerate(rows) if position not in self.superseded]
        values: Sequence[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(order)
        arrays = []
        for name, column in zip(order, values, strict=True):
            arrow_type = _ARROW_TYPES[columns[name].split()[0]]
            array = pa.array(column, type=arrow_type)
            arrays.append(array.view(pa.string()) if arrow_type is _ARROW_TYPES["JSON"] else array)
        return pa.Table.from_arrays(arrays, names=list(order))


def build_batch(records: list[tuple[int, bytes]]) -> Batch:
    """Decode, normalize and columnize already-validated protobuf export requests (deduplicating keys)."""
    spans, logs = _Rows(), _Rows()
    now = int(time.time() * 1_000_000)
    batch = Batch(pa.table({}), pa.table({}))
    for kind, payload in records:
        if kind == ExportKind.TRACES:
            _span_rows(ExportTraceServiceRequest.FromString(payload), spans, now, batch.legacy_span_keys)
        else:
            _log_rows(ExportLogsServiceRequest.FromString(payload), logs, now, batch.log_span_keys)
    batch.spans = spans.table(_SPAN_ORDER, SPAN_COLUMNS)
    batch.logs = logs.table(_LOG_ORDER, LOG_COLUMNS)
    return batch


def _json(value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        # orjson returns its working buffer (4 KiB at least) as the bytes object: a copy of the exact size keeps
        # a group's ~12,000 JSON values at ~16 instead of ~80 MiB until its columns are built.
        return bytes(memoryview(orjson.dumps(value, default=str)))
    except TypeError:  # orjson refuses e.g. integers past 64 bits; the stdlib encoder does not
        return json.dumps(value, default=str, ensure_ascii=False).encode()


def _span_rows(request: ExportTraceServiceRequest, out: _Rows, now: int, legacy: set[tuple[str, str]]) -> None:
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes)
        project = project_of(resource)
        context = (resource, _json(resource), project)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name or None
            for span in scope_spans.spans:
                row = _span_row(span, context, scope_name, now)
                key = (row[0], row[1])
                out.add(key, row)
                if row[-1]:  # legacy_events
                    legacy.add(key)


def _span_row(
    span: Any, context: tuple[dict[str, Any], bytes | None, str], scope: str | None, now: int
) -> tuple[Any, ...]:
    """One span as a tuple in ``_SPAN_ORDER``."""
    resource, resource_json, project = context
    name = span.name
    attributes = attributes_dict(span.attributes)
    events = [
        {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": attributes_dict(e.attributes)}
        for e in span.events
    ]
    otel_kind = span.kind
    f = normalize_span(name=name, attributes=attributes, events=events, resource=resource, otel_kind=otel_kind)
    start = span.start_time_unix_nano
    end = span.end_time_unix_nano or start
    status = span.status
    code = status.code
    return (
        span.trace_id.hex(),
        span.span_id.hex(),
        span.parent_span_id.hex() or None,
        project,
        name,
        start // 1000,
        end // 1000,
        (end - start) / 1e6,
        _STATUS[code] if code < 3 else "UNSET",
        status.message or None,
        _OTEL_KINDS[otel_kind] if otel_kind < 6 else "UNSPECIFIED",
        search_text(f, name),
        _json(attributes),
        _json(events) if events else None,
        resource_json,
        scope,
        now,
        f.kind,
        f.provider,
        f.model,
        _json(f.input_messages),
        _json(f.output_messages),
        _json(f.invocation_parameters),
        _json(f.tools),
        _json(f.response_format),
        f.prompt_name,
        f.prompt_version,
        f.prompt_template,
        _json(f.prompt_variables),
        f.input_tokens,
        f.output_tokens,
        f.total_tokens,
        f.cost,
        f.session_id,
        f.user_id,
        f.source_convention,
        f.input_value,
        f.output_value,
        f.base_url,
        _json(f.metadata),
        f.legacy_events,
    )


def _log_rows(request: ExportLogsServiceRequest, out: _Rows, now: int, span_keys: set[tuple[str, str]]) -> None:
    for resource_logs in request.resource_logs:
        resource = attributes_dict(resource_logs.resource.attributes)
        project = project_of(resource)
        resource_json = _json(resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes = attributes_dict(record.attributes)
                trace_id, span_id = record.trace_id.hex() or None, record.span_id.hex() or None
                log_id = hashlib.blake2b(record.SerializeToString(deterministic=True), digest_size=16).hexdigest()
                event_name = getattr(record, "event_name", "") or attributes.get("event.name")
                row = (
                    log_id,
                    trace_id,
                    span_id,
                    project,
                    (record.time_unix_nano or record.observed_time_unix_nano or now * 1000) // 1000,
                    event_name if isinstance(event_name, str) and event_name else None,
                    record.severity_text or None,
                    _json(any_value(record.body)),
                    _json(attributes),
                    resource_json,
                    now,
                )
                out.add(log_id, row)
                if trace_id and span_id:
                    span_keys.add((trace_id, span_id))
