"""How a sender delivers one export: the real OTel exporters, or pre-serialized bodies over HTTP or gRPC.

Every transport retries what the OTLP spec says to retry (HTTP 429/503 with ``Retry-After``, gRPC
UNAVAILABLE/RESOURCE_EXHAUSTED with ``RetryInfo``) and counts each retry. The OTel exporters retry by
themselves (at most 6 attempts within their timeout); we only count the retryable answers they got, through
a counting ``requests.Session`` (HTTP) or a client interceptor (gRPC).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import httpx
import requests
from google.rpc import error_details_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

__all__ = ["Outcome", "RawGrpc", "RawHttp", "SdkGrpc", "SdkHttp", "Transport"]

_TRACES, _LOGS = "traces", "logs"
_GRPC_PATHS = {
    _TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    _LOGS: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
_GRPC_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.enable_http_proxy", 0),  # 127.0.0.1 only, whatever the environment says
]
_RETRYABLE_GRPC = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


@dataclass(slots=True)
class Outcome:
    ok: bool
    retries: int
    error: str | None = None


class Transport(Protocol):
    def send_raw(self, signal: str, body: bytes) -> Outcome: ...

    def send_spans(self, spans: Sequence[ReadableSpan]) -> Outcome: ...

    def close(self) -> None: ...


def _retry_loop(attempt: Callable[[], tuple[bool, float | None, str | None]], deadline: float) -> Outcome:
    """Call ``attempt`` until it succeeds, fails for good, or ``deadline`` passes.

    ``attempt`` returns (done, retry_after, error): done with no error is success; a retry_after means
    "overloaded, wait this long".
    """
    retries = 0
    while True:
        done, retry_after, error = attempt()
        if done or retry_after is None:
            return Outcome(done and error is None, retries, error)
        if time.monotonic() + retry_after > deadline:
            return Outcome(False, retries, f"gave up after {retries} retries: {error}")
        retries += 1
        time.sleep(retry_after)


class RawHttp:
    """POSTs pre-serialized OTLP protobuf bodies (already gzipped when ``gzip``) with httpx."""

    def __init__(self, base_url: str, *, gzip: bool, timeout: float) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)
        self._headers = {"Content-Type": "application/x-protobuf"}
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._timeout = timeout

    def send_raw(self, signal: str, body: bytes) -> Outcome:
        def attempt() -> tuple[bool, float | None, str | None]:
            try:
                response = self._client.post(f"/v1/{signal}", content=body, headers=self._headers)
            except httpx.HTTPError as exc:
                return True, None, f"{type(exc).__name__}: {exc}"
            if response.status_code == 200:
                return True, None, None
            if response.status_code in (429, 503):
                return (
                    False,
                    _retry_after(response.headers.get("retry-after")),
                    f"HTTP {response.status_code}",
                )
            return True, None, f"HTTP {response.status_code}: {response.text[:200]}"

        return _retry_loop(attempt, time.monotonic() + self._timeout)

    def send_spans(self, spans: Sequence[ReadableSpan]) -> Outcome:
        raise NotImplementedError("raw transports send pre-serialized bodies")

    def close(self) -> None:
        self._client.close()


def _retry_after(header: str | None) -> float:
    try:
        return min(max(float(header or 1.0), 0.05), 5.0)
    except ValueError:
        return 1.0


class RawGrpc:
    """Calls ``TraceService/Export`` / ``LogsService/Export`` with pre-serialized request bytes (``gzip``:
    gRPC message compression on the channel)."""

    def __init__(self, target: str, *, gzip: bool, timeout: float) -> None:
        compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        self._channel = grpc.insecure_channel(target, options=_GRPC_OPTIONS, compression=compression)
        self._calls = {
            signal: self._channel.unary_unary(path, request_serializer=None, response_deserializer=None)
            for signal, path in _GRPC_PATHS.items()
        }
        self._timeout = timeout

    def send_raw(self, signal: str, body: bytes) -> Outcome:
        call = self._calls[signal]

        def attempt() -> tuple[bool, float | None, str | None]:
            try:
                call(body, timeout=self._timeout)
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                error = f"gRPC {code}: {exc.details() if isinstance(exc, grpc.Call) else exc}"
                if code in _RETRYABLE_GRPC:
                    return False, _retry_info(exc), error
                return True, None, error
            return True, None, None

        return _retry_loop(attempt, time.monotonic() + self._timeout)

    def send_spans(self, spans: Sequence[ReadableSpan]) -> Outcome:
        raise NotImplementedError("raw transports send pre-serialized bodies")

    def close(self) -> None:
        self._channel.close()


def _retry_info(error: grpc.RpcError) -> float:
    metadata = dict(error.trailing_metadata() or ()) if isinstance(error, grpc.Call) else {}
    raw = metadata.get("google.rpc.retryinfo-bin")
    if not isinstance(raw, bytes):
        return 1.0
    info = error_details_pb2.RetryInfo.FromString(raw)
    return min(max(info.retry_delay.seconds + info.retry_delay.nanos / 1e9, 0.05), 5.0)


class _CountingSession(requests.Session):
    """Counts the responses that make the OTel HTTP exporter retry."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.retryable = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        if response.status_code in (429, 502, 503, 504):
            self.retryable += 1
        return response


