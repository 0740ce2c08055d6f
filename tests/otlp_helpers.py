"""Make real SDK spans (through the OpenTelemetry SDK) and encode them as OTLP requests, for receiver tests."""

from __future__ import annotations

import json
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

__all__ = ["encode", "llm_spans", "span_ids"]


def llm_spans(project: str, count: int, *, content: str = "hello") -> list[ReadableSpan]:
    """``count`` finished OTel GenAI chat spans (each its own trace) in ``project``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": project}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    for i in range(count):
        with tracer.start_as_current_span(f"chat gpt-4o #{i}", kind=SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 10 + i,
                    "gen_ai.usage.output_tokens": 5,
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": f"{content} {i}"}]}]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": f"reply {i}"}],
                                "finish_reason": "stop",
                            }
                        ]
                    ),
                }
            )
    provider.shutdown()
    return list(exporter.get_finished_spans())


def encode(spans: Sequence[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializeToString()


def span_ids(spans: Sequence[ReadableSpan]) -> set[tuple[str, str]]:
    return {(format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in spans}
