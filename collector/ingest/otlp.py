"""Decoding and validating OTLP export requests (protobuf and JSON, gzip and deflate), per the OTLP spec.

JSON follows the OTLP/JSON rules: trace and span ids are hex (not base64), int64 values may be strings or
numbers, enums may be ints, field names are lowerCamelCase, unknown fields are ignored.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.errors import ExportTooLarge, InvalidExport, UnsupportedMediaType

__all__ = [
    "Encoding",
    "ExportKind",
    "Validated",
    "decode_request",
    "decompress",
    "encode_response",
    "parse_content_type",
    "validate",
]

_CHUNK = 1 << 20


class ExportKind(IntEnum):
    """What an export carries; also the record kind in the write-ahead log."""

    TRACES = 1
    LOGS = 2


class Encoding(IntEnum):
    PROTOBUF = 1
    JSON = 2


def parse_content_type(header: str | None) -> Encoding:
    """Map a Content-Type (parameters allowed) to an encoding, or raise :class:`UnsupportedMediaType`."""
    media = (header or "").split(";", 1)[0].strip().lower()
    if media == "application/x-protobuf":
        return Encoding.PROTOBUF
    if media == "application/json":
        return Encoding.JSON
    raise UnsupportedMediaType(f"unsupported Content-Type {header!r}: send application/x-protobuf or application/json")


def decompress(body: bytes, content_encoding: str | None, *, limit: int) -> bytes:
    """Undo ``gzip``/``deflate``, refusing output past ``limit`` bytes without ever holding more."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise ExportTooLarge(f"request body is {len(body)} bytes; the limit is {limit}")
        return body
    if encoding == "gzip":
        return _inflate(body, zlib.MAX_WBITS | 16, limit)
    if encoding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except InvalidExport:  # some clients send raw deflate without the zlib wrapper
            return _inflate(body, -zlib.MAX_WBITS, limit)
    raise UnsupportedMediaType(f"unsupported Content-Encoding {content_encoding!r}: use gzip or deflate")


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out: list[bytes] = []
    size = 0
    data = body
    try:
        while data:
            piece = inflater.decompress(data, min(_CHUNK, limit - size + 1))
            size += len(piece)
            if size > limit:
                raise ExportTooLarge(f"request body inflates past the limit of {limit} bytes")
            out.append(piece)
            data = inflater.unconsumed_tail
        tail = inflater.flush(limit - size + 1)
    except zlib.error as exc:
        raise InvalidExport(f"body is not valid compressed data: {exc}") from exc
    if size + len(tail) > limit:
        raise ExportTooLarge(f"request body inflates past the limit of {limit} bytes")
    if not inflater.eof:
        raise InvalidExport("compressed body is truncated")
    out.append(tail)
    return b"".join(out)


def decode_request(kind: ExportKind, encoding: Encoding, body: bytes) -> Message:
    """Parse an export request or raise :class:`InvalidExport` saying what was wrong."""
    message: Message = ExportTraceServiceRequest() if kind is ExportKind.TRACES else ExportLogsServiceRequest()
    if encoding is Encoding.PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise InvalidExport(f"body is not a valid protobuf {type(message).__name__}: {exc}") from exc
        return message
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidExport(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidExport(f"body must be a JSON object ({type(message).__name__}), not {type(document).__name__}")
    _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise InvalidExport(f"body is not a valid OTLP/JSON {type(message).__name__}: {exc}") from exc
    return message


_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON ids are hex; protobuf's JSON mapping expects base64. Bad hex becomes an empty (invalid) id."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    node[key] = ""
            elif isinstance(value, dict | list):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _hex_ids_to_base64(item)


@dataclass(slots=True)
class Validated:
    """A request stripped of invalid items, and what was rejected."""

    payload: bytes
    accepted: int
    rejected: int
    error_message: str


def validate(kind: ExportKind, message: Message, original: bytes | None) -> Validated:
    """Drop individually invalid spans/log records; return the bytes to store.

    ``original`` is the protobuf body as received, reused when nothing was dropped (no re-encoding).
    """
    problems: list[str] = []
    accepted = 0
    groups = message.resource_spans if kind is ExportKind.TRACES else message.resource_logs  # type: ignore[attr-defined]
    for group in groups:
        scopes = group.scope_spans if kind is ExportKind.TRACES else group.scope_logs
        for scope in scopes:
            items = scope.spans if kind is ExportKind.TRACES else scope.log_records
            check = _span_problem if kind is ExportKind.TRACES else _log_problem
            found = [(index, check(item)) for index, item in enumerate(items)]
            bad = [(index, problem) for index, problem in found if problem]
            for index, _ in reversed(bad):
                del items[index]
            problems += [problem for _, problem in bad]
            accepted += len(items)
    rejected = len(problems)
    payload = original if (original is not None and not rejected) else message.SerializeToString()
    summary = "; ".join(problems[:5]) + (f"; and {rejected - 5} more" if rejected > 5 else "")
    return Validated(payload, accepted, rejected, summary)


def _span_problem(span: Any) -> str | None:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"span {span.name!r}: traceId must be 16 bytes (32 hex characters), not all zero"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span {span.name!r}: spanId must be 8 bytes (16 hex characters), not all zero"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r}: parentSpanId must be empty or 8 bytes (16 hex characters)"
    if span.start_time_unix_nano == 0:
        return f"span {span.name!r}: startTimeUnixNano is required"
    if span.end_time_unix_nano and span.end_time_unix_nano < span.start_time_unix_nano:
        return f"span {span.name!r}: endTimeUnixNano is before startTimeUnixNano"
    return None


def _log_problem(record: Any) -> str | None:
    if record.trace_id and len(record.trace_id) != 16:
        return "log record: traceId must be empty or 16 bytes (32 hex characters)"
    if record.span_id and len(record.span_id) != 8:
        return "log record: spanId must be empty or 8 bytes (16 hex characters)"
    return None


def encode_response(kind: ExportKind, encoding: Encoding, validated: Validated) -> bytes:
    """The export response (with ``partial_success`` when something was rejected) in the request's encoding."""
    response: Message
    if kind is ExportKind.TRACES:
        response = ExportTraceServiceResponse()
        if validated.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=validated.rejected, error_message=validated.error_message)
            )
    else:
        response = ExportLogsServiceResponse()
        if validated.rejected:
            response.partial_success.CopyFrom(
                ExportLogsPartialSuccess(rejected_log_records=validated.rejected, error_message=validated.error_message)
            )
    if encoding is Encoding.PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()
