"""Helpers of the instrumentation tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation.openai import OpenAIInstrumentor, flush
from instrumentation.register import register
from tests.fakeopenai import FakeOpenAI
from tests.instrumented import new_project
from tests.server import ServerProcess

__all__ = [
    "FINISHER",
    "Batched",
    "NotingBatchProcessor",
    "Recorded",
    "async_client",
    "attributes_of",
    "json_attribute",
    "traced",
]

FINISHER = "spanlab-span-finisher"  # the name of the thread that records calls when spans are exported in batches


class Recorded:
    """The spans one test produced, with the instrumentor options it runs under."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.instrumentor = OpenAIInstrumentor()

    def instrument(self, **options: Any) -> None:
        if self.instrumentor.is_instrumented_by_opentelemetry:
            self.instrumentor.uninstrument()
        self.instrumentor.instrument(tracer_provider=self.provider, **options)

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def one(self) -> ReadableSpan:
        spans = self.spans
        assert len(spans) == 1, [span.name for span in spans]
        return spans[0]


class NotingBatchProcessor(BatchSpanProcessor):
    """A batching processor that notes the thread each span started and ended on."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        super().__init__(exporter)
        self.started_on: list[str] = []
        self.ended_on: list[str] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started_on.append(threading.current_thread().name)
        super().on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended_on.append(threading.current_thread().name)
        super().on_end(span)


class Batched:
    """spanlab's instrumentor on a provider whose only span processor batches."""

    def __init__(self, provider: TracerProvider) -> None:
        self.exporter = InMemorySpanExporter()
        self.processor = NotingBatchProcessor(self.exporter)
        self.provider = provider
        self.provider.add_span_processor(self.processor)
        OpenAIInstrumentor().instrument(tracer_provider=provider)

    def spans(self) -> tuple[ReadableSpan, ...]:
        assert flush(timeout=10)
        assert self.provider.force_flush()
        return self.exporter.get_finished_spans()


def async_client(fake: FakeOpenAI) -> Any:
    """An async client for the fake provider; make it inside the event loop that uses it (``asyncio.run``)."""
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (values typed loosely, for comparisons in tests)."""
    return dict(span.attributes or {})


def json_attribute(span: ReadableSpan, key: str) -> Any:
    """A JSON-valued attribute of ``span``, decoded (fails the test if it is missing)."""
    assert span.attributes is not None and key in span.attributes, f"{key} missing from {span.name}"
    return json.loads(str(span.attributes[key]))


@contextmanager
def traced(server: ServerProcess, protocol: str, **options: Any) -> Iterator[str]:
    """Tracing to ``server`` through ``register()``; yields the run's project."""
    project = new_project("spanlab-openai")
    endpoint = server.http_url if protocol == "http/protobuf" else f"http://{server.grpc_endpoint}"
    provider = register(project=project, endpoint=endpoint, protocol=protocol, batch=False, set_global=False, **options)
    try:
        yield project
    finally:
        OpenAIInstrumentor().uninstrument()
        provider.shutdown()
