"""spanlab's openai instrumentor on ``responses`` and ``embeddings``: the real client against the fake provider."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from openai.resources.embeddings import Embeddings
from openai.resources.responses import AsyncResponses, Responses
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from instrumentation import semconv as sc
from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, ToolCall, Usage
from tests.instrumentation.helpers import Recorded, async_client, attributes_of, json_attribute

MODEL = "gpt-4o-mini"
TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


def text_part(text: str) -> dict[str, str]:
    return {"type": "text", "content": text}


def test_responses_plain_with_instructions_and_parameters(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script.push(ChatReply(content="Bonjour.", usage=Usage(11, 2)))
    response = client.responses.create(
        model=MODEL,
        instructions="Answer in French.",
        input="Say hello.",
        temperature=0.3,
        max_output_tokens=64,
        text={"verbosity": "low"},
    )
    assert response.output_text == "Bonjour."
    span = recorded.one()
    attributes = attributes_of(span)
    assert span.name == f"chat {MODEL}"
    assert attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64 and attributes[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert attributes[sc.GEN_AI_RESPONSE_ID] == response.id
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11 and attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert json_attribute(span, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS) == {
        "temperature": 0.3,
        "max_output_tokens": 64,
        "text": {"verbosity": "low"},
    }
    assert json_attribute(span, sc.GEN_AI_SYSTEM_INSTRUCTIONS) == [text_part("Answer in French.")]
    assert json_attribute(span, sc.GEN_AI_INPUT_MESSAGES) == [{"role": "user", "parts": [text_part("Say hello.")]}]
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [text_part("Bonjour.")], "finish_reason": "stop"}
    ]


def test_responses_items_tools_and_function_calls(recorded: Recorded, client: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(tool_calls=[ToolCall("get_weather", '{"city": "Oslo"}', id="call_9")]))
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris, then Oslo?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "18°C"},
    ]
    client.responses.create(model=MODEL, input=items, tools=[TOOL], tool_choice="auto")
    span = recorded.one()
    assert json_attribute(span, sc.GEN_AI_TOOL_DEFINITIONS) == [TOOL]
    assert json_attribute(span, sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [text_part("Weather in Paris, then Oslo?")]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C"}]},
    ]
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_9", "name": "get_weather", "arguments": '{"city": "Oslo"}'}],
            "finish_reason": "tool_call",
        }
    ]


class Verdict(BaseModel):
    intent: str


def test_responses_structured_output_in_the_chat_shape(recorded: Recorded, client: Any) -> None:
    schema = {"type": "object", "properties": {"intent": {"type": "string"}}, "required": ["intent"]}
    client.responses.create(
        model=MODEL, input="lost card", text={"format": {"type": "json_schema", "name": "verdict", "schema": schema}}
    )
    parsed = client.responses.parse(model=MODEL, input="lost card", text_format=Verdict)
    assert isinstance(parsed.output_parsed, Verdict)
    created, parsed_span = recorded.spans
    assert json_attribute(created, sc.SPANLAB_REQUEST_RESPONSE_FORMAT) == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": schema},
    }
    assert sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS not in attributes_of(created)  # text held only the format
    converted = json_attribute(parsed_span, sc.SPANLAB_REQUEST_RESPONSE_FORMAT)
    assert converted["type"] == "json_schema" and converted["json_schema"]["name"] == "Verdict"
    assert converted["json_schema"]["strict"] is True
    assert attributes_of(parsed_span)[sc.GEN_AI_OUTPUT_TYPE] == "json"


def test_responses_stream_and_length_cut(recorded: Recorded, client: Any) -> None:
    stream = client.responses.create(model=MODEL, input="one two three four five", stream=True)
    events = list(stream)
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    client.responses.create(model=MODEL, input="a b c d e f g h", max_output_tokens=16)
    streamed, cut = recorded.spans
    attributes = attributes_of(streamed)
    assert attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert attributes[sc.GEN_AI_RESPONSE_ID] == events[-1].response.id
    assert json_attribute(streamed, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [text_part(text)], "finish_reason": "stop"}
    ]
    assert attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert cut.status.status_code is StatusCode.UNSET


def test_responses_stream_closed_early_keeps_what_arrived(
    recorded: Recorded, client: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script.set_latency(0, between_chunks=0.2)  # events arrive one by one
    with client.responses.create(model=MODEL, input="one two three four five six", stream=True) as stream:
        seen = []
        for event in stream:
            seen.append(event)
            if event.type == "response.output_text.delta":
                break
    span = recorded.one()
    assert attributes_of(span)[sc.GEN_AI_RESPONSE_ID] == seen[0].response.id
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [text_part(seen[-1].delta)]}
    ]


def test_responses_async_and_error(recorded: Recorded, fake_openai: FakeOpenAI) -> None:
    async def main() -> str:
        async with async_client(fake_openai) as client:
            stream = await client.responses.create(model=MODEL, input="hi there", stream=True)
            text = "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])
            fake_openai.script.push(ErrorReply(status=400, message="bad input"))
            with pytest.raises(openai.BadRequestError):
                await client.responses.create(model=MODEL, input="x")
            return text

    text = asyncio.run(main())
    streamed, failed = recorded.spans
    assert json_attribute(streamed, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text_part(text)]
    assert failed.status.status_code is StatusCode.ERROR


def test_embeddings(recorded: Recorded, client: Any, fake_openai: FakeOpenAI) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b c"], dimensions=64, encoding_format="float", user="u1"
    )
    assert len(result.data) == 2
    span = recorded.one()
    attributes = attributes_of(span)
    assert span.name == "embeddings text-embedding-3-small"
    assert attributes[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)
    assert attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 64
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert json_attribute(span, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS) == {
        "dimensions": 64,
        "encoding_format": "float",
        "user": "u1",
    }
    assert sc.GEN_AI_INPUT_MESSAGES not in attributes
    fake_openai.script.push(ErrorReply(status=500))
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert recorded.spans[-1].status.status_code is StatusCode.ERROR


def test_uninstrument_restores_responses_and_embeddings() -> None:
    originals = (Responses.create, Responses.parse, AsyncResponses.create, Embeddings.create)
    run = Recorded()
    run.instrument()
    assert Responses.create is not originals[0]
    run.instrumentor.uninstrument()
    assert (Responses.create, Responses.parse, AsyncResponses.create, Embeddings.create) == originals


def test_responses_stream_helper_makes_one_span_with_the_final_text(recorded: Recorded, client: Any) -> None:
    with client.responses.stream(model=MODEL, input="one two three") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    span = recorded.one()
    assert final.output_text == "".join(deltas)
    assert json_attribute(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [text_part(final.output_text)], "finish_reason": "stop"}
    ]
    assert attributes_of(span)[sc.GEN_AI_RESPONSE_ID] == final.id
