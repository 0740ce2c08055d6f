"""spanlab's openai instrumentor on ``chat.completions``: the real ``openai`` client against the fake provider, spans
read from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import httpx
import openai
import pytest
from openai.resources.chat.completions import AsyncCompletions, Completions
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from instrumentation import semconv as sc
from instrumentation.openai.request import endpoint_attributes
from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, StreamError, ToolCall, Usage
from tests.instrumentation.helpers import Recorded, async_client, attributes_of, json_attribute

MODEL = "gpt-4o-mini"
SYSTEM: Any = {"role": "system", "content": "You are terse."}
USER: Any = {"role": "user", "content": "Say hi."}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ARGUMENTS = '{"city": "Paris"}'


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "content": text}


def attrs(recorded: Recorded) -> dict[str, Any]:
    return attributes_of(recorded.one())


def test_plain_call_records_request_reply_usage_and_endpoint(recorded: Recorded, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(content="Hi there.", usage=Usage(9, 3)))
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-secret", max_retries=0) as client:
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[SYSTEM, USER],
            temperature=0.2,
            top_p=0.9,
            max_completion_tokens=50,
            seed=7,
            stop=["\n\n"],
            presence_penalty=0.1,
            frequency_penalty=0.3,
            logit_bias={"50256": -100},
            user="end-user-1",
            extra_body={"top_k": 40},
            extra_headers={"X-Secret": "do-not-record"},
            timeout=30,
        )
    assert reply.choices[0].message.content == "Hi there."
    span = recorded.one()
    attributes = attributes_of(span)
    assert span.name == f"chat {MODEL}"
    assert span.kind.name == "CLIENT"
    assert span.status.status_code is StatusCode.UNSET
    port = httpx.URL(fake_openai.base_url).port
    expected = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 50,
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n\n",),
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.1,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.3,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: port,
        sc.SPANLAB_REQUEST_BASE_URL: f"http://127.0.0.1:{port}/v1",
        sc.GEN_AI_RESPONSE_ID: reply.id,
        sc.GEN_AI_RESPONSE_MODEL: reply.model,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: reply.system_fingerprint,
    }
    assert {key: attributes.get(key) for key in expected} == expected
    assert json_attribute(span, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS) == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 50,
        "seed": 7,
        "stop": ["\n\n"],
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "logit_bias": {"50256": -100},
        "user": "end-user-1",
        "top_k": 40,
    }
    assert json_attribute(span, sc.GEN_AI_SYSTEM_INSTRUCTIONS) == [text_part(SYSTEM["content"])]
    assert json_attribute(span, sc.GEN_AI_INPUT_MESSAGES) == [{"role": "user", "parts": [text_part("Say hi.")]}]
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [text_part("Hi there.")], "finish_reason": "stop"}
    ]
    everything = json.dumps({key: str(value) for key, value in attributes.items()})
    assert "sk-secret" not in everything and "do-not-record" not in everything


def test_base_url_is_recorded_without_credentials_or_query(recorded: Recorded, fake_openai: FakeOpenAI) -> None:
    port = httpx.URL(fake_openai.base_url).port
    with openai.OpenAI(
        base_url=f"http://user:hunter2@127.0.0.1:{port}/v1/", api_key="sk-test", max_retries=0
    ) as client:
        client.chat.completions.create(model=MODEL, messages=[USER])
    attributes = attrs(recorded)
    assert attributes[sc.SPANLAB_REQUEST_BASE_URL] == f"http://127.0.0.1:{port}/v1"
    assert "hunter2" not in json.dumps({k: str(v) for k, v in attributes.items()})
    with openai.OpenAI(base_url="https://llm-gateway.internal/v1?api-key=secret#x", api_key="sk-test") as gateway:
        assert endpoint_attributes(gateway.chat.completions) == {
            sc.SERVER_ADDRESS: "llm-gateway.internal",
            sc.SERVER_PORT: 443,
            sc.SPANLAB_REQUEST_BASE_URL: "https://llm-gateway.internal/v1",
        }


def test_tool_call_reply_and_follow_up_with_the_tool_result(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script.push(ChatReply(tool_calls=[ToolCall("get_weather", ARGUMENTS, id="call_1")]))
    reply = client.chat.completions.create(
        model=MODEL, messages=[USER], tools=[WEATHER_TOOL], tool_choice="auto", parallel_tool_calls=False
    )
    follow_up = [USER, reply.choices[0].message, {"role": "tool", "tool_call_id": "call_1", "content": "18°C"}]
    client.chat.completions.create(model=MODEL, messages=follow_up, tools=[WEATHER_TOOL])

    first, second = recorded.spans
    assert json_attribute(first, sc.GEN_AI_TOOL_DEFINITIONS) == [WEATHER_TOOL]
    assert json_attribute(first, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS) == {
        "tool_choice": "auto",
        "parallel_tool_calls": False,
    }
    call = {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": ARGUMENTS}
    assert json_attribute(first, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [call], "finish_reason": "tool_call"}
    ]
    assert attributes_of(first)[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    # The reply object passed back in is read like the dict it is sent as; arguments keep their exact text.
    assert json_attribute(second, sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [text_part("Say hi.")]},
        {"role": "assistant", "parts": [call]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C"}]},
    ]


def test_n_choices_are_each_recorded_in_order(recorded: Recorded, client: Any) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[USER], n=3)
    assert len(reply.choices) == 3
    attributes = attrs(recorded)
    assert attributes[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 3
    assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "stop", "stop")
    outputs = json_attribute(recorded.one(), sc.GEN_AI_OUTPUT_MESSAGES)
    assert [output["parts"][0]["content"] for output in outputs] == [c.message.content for c in reply.choices]


def test_images_keep_url_detail_and_inline_data(recorded: Recorded, client: Any) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://llm-gateway.internal/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    assert json_attribute(recorded.one(), sc.GEN_AI_INPUT_MESSAGES) == [
        {
            "role": "user",
            "parts": [
                text_part("What is this?"),
                {"type": "uri", "modality": "image", "uri": "https://llm-gateway.internal/cat.png", "detail": "low"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
            ],
        }
    ]


def test_messages_from_a_generator_are_recorded_and_still_sent(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI
) -> None:
    client.chat.completions.create(model=MODEL, messages=(message for message in [USER]))
    assert fake_openai.requests[0].body["messages"] == [USER]
    assert json_attribute(recorded.one(), sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [text_part("Say hi.")]}
    ]


# -- streams ---------------------------------------------------------------------------------------------------


def stream_text(chunks: list[Any]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def test_stream_is_reassembled_with_interleaved_tool_call_deltas_and_usage(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI
) -> None:
    second_arguments = '{"city": "Lyon", "unit": "celsius"}'
    fake_openai.script.push(
        ChatReply(
            content="Let me check both cities.",
            tool_calls=[
                ToolCall("get_weather", ARGUMENTS, id="c1"),
                ToolCall("get_weather", second_arguments, id="c2"),
            ],
            usage=Usage(20, 30),
            interleave=True,
        )
    )
    stream = client.chat.completions.create(
        model=MODEL, messages=[USER], tools=[WEATHER_TOOL], stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, openai.Stream)
    assert recorded.spans == ()  # the span stays open while the stream is read
    chunks = list(stream)
    assert stream_text(chunks) == "Let me check both cities."

    span = recorded.one()
    attributes = attributes_of(span)
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 20 and attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 30
    assert attributes[sc.GEN_AI_REQUEST_STREAM] is True
    assert (
        0
        < float(attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK])
        < ((span.end_time or 0) - (span.start_time or 0)) / 1e9
    )
    assert attributes[sc.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                text_part("Let me check both cities."),
                {"type": "tool_call", "id": "c1", "name": "get_weather", "arguments": ARGUMENTS},
                {"type": "tool_call", "id": "c2", "name": "get_weather", "arguments": second_arguments},
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert json_attribute(span, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS) == {
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_streamed_n_choices(recorded: Recorded, client: Any) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], n=2, stream=True))
    texts = [
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].index == i)
        for i in (0, 1)
    ]
    outputs = json_attribute(recorded.one(), sc.GEN_AI_OUTPUT_MESSAGES)
    assert [output["parts"][0]["content"] for output in outputs] == texts
    assert attributes_of(recorded.one())[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "stop")


def test_stream_as_context_manager_closed_early(recorded: Recorded, client: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.set_latency(0, between_chunks=0.5)  # the first event arrives alone
    with client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "one two three four five six"}], stream=True
    ) as stream:
        first = next(stream)
        assert first.choices[0].delta.role == "assistant"
        assert recorded.spans == ()
    span = recorded.one()  # ended by __exit__, with what had arrived
    assert span.status.status_code is StatusCode.UNSET
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES) == [{"role": "assistant", "parts": []}]
    stream.close()  # closing again changes nothing
    assert len(recorded.spans) == 1


def test_stream_closed_early_records_what_had_arrived_not_only_what_was_read(recorded: Recorded, client: Any) -> None:
    """The fake writes a short reply in one piece: it had all arrived when the application stopped reading."""
    with client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "one two three"}], stream=True
    ) as stream:
        next(stream)
    [output] = json_attribute(recorded.one(), sc.GEN_AI_OUTPUT_MESSAGES)
    assert output["parts"] == [{"type": "text", "content": "fake reply to: one two three"}]
    assert output["finish_reason"] == "stop"


def test_stream_close_ends_the_span_once(recorded: Recorded, client: Any) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
    next(stream)
    next(stream)
    stream.close()
    assert len(recorded.spans) == 1
    list(stream)  # whatever was already buffered, then the end: the span is not touched again
    stream.close()
    assert len(recorded.spans) == 1


def test_stream_never_consumed_ends_when_collected(recorded: Recorded, client: Any) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
    assert recorded.spans == ()
    del stream
    gc.collect()
    span = recorded.one()
    assert span.status.status_code is StatusCode.UNSET
    assert sc.GEN_AI_OUTPUT_MESSAGES not in attributes_of(span)


@pytest.mark.parametrize("disconnect", [False, True], ids=["error-event", "dropped-connection"])
def test_error_in_the_middle_of_a_stream_is_recorded_and_reraised(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI, disconnect: bool
) -> None:
    fake_openai.script.push(StreamError(after_chunks=3, disconnect=disconnect, reply=ChatReply(content="a b c d e f")))
    stream = client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
    received = []
    with pytest.raises((openai.APIError, httpx.HTTPError)) as raised:
        for chunk in stream:
            received.append(chunk)
    assert len(received) >= 1
    span = recorded.one()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)[sc.ERROR_TYPE] == f"{type(raised.value).__module__}.{type(raised.value).__qualname__}"
    assert [event.name for event in span.events] == ["exception"]
    partial = json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"]
    assert partial == ([text_part(stream_text(received))] if stream_text(received) else [])


def test_stream_helper_goes_through_create(recorded: Recorded, client: Any) -> None:
    with client.chat.completions.stream(model=MODEL, messages=[USER]) as stream:
        final = stream.get_final_completion()
    span = recorded.one()
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text_part(final.choices[0].message.content)]


# -- structured outputs ------------------------------------------------------------------------------------------


class Answer(BaseModel):
    answer: str
    confidence: float


def test_parse_with_a_pydantic_model_records_its_json_schema(recorded: Recorded, client: Any) -> None:
    reply = client.chat.completions.parse(model=MODEL, messages=[USER], response_format=Answer, temperature=0)
    assert isinstance(reply.choices[0].message.parsed, Answer)
    span = recorded.one()
    response_format = json_attribute(span, sc.SPANLAB_REQUEST_RESPONSE_FORMAT)
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Answer"
    assert response_format["json_schema"]["strict"] is True
    assert set(response_format["json_schema"]["schema"]["properties"]) == {"answer", "confidence"}
    assert attributes_of(span)[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert json_attribute(span, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS) == {"temperature": 0}
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text_part(reply.choices[0].message.content)]


def test_json_schema_response_format_dict_is_recorded_as_sent(recorded: Recorded, client: Any) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": {"type": "object", "properties": {"reply": {"type": "string"}}}},
    }
    client.chat.completions.create(model=MODEL, messages=[USER], response_format=response_format)
    assert json_attribute(recorded.one(), sc.SPANLAB_REQUEST_RESPONSE_FORMAT) == response_format


# -- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 429, 500])
def test_api_errors_are_recorded_and_reraised_unchanged(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI, status: int
) -> None:
    fake_openai.script.push(ErrorReply(status=status, message="nope", retry_after=0.01))
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model=MODEL, messages=[USER])
    expected_type = {400: openai.BadRequestError, 429: openai.RateLimitError, 500: openai.InternalServerError}[status]
    assert type(raised.value) is expected_type and raised.value.status_code == status
    assert raised.value.body == {"message": "nope", "type": raised.value.type, "param": None, "code": raised.value.code}
    span = recorded.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == str(raised.value)
    attributes = attributes_of(span)
    assert attributes[sc.HTTP_RESPONSE_STATUS_CODE] == status
    assert attributes[sc.ERROR_TYPE] == f"openai.{type(raised.value).__name__}"
    [event] = span.events
    assert event.name == "exception" and dict(event.attributes or {})["exception.message"] == str(raised.value)
    assert sc.GEN_AI_OUTPUT_MESSAGES not in attributes
    assert json_attribute(span, sc.GEN_AI_INPUT_MESSAGES)  # the request is still there, for replay


def test_timeout_is_recorded_and_reraised(recorded: Recorded, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.set_latency(2.0)
    with (
        openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0, timeout=0.2) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.chat.completions.create(model=MODEL, messages=[USER])
    span = recorded.one()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)[sc.ERROR_TYPE] == "openai.APITimeoutError"


# -- async ---------------------------------------------------------------------------------------------------------


def test_async_plain_stream_and_error(recorded: Recorded, fake_openai: FakeOpenAI) -> None:
    async def main() -> tuple[str, str]:
        async with async_client(fake_openai) as client:
            reply = await client.chat.completions.create(model=MODEL, messages=[USER])
            stream = await client.chat.completions.create(
                model=MODEL, messages=[USER], stream=True, stream_options={"include_usage": True}
            )
            assert isinstance(stream, openai.AsyncStream)
            streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            async with await client.chat.completions.create(model=MODEL, messages=[USER], stream=True) as early:
                await early.__anext__()
            fake_openai.script.push(ErrorReply(status=503))
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(model=MODEL, messages=[USER])
            return reply.choices[0].message.content or "", streamed

    plain, streamed = asyncio.run(main())
    first, second, third, fourth = recorded.spans
    assert json_attribute(first, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text_part(plain)]
    assert json_attribute(second, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text_part(streamed)]
    assert attributes_of(second)[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert third.status.status_code is StatusCode.UNSET
    assert fourth.status.status_code is StatusCode.ERROR


def test_async_parse_and_stream_helper(recorded: Recorded, fake_openai: FakeOpenAI) -> None:
    async def main() -> None:
        async with async_client(fake_openai) as client:
            parsed = await client.chat.completions.parse(model=MODEL, messages=[USER], response_format=Answer)
            assert isinstance(parsed.choices[0].message.parsed, Answer)
            async with client.chat.completions.stream(model=MODEL, messages=[USER]) as stream:
                await stream.get_final_completion()

    asyncio.run(main())
    parsed_span, streamed_span = recorded.spans
    assert json_attribute(parsed_span, sc.SPANLAB_REQUEST_RESPONSE_FORMAT)["json_schema"]["name"] == "Answer"
    assert json_attribute(streamed_span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["finish_reason"] == "stop"


# -- lifecycle -----------------------------------------------------------------------------------------------------


def test_uninstrument_restores_the_original_methods(fake_openai: FakeOpenAI) -> None:
    originals = (Completions.create, Completions.parse, AsyncCompletions.create, AsyncCompletions.parse)
    run = Recorded()
    run.instrument()
    assert Completions.create is not originals[0]
    run.instrumentor.uninstrument()
    assert (Completions.create, Completions.parse, AsyncCompletions.create, AsyncCompletions.parse) == originals
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client:
        client.chat.completions.create(model=MODEL, messages=[USER])
    assert run.spans == ()


def test_suppressed_instrumentation_makes_no_span(recorded: Recorded, client: Any) -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        client.chat.completions.create(model=MODEL, messages=[USER])
    assert recorded.spans == ()


def test_raw_response_calls_are_traced_without_reading_the_body(recorded: Recorded, client: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[USER])
    assert raw.parse().choices[0].message.content
    span = recorded.one()
    assert json_attribute(span, sc.GEN_AI_INPUT_MESSAGES)
    assert sc.GEN_AI_OUTPUT_MESSAGES not in attributes_of(span)
