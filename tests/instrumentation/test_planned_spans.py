"""Spans planned on the calling thread and started on the background thread (spans exported in batches, a built-in
sampler): the span exported is the one the application saw while the call ran — ids, parent, sampling decision,
trace flags and state, times — and the one the SDK would have started on the calling thread."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from pydantic import BaseModel

from instrumentation import semconv as sc
from instrumentation.openai import OpenAIInstrumentor
from instrumentation.spans import last_span_id, trace_id_of
from tests.fakeopenai import ErrorReply, FakeOpenAI
from tests.instrumentation.helpers import FINISHER, Batched, attributes_of

MODEL = "gpt-4o-mini"
LLM_SPAN = f"chat {MODEL}"
USER: Any = {"role": "user", "content": "where is my card?"}
RANDOM_TRACE_ID = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)


class CountingIds(IdGenerator):
    """An application's own id generator: ids counted from 1, trace ids not random."""

    def __init__(self) -> None:
        self.last = 0

    def generate_span_id(self) -> int:
        self.last += 1
        return self.last

    def generate_trace_id(self) -> int:
        self.last += 1
        return self.last


class Answer(BaseModel):
    text: str


class HttpSpans:
    """An ``httpx2`` client that, like HTTP-level instrumentation, starts a span for every request it sends and notes
    the span context current then."""

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer("http")
        self.current: list[SpanContext] = []

    def client(self, fake: FakeOpenAI) -> openai.OpenAI:
        http = httpx2.Client(event_hooks={"request": [self._sent]})
        return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, http_client=http)

    def _sent(self, request: httpx2.Request) -> None:
        self.current.append(trace.get_current_span().get_span_context())
        self.tracer.start_span(f"HTTP {request.method}").end()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def test_the_exported_span_has_the_ids_parent_and_times_the_application_saw(
    batched: Batched, fake_openai: FakeOpenAI
) -> None:
    http = HttpSpans(batched.provider)
    app = batched.provider.get_tracer("app")
    with http.client(fake_openai) as client, app.start_as_current_span("turn") as turn:
        before = time.time_ns()
        client.chat.completions.create(model=MODEL, messages=[USER])
        noted = [last_span_id()]
        stream = client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
        noted.append(last_span_id())
        for index, _ in enumerate(stream):
            if index == 0:
                app.start_span("app work").end()  # made by the application while it reads the stream

    spans = batched.spans()
    plain, streamed = named(spans, LLM_SPAN)
    http_plain, http_streamed = named(spans, "HTTP POST")
    [work] = named(spans, "app work")
    assert batched.processor.started_on.count(FINISHER) == 2  # the calling thread started only the app's spans
    assert [format(span.context.span_id, "016x") for span in (plain, streamed)] == noted
    assert http.current == [plain.context, streamed.context]  # flags and trace state included
    for span, inside in ((plain, http_plain), (streamed, http_streamed)):
        assert span.parent == turn.get_span_context()
        assert span.context.trace_flags == TraceFlags.SAMPLED | RANDOM_TRACE_ID
        assert inside.parent is not None and inside.parent.span_id == span.context.span_id
        assert span.start_time is not None and inside.start_time is not None and before <= span.start_time
        assert span.start_time <= inside.start_time
        assert span.end_time is not None and inside.end_time is not None and span.end_time >= inside.end_time
    assert work.parent == turn.get_span_context()  # the call's span is current only while create() runs
    assert streamed.start_time is not None and work.start_time is not None
    first_chunk = attributes_of(streamed)[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert 0 < first_chunk <= (work.start_time - streamed.start_time) / 1e9


def _application(client: openai.OpenAI, fake: FakeOpenAI, provider: TracerProvider) -> None:
    """Every kind of call, inside a span of the application's."""
    with provider.get_tracer("app").start_as_current_span("turn"):
        client.chat.completions.create(model=MODEL, messages=[USER], temperature=0.2)
        list(client.chat.completions.create(model=MODEL, messages=[USER], n=2, stream=True))
        fake.script.push(ErrorReply(status=500))
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model=MODEL, messages=[USER])
        client.chat.completions.parse(model=MODEL, messages=[USER], response_format=Answer)
        client.responses.create(model=MODEL, input="lost card", max_output_tokens=40)
        client.embeddings.create(model="text-embedding-3-small", input="card lost")

        async def in_a_task() -> None:
            async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0) as async_client:
                await async_client.chat.completions.create(model=MODEL, messages=[USER])

        asyncio.run(in_a_task())


# Attributes that differ from one call to the next whatever the instrumentation: times, the fake's reply ids.
_VARYING = {sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, sc.GEN_AI_RESPONSE_ID}


