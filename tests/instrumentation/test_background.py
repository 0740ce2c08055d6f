"""Calls finished on the background thread: with span processors that batch, a call's span gets its attributes and
ends after the call returned, from what was copied when it returned; ``flush()``, ``uninstrument()``, the providers
``register()`` builds and interpreter exit wait for it. Which attributes a sampler gets at the start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.util.types import Attributes

from instrumentation import semconv as sc
from instrumentation.background import finish_later
from instrumentation.openai import OpenAIInstrumentor
from instrumentation.openai.tracing import Tracing
from instrumentation.provider import SpanlabTracerProvider
from instrumentation.redaction import ContentPolicy
from instrumentation.spans import last_span_id
from tests.fakeopenai import ErrorReply, FakeOpenAI
from tests.instrumentation.helpers import FINISHER, Batched, attributes_of, json_attribute

MODEL = "gpt-4o-mini"


class Hold:
    """Keeps the background thread busy until ``release`` is set (at most ``seconds``)."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.release = threading.Event()
        self.seconds = seconds

    def record(self) -> None:
        self.release.wait(self.seconds)


def test_calls_are_finished_on_the_background_thread_once_each(
    batched: Batched, client: Any, fake_openai: FakeOpenAI
) -> None:
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "plain"}])
    list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "streamed"}], stream=True))
    early = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "closed"}], stream=True)
    next(early)
    early.close()
    early.close()
    fake_openai.script.push(ErrorReply(status=500))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "failed"}])

    plain, streamed, closed, failed = batched.spans()
    assert batched.processor.ended_on == [FINISHER] * 4
    assert json_attribute(plain, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"]
    assert json_attribute(streamed, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"]
    assert attributes_of(streamed)[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert json_attribute(closed, sc.GEN_AI_INPUT_MESSAGES)[0]["parts"][0]["content"] == "closed"
    assert failed.status.status_code is StatusCode.ERROR and [event.name for event in failed.events] == ["exception"]
    for span in (plain, streamed, closed, failed):
        assert span.end_time is not None and span.start_time is not None and span.end_time > span.start_time
        assert attributes_of(span)[sc.GEN_AI_REQUEST_MODEL] == MODEL


def test_what_is_recorded_is_fixed_when_the_call_returns(batched: Batched, client: Any) -> None:
    hold = Hold()
    finish_later(hold)  # the background thread records nothing before the application changes everything
    try:
        messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "original question"}]}]
        tools: list[dict[str, Any]] = [
            {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
        ]
        reply = client.chat.completions.create(model=MODEL, messages=messages, tools=tools, stop=["END"])
        original_reply = reply.choices[0].message.content
        messages[0]["content"][0]["text"] = "changed question"
        messages.append({"role": "assistant", "content": "appended"})
        tools[0]["function"]["name"] = "changed"
        reply.choices[0].message.content = "changed reply"
        reply.usage.prompt_tokens = 999_999
    finally:
        hold.release.set()

    [span] = batched.spans()
    assert json_attribute(span, sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "original question"}]}
    ]
    assert json_attribute(span, sc.GEN_AI_TOOL_DEFINITIONS)[0]["function"]["name"] == "lookup"
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"] == original_reply
    assert attributes_of(span)[sc.GEN_AI_USAGE_INPUT_TOKENS] != 999_999
    assert attributes_of(span)[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)


def _flush_spanlab_provider(provider: TracerProvider) -> bool:
    return provider.force_flush()  # the provider register() builds waits for the background thread itself


def _flush_own_provider(provider: TracerProvider) -> bool:
    import spanlab

    return spanlab.flush_spans(timeout=10) and provider.force_flush()  # an app's own provider: flush_spans first


