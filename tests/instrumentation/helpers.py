"""Helpers of the instrumentation tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation.openai import OpenAIInstrumentor
from instrumentation.register import register
from tests.fakeopenai import FakeOpenAI
from tests.instrumented import new_project
from tests.server import ServerProcess

__all__ = ["Recorded", "async_client", "attributes_of", "json_attribute", "traced"]


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
