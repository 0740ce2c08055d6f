"""The real ``openai`` client under a real instrumentation, exporting over real OTLP to a running spanlab server.

:func:`instrumented` yields an :class:`Instrumented` run: an ``openai.OpenAI`` client for the fake provider, a
fresh tracer and logger provider whose resource names a project of the run's own, and exporters for the chosen
transport (OTLP/HTTP protobuf or OTLP/gRPC, for spans and for logs). Exports are synchronous
(``Simple*Processor``) and checked: a refused export fails the test at :meth:`Instrumented.flush` instead of
surfacing as a timeout. On exit the instrumentation is undone and the providers are shut down.

Instrumentations (:data:`Instrumentation`):

- ``openinference`` — ``openinference-instrumentation-openai`` (patches ``OpenAI.request``);
- ``otel_genai`` — ``opentelemetry-instrumentation-openai-v2`` through its public ``instrument()``. With the
  pinned ``opentelemetry-util-genai`` (1.0b0) ``is_experimental_mode()`` is always true, so this is always the
  latest-conventions path; its content mode comes from ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``,
  read at ``instrument()`` time (``span_only``, ``event_only``, ``span_and_event``; ``true`` is not one of them
  and means no content). Set it with ``monkeypatch`` before entering.
- ``otel_genai_legacy`` — the same package's legacy (semconv 1.30) wrapper, content on: spans without content
  and one OTLP log record per message (``gen_ai.user.message``, ``gen_ai.choice``…). This is what
  ``instrument()`` does with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` in deployments whose
  util-genai still honours ``OTEL_SEMCONV_STABILITY_OPT_IN``; the pinned one does not, so the wrapper is
  installed directly (the package's own code, only the mode switch is bypassed).

:func:`stored_span` waits for the run's one span to be stored (and its log events joined) and returns
``GET /api/v1/spans/{span_id}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor
from opentelemetry._logs import get_logger
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as GenAIInstrumentor
from opentelemetry.instrumentation.openai_v2.instruments import Instruments
from opentelemetry.instrumentation.openai_v2.patch import chat_completions_create_v_old
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import get_tracer
from wrapt import wrap_function_wrapper

from tests.server import ServerProcess, wait_for

__all__ = ["Instrumentation", "Instrumented", "Transport", "instrumented", "new_project", "stored_span"]

Transport = Literal["http", "grpc"]
Instrumentation = Literal["openinference", "otel_genai", "otel_genai_legacy"]

_GENAI_SCOPE = "opentelemetry.instrumentation.openai_v2"


def new_project(prefix: str = "e2e") -> str:
    """A project name no other test uses (the session's server is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class _CheckedSpanExporter(SpanExporter):
    """Delegates to a real exporter and remembers every failed export, so tests fail with a cause."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.failures: list[str] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.failures.append(f"span export of {[s.name for s in spans]} returned {result}")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _CheckedLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter) -> None:
        self.inner = inner
        self.failures: list[str] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        if result is not LogRecordExportResult.SUCCESS:
            self.failures.append(f"log export of {len(batch)} records returned {result}")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass
class Instrumented:
    """One instrumented run: the client to call, where its telemetry goes, and how to flush it."""

    client: openai.OpenAI
    project: str
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    exporters: tuple[_CheckedSpanExporter, _CheckedLogExporter]
    resource: dict[str, Any] = field(default_factory=dict)

    def flush(self) -> None:
        """Push everything finished so far to the server; fail if the server refused any of it."""
        assert self.tracer_provider.force_flush(10_000), "span flush timed out"
        assert self.logger_provider.force_flush(10_000), "log flush timed out"
        failures = [failure for exporter in self.exporters for failure in exporter.failures]
        assert not failures, failures


def _exporters(server: ServerProcess, transport: Transport) -> tuple[_CheckedSpanExporter, _CheckedLogExporter]:
    if transport == "http":
        return (
            _CheckedSpanExporter(HttpSpanExporter(endpoint=f"{server.http_url}/v1/traces", timeout=10)),
            _CheckedLogExporter(HttpLogExporter(endpoint=f"{server.http_url}/v1/logs", timeout=10)),
        )
    return (
        _CheckedSpanExporter(GrpcSpanExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=10)),
        _CheckedLogExporter(GrpcLogExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=10)),
    )


@contextmanager
def instrumented(
    server: ServerProcess,
    base_url: str,
    *,
    instrumentation: Instrumentation,
    transport: Transport,
    resource: Mapping[str, Any] | None = None,
) -> Iterator[Instrumented]:
    """An instrumented ``openai`` client exporting to ``server`` (see the module docstring).

    ``resource`` adds resource attributes; ``service.name`` is a fresh project name unless given, and
    ``Instrumented.project`` is the project spanlab files the spans under (``openinference.project.name``
    first).
    """
    attributes: dict[str, Any] = {"service.name": new_project(instrumentation.replace("_", "-")), **(resource or {})}
    project = str(attributes.get("openinference.project.name") or attributes["service.name"])
    span_exporter, log_exporter = _exporters(server, transport)
    tracer_provider = TracerProvider(resource=Resource.create(attributes))
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=Resource.create(attributes))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    run = Instrumented(client, project, tracer_provider, logger_provider, (span_exporter, log_exporter), attributes)
    try:
        with _instrumentation(instrumentation, tracer_provider, logger_provider):
            yield run
    finally:
        client.close()
        tracer_provider.shutdown()
        logger_provider.shutdown()


@contextmanager
def _instrumentation(
    name: Instrumentation, tracer_provider: TracerProvider, logger_provider: LoggerProvider
) -> Iterator[None]:
    if name == "openinference":
        openinference = OpenInferenceInstrumentor()
        openinference.instrument(tracer_provider=tracer_provider)
        try:
            yield
        finally:
            openinference.uninstrument()
    elif name == "otel_genai":
        genai = GenAIInstrumentor()
        genai.instrument(
            tracer_provider=tracer_provider, logger_provider=logger_provider, meter_provider=NoOpMeterProvider()
        )
        try:
            yield
        finally:
            genai.uninstrument()
    else:
        with _legacy_genai(tracer_provider, logger_provider):
            yield


@contextmanager
def _legacy_genai(tracer_provider: TracerProvider, logger_provider: LoggerProvider) -> Iterator[None]:
    """Install opentelemetry-instrumentation-openai-v2's legacy chat wrapper with content capture on."""
    wrapper = chat_completions_create_v_old(
        get_tracer(_GENAI_SCOPE, "", tracer_provider),
        get_logger(_GENAI_SCOPE, "", logger_provider=logger_provider),
        Instruments(NoOpMeterProvider().get_meter(_GENAI_SCOPE)),
        True,
    )
    wrap_function_wrapper("openai.resources.chat.completions", "Completions.create", wrapper)
    try:
        yield
    finally:
        unwrap(openai.resources.chat.completions.Completions, "create")


def stored_span(server: ServerProcess, project: str, *, logs: int = 0, timeout: float = 20.0) -> dict[str, Any]:
    """The one span of ``project`` as ``GET /api/v1/spans/{span_id}`` returns it, once ``logs`` log events
    carrying its ids are stored with it (their messages are joined in the same write)."""
    listed = wait_for(
        lambda: server.get("/api/v1/spans", project=project)["data"], timeout=timeout, what=f"a span in {project}"
    )
    assert len(listed) == 1, [span["name"] for span in listed]
    span_id = listed[0]["span_id"]

    def detail() -> dict[str, Any] | None:
        span: dict[str, Any] = server.get(f"/api/v1/spans/{span_id}")
        return span if len(span["logs"]) >= logs else None

    found = wait_for(detail, timeout=timeout, what=f"{logs} log events joined to span {span_id} of {project}")
    assert found is not None and len(found["logs"]) == logs, found and [log["event_name"] for log in found["logs"]]
    return found
