"""OTLP over real sockets: the official exporters and raw requests against a running ``spanlab serve``."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.otlp_helpers import encode, llm_spans, span_ids
from tests.server import ServerProcess, wait_for

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _project() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


def _count(server: ServerProcess, project: str) -> int:
    return int(server.sql(f"SELECT count(*) FROM spans WHERE project = '{project}'")[0][0])


def _wait_count(server: ServerProcess, project: str, expected: int) -> None:
    wait_for(lambda: _count(server, project) == expected, what=f"{expected} spans in {project}")


def test_http_protobuf_exporter_spans_are_stored_with_canonical_fields(spanlab_server: ServerProcess) -> None:
    project = _project()
    spans = llm_spans(project, 5)
    exporter = HttpSpanExporter(endpoint=f"{spanlab_server.http_url}/v1/traces")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    _wait_count(spanlab_server, project, 5)
    rows = spanlab_server.sql(
        f"SELECT model, provider, input_tokens, output_tokens, total_tokens, source_convention, kind, "
        f"input_messages->>'$[0].content' FROM spans WHERE project = '{project}' ORDER BY input_tokens"
    )
    assert rows[0] == ["gpt-4o", "openai", 10, 5, 15, "otel_genai", "LLM", "hello 0"]


def test_grpc_exporter_with_gzip_spans_are_stored(spanlab_server: ServerProcess) -> None:
    project = _project()
    spans = llm_spans(project, 7)
    exporter = GrpcSpanExporter(endpoint=spanlab_server.grpc_endpoint, insecure=True, compression=grpc.Compression.Gzip)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    _wait_count(spanlab_server, project, 7)


def test_http_exporter_gzip_and_raw_deflate(spanlab_server: ServerProcess) -> None:
    project = _project()
    exporter = HttpSpanExporter(endpoint=f"{spanlab_server.http_url}/v1/traces", compression=Compression.Gzip)
    assert exporter.export(llm_spans(project, 3)) is SpanExportResult.SUCCESS
    body = zlib.compress(encode(llm_spans(project, 2)))
    response = httpx.post(
        f"{spanlab_server.http_url}/v1/traces",
        content=body,
        headers={**PROTOBUF, "Content-Encoding": "deflate"},
    )
    assert response.status_code == 200
    _wait_count(spanlab_server, project, 5)


def test_resent_spans_are_stored_once(spanlab_server: ServerProcess) -> None:
    project = _project()
    body = encode(llm_spans(project, 4))
    for _ in range(3):
        assert httpx.post(f"{spanlab_server.http_url}/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    spanlab_server.wait_idle()
    assert _count(spanlab_server, project) == 4


def test_json_export_replies_in_json_with_partial_success(spanlab_server: ServerProcess) -> None:
    project = _project()
    good = {
        "traceId": uuid.uuid4().hex,
        "spanId": "00f067aa0ba902b7",
        "name": "ok",
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
    }
    bad = {**good, "spanId": "not-hex", "name": "broken"}
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "openinference.project.name", "value": {"stringValue": project}},
                        {"key": "service.name", "value": {"stringValue": "ignored"}},
                    ]
                },
                "scopeSpans": [{"spans": [good, bad]}],
            }
        ]
    }
    response = httpx.post(
        f"{spanlab_server.http_url}/v1/traces",
        json=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "broken" in partial["errorMessage"]
    _wait_count(spanlab_server, project, 1)
    assert spanlab_server.sql(f"SELECT name, latency_ms FROM spans WHERE project = '{project}'") == [["ok", 500.0]]


def test_project_falls_back_to_default_without_resource_names(spanlab_server: ServerProcess) -> None:
    trace_id = uuid.uuid4().hex
    span = {
        "traceId": trace_id,
        "spanId": "00f067aa0ba902b8",
        "name": "anon",
        "startTimeUnixNano": 1700000000000000000,
        "endTimeUnixNano": 1700000000000000001,
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    assert httpx.post(f"{spanlab_server.http_url}/v1/traces", json=body).status_code == 200
    wait_for(lambda: spanlab_server.sql(f"SELECT project FROM spans WHERE trace_id = '{trace_id}'") == [["default"]])


@pytest.mark.parametrize(
    ("headers", "content", "status", "fragment"),
    [
        (PROTOBUF, b"\xff\xfe garbage", 400, "not a valid protobuf"),
        ({"Content-Type": "application/json"}, b"{oops", 400, "not valid JSON"),
        ({"Content-Type": "text/plain"}, b"hello", 415, "unsupported Content-Type"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip at all", 400, "compressed"),
        ({**PROTOBUF, "Content-Encoding": "br"}, b"x", 415, "Content-Encoding"),
    ],
)
def test_bad_requests_get_clear_status_messages(
    spanlab_server: ServerProcess, headers: dict[str, str], content: bytes, status: int, fragment: str
) -> None:
    before = spanlab_server.stored_spans()
    response = httpx.post(f"{spanlab_server.http_url}/v1/traces", content=content, headers=headers)
    assert response.status_code == status
    if response.headers["content-type"].startswith("application/x-protobuf"):
        message = status_pb2.Status.FromString(response.content).message
    else:
        message = response.json()["message"]
    assert fragment in message
    assert spanlab_server.stored_spans() >= before


def test_other_methods_are_405(spanlab_server: ServerProcess) -> None:
    for method in ("GET", "PUT", "DELETE"):
        assert httpx.request(method, f"{spanlab_server.http_url}/v1/traces").status_code == 405
    assert httpx.get(f"{spanlab_server.http_url}/v1/logs").status_code == 405


def test_oversized_and_gzip_bomb_bodies_are_413(spanlab_server: ServerProcess) -> None:
    bomb = gzip.compress(b"\0" * (80 * 1024 * 1024), compresslevel=9)
    response = httpx.post(
        f"{spanlab_server.http_url}/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    big = b"\0" * (65 * 1024 * 1024)
    assert (
        httpx.post(f"{spanlab_server.http_url}/v1/traces", content=big, headers=PROTOBUF, timeout=60).status_code == 413
    )
    assert httpx.get(f"{spanlab_server.http_url}/healthz").json() == {"status": "ok"}


def test_grpc_garbage_is_invalid_argument(spanlab_server: ServerProcess) -> None:
    with grpc.insecure_channel(spanlab_server.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\xff\xff\xff\xff not a protobuf", timeout=10)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf" in (caught.value.details() or "")
        response = ExportTraceServiceResponse.FromString(export(encode(llm_spans(_project(), 1)), timeout=10))
        assert response.partial_success.rejected_spans == 0


def test_grpc_partial_success_for_invalid_spans(spanlab_server: ServerProcess) -> None:
    project = _project()
    request = json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": project}}]},
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": uuid.uuid4().hex,
                                    "spanId": "1234567812345678",
                                    "name": "fine",
                                    "startTimeUnixNano": "5",
                                },
                                {
                                    "traceId": "abcd",
                                    "spanId": "1234567812345679",
                                    "name": "short-trace",
                                    "startTimeUnixNano": "5",
                                },
                            ]
                        }
                    ],
                }
            ]
        }
    )
    from collector.ingest.otlp import Encoding, ExportKind, decode_request

    body = decode_request(ExportKind.TRACES, Encoding.JSON, request.encode()).SerializeToString()
    with grpc.insecure_channel(spanlab_server.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        response = ExportTraceServiceResponse.FromString(export(body, timeout=10))
    assert response.partial_success.rejected_spans == 1
    assert "short-trace" in response.partial_success.error_message
    _wait_count(spanlab_server, project, 1)


def test_span_ids_helper_matches_store(spanlab_server: ServerProcess) -> None:
    project = _project()
    spans = llm_spans(project, 2)
    assert (
        httpx.post(f"{spanlab_server.http_url}/v1/traces", content=encode(spans), headers=PROTOBUF).status_code == 200
    )
    _wait_count(spanlab_server, project, 2)
    stored = {tuple(r) for r in spanlab_server.sql(f"SELECT trace_id, span_id FROM spans WHERE project = '{project}'")}
    assert stored == span_ids(spans)
