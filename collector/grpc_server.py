"""OTLP/gRPC receiver: ``TraceService/Export`` and ``LogsService/Export`` on grpc.aio.

Requests arrive as raw bytes (no deserializer) so the exact body can go to the write-ahead log without
re-encoding. Bad data → INVALID_ARGUMENT; a full queue → UNAVAILABLE with ``google.rpc.RetryInfo``, which the
OTLP exporters honour as a retry delay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from collector.errors import InvalidExport, Overloaded, StoreClosed
from collector.ingest.otlp import Encoding, ExportKind, decode_request, encode_response
from collector.service import Collector

__all__ = ["GrpcReceiver"]

_SERVICES = {
    ExportKind.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    ExportKind.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}


class GrpcReceiver:
    """A grpc.aio server bound to ``host:port``; ``port`` 0 picks a free port (see :attr:`port`)."""

    def __init__(self, collector: Collector, *, host: str, port: int, max_message_bytes: int) -> None:
        self._collector = collector
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._server = grpc.aio.server(options=options)
        for kind, service in _SERVICES.items():
            handler = grpc.unary_unary_rpc_method_handler(self._export_handler(kind))
            self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": handler}),))
        self.port = self._server.add_insecure_port(f"{host}:{port}")

    def _export_handler(self, kind: ExportKind) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]:
        async def export(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                message = decode_request(kind, Encoding.PROTOBUF, body)
                validated = await self._collector.export(kind, message, body)
            except (InvalidExport, DecodeError) as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except Overloaded as exc:
                await context.abort_with_status(_unavailable(str(exc), exc.retry_after_seconds))
            except StoreClosed as exc:
                await context.abort_with_status(_unavailable(str(exc), 1))
            return encode_response(kind, Encoding.PROTOBUF, validated)

        return export

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float = 5.0) -> None:
        await self._server.stop(grace)


def _unavailable(message: str, retry_after_seconds: int) -> grpc.Status:
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_seconds))
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)
    status.details.add().Pack(retry)
    return rpc_status.to_status(status)
