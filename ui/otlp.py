"""OTLP/HTTP receiver routes: ``POST /v1/traces`` and ``POST /v1/logs`` (protobuf or JSON, gzip or deflate).

Status codes follow the OTLP/HTTP spec: 200 (with ``partial_success`` when some items were rejected), 400 for an
undecodable body, 413 past the size limit after decompression, 415 for other media types, 405 for other
methods, 503 + ``Retry-After`` when the ingest queue is full. Failure bodies are a ``google.rpc.Status``
in the request's encoding (JSON when the media type itself was refused).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from google.rpc import status_pb2

from collector.errors import CollectorError, ExportTooLarge, Overloaded
from collector.ingest.otlp import (
    Encoding,
    ExportKind,
    decode_request,
    decompress,
    encode_response,
    parse_content_type,
)
from ui.deps import collector_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_MEDIA = {Encoding.PROTOBUF: "application/x-protobuf", Encoding.JSON: "application/json"}
_GRPC_CODES = {400: 3, 413: 8, 415: 3, 503: 14}


@router.api_route("/v1/traces", methods=["POST"])
async def export_traces(request: Request) -> Response:
    return await _export(request, ExportKind.TRACES)


@router.api_route("/v1/logs", methods=["POST"])
async def export_logs(request: Request) -> Response:
    return await _export(request, ExportKind.LOGS)


async def _export(request: Request, kind: ExportKind) -> Response:
    collector = collector_of(request)
    encoding = Encoding.JSON
    try:
        encoding = parse_content_type(request.headers.get("content-type"))
        raw = await _read_body(request, collector.config.max_message_bytes)
        body = decompress(raw, request.headers.get("content-encoding"), limit=collector.config.max_message_bytes)
        message = decode_request(kind, encoding, body)
        original = body if encoding is Encoding.PROTOBUF else None
        validated = await collector.export(kind, message, original)
    except CollectorError as exc:
        return _failure(exc, encoding)
    return Response(encode_response(kind, encoding, validated), media_type=_MEDIA[encoding])


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ExportTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ExportTooLarge(f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _failure(exc: CollectorError, encoding: Encoding) -> Response:
    status = status_pb2.Status(code=_GRPC_CODES.get(exc.status_code, 13), message=str(exc))
    headers = {}
    if isinstance(exc, Overloaded):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if encoding is Encoding.PROTOBUF:
        content = status.SerializeToString()
    else:
        content = json_format.MessageToJson(status, indent=None).encode()
    return Response(content, status_code=exc.status_code, media_type=_MEDIA[encoding], headers=headers)
