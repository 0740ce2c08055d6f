from __future__ import annotations

import gzip
import json
import zlib

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.errors import ExportTooLarge, InvalidExport, UnsupportedMediaType
from collector.ingest.otlp import (
    Encoding,
    ExportKind,
    decode_request,
    decompress,
    encode_response,
    parse_content_type,
    validate,
)

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def _json_request(**span_overrides: object) -> dict[str, object]:
    span: dict[str, object] = {
        "traceId": TRACE,
        "spanId": SPAN,
        "parentSpanId": "",
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "attributes": [
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
        ],
        "status": {"code": 2, "message": "boom"},
        "someFutureField": {"ignored": True},
    }
    span.update(span_overrides)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}],
            }
        ]
    }


def test_content_types_allow_parameters_and_refuse_others() -> None:
    assert parse_content_type("application/x-protobuf") is Encoding.PROTOBUF
    assert parse_content_type("application/json; charset=utf-8") is Encoding.JSON
    with pytest.raises(UnsupportedMediaType, match="text/plain"):
        parse_content_type("text/plain")
    with pytest.raises(UnsupportedMediaType):
        parse_content_type(None)


def test_json_follows_otlp_rules_hex_ids_int64_strings_enum_ints_unknown_fields() -> None:
    body = json.dumps(_json_request()).encode()
    message = decode_request(ExportKind.TRACES, Encoding.JSON, body)
    assert isinstance(message, ExportTraceServiceRequest)
    span = message.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE and span.span_id.hex() == SPAN
    assert span.start_time_unix_nano == 1544712660000000000
    assert span.end_time_unix_nano == 1544712661000000000
    assert span.kind == 3 and span.status.code == 2
    assert span.attributes[1].value.int_value == 12


def test_json_enum_names_and_snake_case_names_are_accepted() -> None:
    request = _json_request(kind="SPAN_KIND_CLIENT")
    body = json.dumps(request).encode()
    message = decode_request(ExportKind.TRACES, Encoding.JSON, body)
    assert isinstance(message, ExportTraceServiceRequest)
    assert message.resource_spans[0].scope_spans[0].spans[0].kind == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"resourceSpans": 5}', "not a valid OTLP/JSON"),
    ],
)
def test_bad_json_is_a_clear_invalid_export(body: bytes, message: str) -> None:
    with pytest.raises(InvalidExport, match=message):
        decode_request(ExportKind.TRACES, Encoding.JSON, body)


def test_bad_protobuf_is_a_clear_invalid_export() -> None:
    with pytest.raises(InvalidExport, match="not a valid protobuf ExportTraceServiceRequest"):
        decode_request(ExportKind.TRACES, Encoding.PROTOBUF, b"\xff\xff\xff\xff garbage")


def test_invalid_spans_are_dropped_and_counted_as_partial_success() -> None:
    request = _json_request()
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]  # type: ignore[index]
    spans.append({**spans[0], "spanId": "zz", "name": "bad-hex"})
    spans.append({**spans[0], "traceId": "00" * 16, "name": "zero-trace"})
    spans.append({**spans[0], "spanId": "1111111111111111", "startTimeUnixNano": "0", "name": "no-start"})
    message = decode_request(ExportKind.TRACES, Encoding.JSON, json.dumps(request).encode())
    validated = validate(ExportKind.TRACES, message, None)
    assert (validated.accepted, validated.rejected) == (1, 3)
    assert "bad-hex" in validated.error_message and "spanId" in validated.error_message
    assert "zero-trace" in validated.error_message and "no-start" in validated.error_message
    kept = ExportTraceServiceRequest.FromString(validated.payload)
    assert [s.name for s in kept.resource_spans[0].scope_spans[0].spans] == ["chat gpt-4o"]
    response = json.loads(encode_response(ExportKind.TRACES, Encoding.JSON, validated))
    assert response["partialSuccess"]["rejectedSpans"] == "3"


def test_valid_protobuf_is_stored_byte_for_byte() -> None:
    message = decode_request(ExportKind.TRACES, Encoding.JSON, json.dumps(_json_request()).encode())
    original = message.SerializeToString()
    validated = validate(ExportKind.TRACES, ExportTraceServiceRequest.FromString(original), original)
    assert validated.payload is original and validated.rejected == 0
    assert encode_response(ExportKind.TRACES, Encoding.PROTOBUF, validated) == b""


def test_gzip_and_deflate_bodies_are_inflated() -> None:
    body = b"x" * 10_000
    assert decompress(gzip.compress(body), "gzip", limit=20_000) == body
    assert decompress(zlib.compress(body), "deflate", limit=20_000) == body
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decompress(raw.compress(body) + raw.flush(), "deflate", limit=20_000) == body
    assert decompress(body, None, limit=20_000) == body


def test_a_gzip_bomb_stops_at_the_limit_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ExportTooLarge, match="limit"):
        decompress(bomb, "gzip", limit=64 * 1024 * 1024)


def test_corrupt_or_truncated_compressed_bodies_are_invalid() -> None:
    with pytest.raises(InvalidExport, match="compressed"):
        decompress(b"definitely not gzip", "gzip", limit=1000)
    with pytest.raises(InvalidExport, match="truncated"):
        decompress(gzip.compress(b"y" * 1000)[:-12], "gzip", limit=10_000)
    with pytest.raises(UnsupportedMediaType, match="br"):
        decompress(b"", "br", limit=10)
    with pytest.raises(ExportTooLarge):
        decompress(b"z" * 11, None, limit=10)