class SdkHttp:
    """The real ``opentelemetry-exporter-otlp-proto-http`` span exporter (plus raw logs, see RawHttp)."""

    def __init__(self, base_url: str, *, gzip: bool, timeout: float) -> None:
        self._session = _CountingSession()
        compression = HttpCompression.Gzip if gzip else HttpCompression.NoCompression
        self._exporter = HttpSpanExporter(
            endpoint=f"{base_url}/v1/traces", timeout=timeout, compression=compression, session=self._session
        )
        self._raw = RawHttp(base_url, gzip=gzip, timeout=timeout)

    def send_spans(self, spans: Sequence[ReadableSpan]) -> Outcome:
        before = self._session.retryable
        ok = self._exporter.export(spans) is SpanExportResult.SUCCESS
        return Outcome(ok, self._session.retryable - before, None if ok else "the OTel exporter returned FAILURE")

    def send_raw(self, signal: str, body: bytes) -> Outcome:
        return self._raw.send_raw(signal, body)

    def close(self) -> None:
        self._exporter.shutdown()
        self._raw.close()


class _CountingInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Counts the calls that ended in a status the OTel gRPC exporter retries."""

    def __init__(self) -> None:
        self.retryable = 0

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        outcome = continuation(client_call_details, request)
        if outcome.code() in _RETRYABLE_GRPC:
            self.retryable += 1
        return outcome


class _CountingGrpcSpanExporter(GrpcSpanExporter):
    """The real gRPC span exporter with a counting interceptor on the channel it (re)creates."""

    def __init__(self, counter: _CountingInterceptor, **kwargs: Any) -> None:
        self._counter = counter
        super().__init__(**kwargs)

    def _initialize_channel_and_stub(self) -> None:
        super()._initialize_channel_and_stub()
        self._client = self._stub(grpc.intercept_channel(self._channel, self._counter))


class SdkGrpc:
    """The real ``opentelemetry-exporter-otlp-proto-grpc`` span exporter (plus raw logs, see RawGrpc)."""

    def __init__(self, target: str, *, gzip: bool, timeout: float) -> None:
        self._counter = _CountingInterceptor()
        self._exporter = _CountingGrpcSpanExporter(
            self._counter,
            endpoint=f"http://{target}",
            insecure=True,
            timeout=timeout,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            channel_options=(("grpc.enable_http_proxy", 0),),
        )
        self._raw = RawGrpc(target, gzip=gzip, timeout=timeout)

    def send_spans(self, spans: Sequence[ReadableSpan]) -> Outcome:
        before = self._counter.retryable
        ok = self._exporter.export(spans) is SpanExportResult.SUCCESS
        return Outcome(ok, self._counter.retryable - before, None if ok else "the OTel exporter returned FAILURE")

    def send_raw(self, signal: str, body: bytes) -> Outcome:
        return self._raw.send_raw(signal, body)

    def close(self) -> None:
        self._exporter.shutdown()
        self._raw.close()