@pytest.mark.parametrize(
    ("provider", "flush"),
    [(SpanlabTracerProvider, _flush_spanlab_provider), (TracerProvider, _flush_own_provider)],
    ids=["register-provider", "own-provider"],
)
def test_flushing_exports_calls_still_pending(
    client: Any, provider: type[TracerProvider], flush: Callable[[TracerProvider], bool]
) -> None:
    run = Batched(provider())
    try:
        finish_later(Hold(seconds=0.3))  # the call below is still waiting to be recorded when flushing starts
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert flush(run.provider)
        [span] = run.exporter.get_finished_spans()
        assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES)
    finally:
        OpenAIInstrumentor().uninstrument()
        run.provider.shutdown()


def test_uninstrument_waits_for_pending_calls(client: Any) -> None:
    run = Batched(TracerProvider())
    try:
        finish_later(Hold(seconds=0.3))
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    finally:
        OpenAIInstrumentor().uninstrument()
    assert run.provider.force_flush()
    assert len(run.exporter.get_finished_spans()) == 1
    run.provider.shutdown()


EXITING_APP = """
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from instrumentation.openai import OpenAIInstrumentor

class Printing(SpanExporter):
    def export(self, spans):
        for span in spans:
            print(span.name, sorted(key for key in span.attributes if key.startswith("gen_ai.output")), flush=True)
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(Printing()))
OpenAIInstrumentor().instrument(tracer_provider=provider)
client = openai.OpenAI(base_url={base_url!r}, api_key="sk-test", max_retries=0)
client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "bye"}}])
"""


def test_calls_pending_at_exit_are_exported(fake_openai: FakeOpenAI) -> None:
    """The application exits right after its call, flushing nothing: the span is still exported, complete."""
    app = textwrap.dedent(EXITING_APP.format(base_url=fake_openai.base_url))
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", app], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"chat {MODEL} ['gen_ai.output.messages']"]


class NotingSampler(Sampler):
    """Samples everything and keeps the attributes each span started with."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        self.seen.append(dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "NotingSampler"


@pytest.mark.parametrize(
    ("sampler", "at_start"),
    [
        (None, False),  # the SDK's default: parent-based always-on
        (ParentBased(TraceIdRatioBased(0.5)), False),
        (ALWAYS_ON, False),
        (NotingSampler(), True),
        (ParentBased(NotingSampler()), True),
    ],
    ids=["default", "parent-ratio", "always-on", "own", "parent-own"],
)
def test_samplers_that_may_read_attributes_get_them_at_the_start(sampler: Sampler | None, at_start: bool) -> None:
    provider = TracerProvider(sampler=sampler) if sampler is not None else TracerProvider()
    assert Tracing(provider.get_tracer("t"), ContentPolicy()).attributes_at_start is at_start


def test_a_sampler_of_its_own_sees_the_sampling_attributes(client: Any, fake_openai: FakeOpenAI) -> None:
    """Such a sampler may decide on anything given to ``start_span``: the SDK starts the span where it always did,
    on the calling thread, with the sampling attributes."""
    sampler = NotingSampler()
    run = Batched(TracerProvider(sampler=sampler))
    try:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        [span] = run.spans()
    finally:
        OpenAIInstrumentor().uninstrument()
        run.provider.shutdown()
    port = int(fake_openai.base_url.rsplit(":", 1)[1].split("/")[0])
    expected = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: port,
    }
    assert sampler.seen == [expected]
    assert expected.items() <= attributes_of(span).items()
    assert run.processor.started_on == [threading.current_thread().name]
    assert run.processor.ended_on == [FINISHER]
    assert format(span.context.span_id, "016x") == last_span_id()


def test_spans_exported_as_they_end_are_recorded_before_the_call_returns(client: Any) -> None:
    """With a processor that exports at once (a script, a test), the span is complete when the call returns."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    try:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        [span] = exporter.get_finished_spans()  # no flush
    finally:
        OpenAIInstrumentor().uninstrument()
        provider.shutdown()
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES)


def test_calls_are_finished_later_only_while_every_processor_batches() -> None:
    provider = TracerProvider()
    tracing = Tracing(provider.get_tracer("t"), ContentPolicy())
    assert not tracing.exports_later()  # no processor yet
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    assert tracing.exports_later()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))  # added later: seen at the next call
    assert not tracing.exports_later()
    provider.shutdown()