def _comparable(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": span.kind,
        "context": span.context,
        "parent": span.parent,
        "resource": dict(span.resource.attributes),
        "scope": span.instrumentation_scope,
        "status": (span.status.status_code, span.status.description),
        "attributes": {key: value for key, value in attributes_of(span).items() if key not in _VARYING},
        "events": [
            (
                event.name,
                {key: value for key, value in (event.attributes or {}).items() if key != "exception.stacktrace"},
            )
            for event in span.events
        ],
        "links": list(span.links),
    }


def _in_id_order(spans: tuple[ReadableSpan, ...]) -> list[dict[str, Any]]:
    """The comparable fields of each span, in span id order (whatever order they were exported in)."""
    return [_comparable(span) for span in sorted(spans, key=lambda span: span.context.span_id)]


def test_a_planned_span_is_the_span_the_sdk_would_have_started_on_the_calling_thread(fake_openai: FakeOpenAI) -> None:
    """The same calls, with ids counted from 1 both times: exported in batches (spans planned) and at once (spans
    started on the calling thread, as before planning) — the spans are the same but for their times."""
    exporter = InMemorySpanExporter()
    at_once = TracerProvider(id_generator=CountingIds())
    at_once.add_span_processor(SimpleSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=at_once)
    try:
        with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client:
            _application(client, fake_openai, at_once)
    finally:
        OpenAIInstrumentor().uninstrument()
    expected = exporter.get_finished_spans()

    run = Batched(TracerProvider(id_generator=CountingIds()))
    try:
        with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client:
            _application(client, fake_openai, run.provider)
        planned = run.spans()
    finally:
        OpenAIInstrumentor().uninstrument()
        run.provider.shutdown()
        at_once.shutdown()

    assert len(expected) == 8
    assert run.processor.started_on.count(FINISHER) == 7  # all but the application's own span
    assert _in_id_order(planned) == _in_id_order(expected)


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0])
def test_a_trace_id_ratio_sampler_decides_as_the_sdk_would(rate: float, client: Any) -> None:
    sampler = TraceIdRatioBased(rate)
    run = Batched(TracerProvider(sampler=sampler))
    noted: list[str] = []
    try:
        for _ in range(24):
            client.chat.completions.create(model=MODEL, messages=[USER])
            noted.append(str(last_span_id()))
        spans = run.spans()
    finally:
        OpenAIInstrumentor().uninstrument()
        run.provider.shutdown()

    def sdk_samples(span_id: str) -> bool:
        trace_id = int(str(trace_id_of(span_id)), 16)
        return sampler.should_sample(None, trace_id, LLM_SPAN).decision.is_sampled()

    assert len(set(noted)) == 24  # a dropped call has a span id too, as the SDK's non-recording span has
    sampled = [span_id for span_id in noted if sdk_samples(span_id)]
    assert [format(span.context.span_id, "016x") for span in spans] == sampled
    assert {span.context.trace_flags for span in spans} <= {TraceFlags.SAMPLED | RANDOM_TRACE_ID}  # root spans
    assert len(sampled) == {0.0: 0, 1.0: 24}.get(rate, len(sampled))
    if rate == 0.5:
        assert 0 < len(sampled) < 24


@pytest.mark.parametrize("parent_sampled", [True, False], ids=["sampled-parent", "dropped-parent"])
def test_a_parent_based_sampler_follows_a_remote_parent(parent_sampled: bool, fake_openai: FakeOpenAI) -> None:
    run = Batched(TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0))))
    http = HttpSpans(run.provider)
    flags = TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT)
    state = TraceState([("vendor", "v1")])
    parent = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=flags, trace_state=state)
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        with http.client(fake_openai) as client:
            client.chat.completions.create(model=MODEL, messages=[USER])
        spans = named(run.spans(), LLM_SPAN)
    finally:
        otel_context.detach(token)
        OpenAIInstrumentor().uninstrument()
        run.provider.shutdown()

    [current] = http.current  # what HTTP-level spans saw as their parent while the call ran
    assert (current.trace_id, current.trace_flags, current.trace_state) == (0x1234, flags, state)
    assert format(current.span_id, "016x") == last_span_id()
    if parent_sampled:
        [span] = spans
        assert span.context == current and span.parent == parent
    else:
        assert spans == []
        assert run.processor.started_on == []


def test_the_providers_own_id_generator_gives_the_ids(fake_openai: FakeOpenAI) -> None:
    run = Batched(TracerProvider(id_generator=CountingIds()))
    try:
        with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client:
            client.chat.completions.create(model=MODEL, messages=[USER])
        [span] = run.spans()
    finally:
        OpenAIInstrumentor().uninstrument()
        run.provider.shutdown()
    assert (span.context.trace_id, span.context.span_id) == (1, 2)  # the trace id is drawn first, as the SDK does
    assert last_span_id() == format(2, "016x") and trace_id_of(format(2, "016x")) == format(1, "032x")
    assert span.context.trace_flags == TraceFlags.SAMPLED  # its trace ids are not random: no such flag
    assert run.processor.started_on == [FINISHER]
