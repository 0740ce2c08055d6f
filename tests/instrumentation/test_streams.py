"""Streams recorded alike whichever thread records the call: the same output messages, usage, finish reasons and
errors with a batching span processor (the call recorded on the background thread) as with a
``SimpleSpanProcessor`` (on the calling thread) — long streams, streams closed early, broken in the middle, async
ones — few chunks kept alive while a stream is read, and a failing recorder that never costs the stream.

Streams recorded alike from their bytes (the tap before ``openai``'s ``SSEDecoder``) as item by item (a client with
a decoder of its own), chat and Responses; the kept bytes split into events by the server-sent-event rules; a
stream too long to keep, and a recorder failing on the kept bytes, costing the reply only."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai._streaming import SSEDecoder
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, SpanKind

from instrumentation import semconv as sc
from instrumentation.openai import OpenAIInstrumentor, streams
from instrumentation.openai.call import LLMCall, Reply
from instrumentation.openai.chat import ChatStreamRecorder
from instrumentation.openai.streams import TracedStream
from instrumentation.redaction import ContentPolicy
from tests.fakeopenai import ChatReply, FakeOpenAI, StreamError, ToolCall, Usage
from tests.instrumentation.helpers import FINISHER, Batched, Recorded, async_client, attributes_of, json_attribute

MODEL = "gpt-4o-mini"
USER = {"role": "user", "content": "tell me a long story"}
LONG = " ".join(f"word{index}" for index in range(300))
# What differs between two recordings of the same exchange: when the first chunk came, the fake's response id.
_VARYING = (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, sc.GEN_AI_RESPONSE_ID)


def _recorded(span: ReadableSpan) -> dict[str, Any]:
    attributes = {key: value for key, value in attributes_of(span).items() if key not in _VARYING}
    return {
        "name": span.name,
        "attributes": attributes,
        "status": (span.status.status_code, span.status.description),
        "events": [event.name for event in span.events],
    }


def _both_ways(scenario: Callable[[], None]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What ``scenario`` records with a ``SimpleSpanProcessor``, then with a batching one."""
    simple = Recorded()
    simple.instrument()
    try:
        scenario()
    finally:
        simple.instrumentor.uninstrument()
    at_once = [_recorded(span) for span in simple.spans]
    simple.provider.shutdown()
    batched = Batched(TracerProvider())
    try:
        scenario()
        spans = batched.spans()
        assert set(batched.processor.ended_on) == {FINISHER}
    finally:
        OpenAIInstrumentor().uninstrument()
        batched.provider.shutdown()
    return at_once, [_recorded(span) for span in spans]


def json_attribute_of(recorded: dict[str, Any], key: str) -> Any:
    """A JSON-valued attribute of a span as :func:`_recorded` gives it, decoded."""
    return json.loads(str(recorded["attributes"][key]))


@pytest.fixture
def sync_client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client:
        yield client


def test_a_long_stream_records_the_same_with_either_processor(sync_client: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.add_rule("long story", ChatReply(content=LONG))

    def scenario() -> None:
        stream = sync_client.chat.completions.create(
            model=MODEL, messages=[USER], stream=True, stream_options={"include_usage": True}
        )
        assert sum(1 for _ in stream) > 300

    at_once, later = _both_ways(scenario)
    assert later == at_once
    [span] = later
    assert json_attribute_of(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [{"type": "text", "content": LONG}]
    assert span["attributes"][sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 300
    assert span["attributes"][sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_a_stream_closed_after_a_few_chunks_records_the_same_with_either_processor(
    sync_client: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script.add_rule("long story", ChatReply(content=LONG))

    def scenario() -> None:
        with sync_client.chat.completions.create(model=MODEL, messages=[USER], stream=True) as stream:
            for _ in range(5):
                next(stream)

    at_once, later = _both_ways(scenario)
    assert later == at_once
    [span] = later
    assert span["status"][0].name == "UNSET"
    text = json_attribute_of(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"]
    assert LONG.startswith(text) and 0 < len(text) < len(LONG)


@pytest.mark.parametrize("disconnect", [False, True], ids=["error-event", "dropped-connection"])
def test_an_error_in_the_middle_of_a_long_stream_records_the_same_with_either_processor(
    sync_client: Any, fake_openai: FakeOpenAI, disconnect: bool
) -> None:
    def scenario() -> None:
        fake_openai.script.push(StreamError(after_chunks=100, disconnect=disconnect, reply=ChatReply(content=LONG)))
        stream = sync_client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
        with pytest.raises((openai.APIError, httpx.HTTPError)):
            for _ in stream:
                pass

    at_once, later = _both_ways(scenario)
    assert later == at_once
    [span] = later
    assert span["status"][0].name == "ERROR" and span["events"] == ["exception"]
    text = json_attribute_of(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"]
    assert LONG.startswith(text) and len(text.split()) >= 90
    # what the chunks repeat is read from the last chunk, not from the error event after it
    assert span["attributes"][sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == "fp_fake0penai"
    assert span["attributes"][sc.GEN_AI_RESPONSE_MODEL] == MODEL


def test_async_streams_record_the_same_with_either_processor(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.add_rule("long story", ChatReply(content=LONG))

    async def main() -> None:
        async with async_client(fake_openai) as client:
            stream = await client.chat.completions.create(
                model=MODEL, messages=[USER], stream=True, stream_options={"include_usage": True}
            )
            assert len([chunk async for chunk in stream]) > 300
            async with await client.chat.completions.create(model=MODEL, messages=[USER], stream=True) as early:
                for _ in range(5):
                    await early.__anext__()
            fake_openai.script.push(StreamError(after_chunks=100, reply=ChatReply(content=LONG)))
            broken = await client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
            with pytest.raises(openai.APIError):
                async for _ in broken:
                    pass

    at_once, later = _both_ways(lambda: asyncio.run(main()))
    assert later == at_once
    whole, closed, failed = later
    assert json_attribute_of(whole, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"] == LONG
    assert closed["status"][0].name == "UNSET" and failed["status"][0].name == "ERROR"


def test_a_long_stream_keeps_few_chunks_alive(batched: Batched, client: Any, fake_openai: FakeOpenAI) -> None:
    """A chunk kept alive costs the application's thread garbage collections; a batch is let go as it is
    recorded, and the recorder keeps no chunk but the first and the last it saw."""
    fake_openai.script.add_rule("long story", ChatReply(content=LONG))
    gc.disable()  # only references keep chunks alive here
    try:
        alive: list[weakref.ref[Any]] = []
        most = 0
        for chunk in client.chat.completions.create(model=MODEL, messages=[USER], stream=True):
            alive.append(weakref.ref(chunk))
            del chunk
            most = max(most, sum(1 for ref in alive if ref() is not None))
    finally:
        gc.enable()
    assert len(alive) > 300
    assert most <= 10, f"{most} chunks alive at once"
    [span] = batched.spans()
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"] == LONG


class _OwnDecoder(SSEDecoder):
    """A decoder of the client's own: the stream cannot be recorded from its bytes, only item by item."""


class _ClientWithItsOwnDecoder(openai.OpenAI):
    def _make_sse_decoder(self) -> SSEDecoder:
        return _OwnDecoder()


def test_a_stream_with_a_decoder_of_its_own_is_recorded_item_by_item_alike(
    recorded: Recorded, fake_openai: FakeOpenAI
) -> None:
    calls = [
        ToolCall("lookup", '{"city": "Paris", "days": 3}', id="call_1"),
        ToolCall("weather", '{"unit": "C"}', id="call_2"),
    ]
    fake_openai.script.add_rule(
        "story", ChatReply(content=LONG, tool_calls=calls, interleave=True, usage=Usage(7, 300))
    )
    spans = []
    for kind in (openai.OpenAI, _ClientWithItsOwnDecoder):
        client: Any
        with kind(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client:
            stream = client.chat.completions.create(
                model=MODEL, messages=[USER], stream=True, stream_options={"include_usage": True}
            )
            assert isinstance(stream._decoder, _OwnDecoder) is (kind is _ClientWithItsOwnDecoder)
            assert sum(1 for _ in stream) > 300
        spans.append(_recorded(recorded.spans[-1]))
    by_bytes, by_items = spans
    assert by_items == by_bytes
    [output] = json_attribute_of(by_items, sc.GEN_AI_OUTPUT_MESSAGES)
    assert output["parts"][0] == {"type": "text", "content": LONG}
    assert [part["name"] for part in output["parts"][1:]] == ["lookup", "weather"]
    assert by_items["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 7


def test_a_responses_stream_with_a_decoder_of_its_own_is_recorded_item_by_item_alike(
    recorded: Recorded, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script.add_rule("story", ChatReply(content=LONG, tool_calls=[ToolCall("lookup", "{}", id="call_1")]))
    spans = []
    client: Any
    for kind in (openai.OpenAI, _ClientWithItsOwnDecoder):
        with kind(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client:
            events = list(client.responses.create(model=MODEL, input="tell me a long story", stream=True))
            assert events[-1].type == "response.completed"
        spans.append(_recorded(recorded.spans[-1]))
    by_bytes, by_items = spans
    assert by_items == by_bytes
    [output] = json_attribute_of(by_items, sc.GEN_AI_OUTPUT_MESSAGES)
    assert output["parts"][0] == {"type": "text", "content": LONG}
    assert output["parts"][1]["name"] == "lookup" and output["finish_reason"] == "tool_call"
    assert by_items["attributes"][sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_a_stream_too_long_to_keep_records_no_reply_and_streams_on(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.script.set_latency(0, between_chunks=0.001)  # many pieces: the limit falls in the middle
    fake_openai.script.add_rule("long story", ChatReply(content=LONG))
    monkeypatch.setattr(streams, "_MAX_KEPT_BYTES", 4096)
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
        if chunk.choices
    )
    assert text == LONG
    span = recorded.one()
    assert span.status.status_code.name == "UNSET"
    assert sc.GEN_AI_OUTPUT_MESSAGES not in attributes_of(span)
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attributes_of(span)


class _RecorderFailingOnBytes:
    def __init__(self) -> None:
        self.given: list[str] = []  # which way the stream came: "data" (its bytes) or "items"

    def add_data(self, events: list[Any]) -> None:
        self.given.append("data")
        raise ValueError("an event the recorder does not understand")

    def add(self, items: list[Any]) -> None:
        self.given.append("items")

    def reply(self) -> Reply | None:
        raise AssertionError("an incomplete reply must be left out")


def test_a_recorder_failing_on_the_kept_bytes_leaves_the_reply_out_never_the_span(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script.add_rule("long story", ChatReply(content=LONG))
    with suppress_instrumentation():  # the stream as the client returns it, wrapped below
        stream = client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
    span = recorded.provider.get_tracer("test").start_span("chat", kind=SpanKind.CLIENT)
    call = LLMCall(span, _Operation(), ContentPolicy(), "snapshot", False)
    recorder = _RecorderFailingOnBytes()
    text = "".join(chunk.choices[0].delta.content or "" for chunk in TracedStream(stream, call, recorder))
    assert text == LONG
    assert recorder.given == ["data"]  # once, after the stream ended
    [recorded_span] = recorded.spans
    assert recorded_span.status.status_code.name == "UNSET"
    assert set(attributes_of(recorded_span)) == {"request", sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}


class _Operation:
    def request_attributes(self, request: Any, policy: ContentPolicy) -> dict[str, Any]:
        return {"request": request}


class _FailingRecorder:
    """Fails on its second batch; notes every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def add_data(self, events: list[Any]) -> None:
        raise AssertionError("a list iterator has no bytes to read")

    def add(self, items: list[Any]) -> None:
        self.batches.append(list(items))
        if len(self.batches) == 2:
            raise ValueError("a chunk the recorder does not understand")

    def reply(self) -> Reply | None:
        raise AssertionError("an incomplete reply must be left out")


def test_a_failing_recorder_stops_recording_never_the_stream(recorded: Recorded) -> None:
    tracer = recorded.provider.get_tracer("test")
    span = tracer.start_span("chat", kind=SpanKind.CLIENT)
    recorder = _FailingRecorder()
    call = LLMCall(span, _Operation(), ContentPolicy(), "snapshot", False)
    items = list(range(50))

    assert list(TracedStream(iter(items), call, recorder)) == items
    assert len(recorder.batches) == 2  # nothing more after the failure
    [recorded_span] = recorded.spans
    assert set(attributes_of(recorded_span)) == {"request", sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_kept_bytes_split_into_events_by_the_server_sent_event_rules(newline: bytes) -> None:
    lines = [
        b": a comment",
        b"event: message",
        b'data: {"a": 1}',
        b"",
        b'data:{"b":',  # no space after the colon; data lines of one event joined with a newline
        b"data: 2}",
        b"id: 7",
        b"",
        b"data: not json",
        b"",
        b"",
        b"data: [3]",
        b"",
        b"data: [DONE]",
        b"",
        b'data: {"after": "done"}',
        b"",
    ]
    body = newline.join(lines)
    call = LLMCall(NonRecordingSpan(INVALID_SPAN_CONTEXT), _Operation(), ContentPolicy(), "snapshot", False)
    whole = streams._ByteTap(None, call)
    whole._kept(body)
    assert whole.events() == [{"a": 1}, {"b": 2}, [3]]
    pieces = streams._ByteTap(None, call)  # the network cuts anywhere, even inside a line ending
    for start in range(0, len(body), 5):
        pieces._kept(body[start : start + 5])
    assert pieces.events() == whole.events()
    unfinished = streams._ByteTap(None, call)  # an event cut off before its empty line never happened
    unfinished._kept(b'data: {"a": 1}\n\ndata: {"b": 2}\n')
    assert unfinished.events() == [{"a": 1}]


def test_the_chat_recorder_skips_what_is_not_a_chunk() -> None:
    recorder = ChatStreamRecorder()
    recorder.add_data(
        [
            "text",
            {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
            {
                "id": "c1",
                "choices": ["not a choice", {"index": 0, "delta": None}, {"index": 0, "delta": {"content": "lo"}}],
            },
            {"error": {"message": "overloaded"}},
            {
                "id": "c1",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3},
            },
        ]
    )
    reply = recorder.reply()
    assert reply is not None
    attributes = reply.attributes(ContentPolicy())
    assert json.loads(attributes[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": "Hello"}]
    assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3 and attributes[sc.GEN_AI_RESPONSE_MODEL] == "m"
