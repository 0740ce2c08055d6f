"""End to end: ``register()`` + spanlab's openai instrumentor → real OTLP (HTTP and gRPC) → ``spanlab serve``; the
canonical fields are read back through ``GET /api/v1/spans/{id}``.

The strongest check is the replay one: the stored canonical fields alone rebuild a request whose body is the
one the application sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from instrumentation.context import PromptInfo, PromptMessages, using_attributes, using_prompt
from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, ToolCall, Usage
from tests.instrumentation.helpers import traced
from tests.instrumented import stored_span
from tests.server import ServerProcess

MODEL = "gpt-4o-mini"
SYSTEM = {"role": "system", "content": "You classify banking questions."}
TOOL = {
    "type": "function",
    "function": {
        "name": "get_balance",
        "description": "The balance of an account.",
        "parameters": {"type": "object", "properties": {"account": {"type": "string"}}, "required": ["account"]},
        "strict": True,
    },
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "intent",
        "schema": {"type": "object", "properties": {"intent": {"type": "string"}}, "required": ["intent"]},
        "strict": True,
    },
}
TEMPLATE = [SYSTEM, {"role": "user", "content": "{{question}}"}]
ARGUMENTS = '{"account": "savings"}'


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as sync_client:
        yield sync_client


def replay_body(client: Any, fake: FakeOpenAI, span: dict[str, Any]) -> dict[str, Any]:
    """Send the request rebuilt from the canonical fields only; return the body the provider received."""
    extra: dict[str, Any] = dict(span["invocation_parameters"] or {})
    if span["tools"] is not None:
        extra["tools"] = span["tools"]
    if span["response_format"] is not None:
        extra["response_format"] = span["response_format"]
    with openai.OpenAI(base_url=span["base_url"], api_key="sk-test", max_retries=0) as replayer:
        replayer.chat.completions.create(model=span["model"], messages=span["input_messages"], extra_body=extra)
    return fake.requests[-1].body


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_chat_call_is_stored_replayable_with_prompt_and_request_context(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, client: Any, protocol: str
) -> None:
    question = "How much is in my savings account?"
    messages = [SYSTEM, {"role": "user", "content": question}]
    fake_openai.script.push(ChatReply(content='{"intent": "balance"}', usage=Usage(40, 6)))
    with (
        traced(spanlab_server, protocol) as project,
        using_attributes(session_id="sess-1", user_id="user-7", metadata={"channel": "app"}, tags=["beta"]),
        using_prompt("intent-classifier", version=3, template=TEMPLATE, variables={"question": question}),
    ):
        client.chat.completions.create(
            model=MODEL,
            messages=messages,
            tools=[TOOL],
            tool_choice="none",
            response_format=RESPONSE_FORMAT,
            temperature=0.0,
            top_p=0.5,
            max_completion_tokens=30,
            seed=11,
            stop=["END"],
            extra_body={"top_k": 5},
        )
    original = fake_openai.requests[-1].body

    span = stored_span(spanlab_server, project)
    expected = {
        "kind": "LLM",
        "otel_kind": "CLIENT",
        "status_code": "UNSET",
        "source_convention": "otel_genai",
        "provider": "openai",
        "model": MODEL,
        "input_messages": messages,
        "output_messages": [{"role": "assistant", "content": '{"intent": "balance"}', "finish_reason": "stop"}],
        "invocation_parameters": {
            "tool_choice": "none",
            "temperature": 0.0,
            "top_p": 0.5,
            "max_completion_tokens": 30,
            "seed": 11,
            "stop": ["END"],
            "top_k": 5,
        },
        "tools": [TOOL],
        "response_format": RESPONSE_FORMAT,
        "base_url": fake_openai.base_url.rstrip("/"),
        "prompt_name": "intent-classifier",
        "prompt_version": "3",
        "prompt_template": json.dumps(TEMPLATE, separators=(",", ":")),
        "prompt_variables": {"question": question},
        "session_id": "sess-1",
        "user_id": "user-7",
        "metadata": {"channel": "app", "tags": ["beta"]},
        "input_tokens": 40,
        "output_tokens": 6,
        "total_tokens": 46,
        "input_value": question,
    }
    assert {key: span.get(key) for key in expected} == expected
    assert span["cost"] == pytest.approx((40 * 0.15 + 6 * 0.60) / 1_000_000)
    assert replay_body(client, fake_openai, span) == original


def test_streamed_tool_call_over_grpc(spanlab_server: ServerProcess, fake_openai: FakeOpenAI, client: Any) -> None:
    fake_openai.script.push(
        ChatReply(
            content="Checking.",
            tool_calls=[ToolCall("get_balance", ARGUMENTS, id="call_b")],
            usage=Usage(25, 9),
            interleave=True,
        )
    )
    with traced(spanlab_server, "grpc") as project:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "balance?"}],
                tools=[TOOL],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[-1].usage is not None
    span = stored_span(spanlab_server, project)
    call = {"id": "call_b", "type": "function", "function": {"name": "get_balance", "arguments": ARGUMENTS}}
    assert span["output_messages"] == [
        {"role": "assistant", "content": "Checking.", "tool_calls": [call], "finish_reason": "tool_calls"}
    ]
    assert span["invocation_parameters"] == {"stream": True, "stream_options": {"include_usage": True}}
    assert (span["input_tokens"], span["output_tokens"]) == (25, 9)
    assert span["attributes"]["gen_ai.response.time_to_first_chunk"] > 0


def test_follow_up_with_tool_result_and_images_round_trips(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, client: Any
) -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Is this my card? What is my balance?"},
                {"type": "image_url", "image_url": {"url": "https://llm-gateway.internal/card.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_b", "type": "function", "function": {"name": "get_balance", "arguments": ARGUMENTS}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_b", "content": "1,204.50 EUR"},
    ]
    with traced(spanlab_server, "http/protobuf") as project:
        client.chat.completions.create(model=MODEL, messages=messages, tools=[TOOL])
    original = fake_openai.requests[-1].body
    span = stored_span(spanlab_server, project)
    assert span["input_messages"] == messages
    assert replay_body(client, fake_openai, span) == original


def test_api_error_is_stored_with_the_request(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, client: Any
) -> None:
    fake_openai.script.push(ErrorReply(status=429, message="Slow down.", retry_after=0.01))
    with traced(spanlab_server, "http/protobuf") as project, pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], temperature=1)
    span = stored_span(spanlab_server, project)
    assert span["status_code"] == "ERROR"
    assert span["status_message"] == str(raised.value)
    assert span["input_messages"] == [{"role": "user", "content": "hi"}]
    assert span["invocation_parameters"] == {"temperature": 1}
    assert span["output_messages"] is None and span["cost"] is None
    assert span["attributes"]["error.type"] == "openai.RateLimitError"
    assert span["attributes"]["http.response.status_code"] == 429
    assert [event["name"] for event in span["events"]] == ["exception"]


class Intent(BaseModel):
    intent: str


def test_parse_responses_and_embeddings(spanlab_server: ServerProcess, client: Any) -> None:
    with traced(spanlab_server, "http/protobuf") as project:
        messages = PromptMessages(
            [{"role": "user", "content": "card lost"}],
            prompt=PromptInfo("hub-intent", "5", TEMPLATE, {"q": "card lost"}),
        )
        client.chat.completions.parse(model=MODEL, messages=messages, response_format=Intent)
    parsed = stored_span(spanlab_server, project)
    assert parsed["response_format"]["json_schema"]["name"] == "Intent"
    assert parsed["response_format"]["json_schema"]["schema"]["required"] == ["intent"]
    assert (parsed["prompt_name"], parsed["prompt_version"], parsed["prompt_variables"]) == (
        "hub-intent",
        "5",
        {"q": "card lost"},
    )

    with traced(spanlab_server, "grpc") as project:
        client.responses.create(model=MODEL, instructions="Be brief.", input="card lost", max_output_tokens=40)
    response = stored_span(spanlab_server, project)
    assert response["input_messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "card lost"},
    ]
    assert response["output_messages"] == [
        {"role": "assistant", "content": "fake reply to: card lost", "finish_reason": "stop"}
    ]
    assert response["invocation_parameters"] == {"max_output_tokens": 40}

    with traced(spanlab_server, "http/protobuf") as project:
        client.embeddings.create(model="text-embedding-3-small", input="card lost")
    embedding = stored_span(spanlab_server, project)
    assert (embedding["kind"], embedding["model"], embedding["input_tokens"]) == (
        "EMBEDDING",
        "text-embedding-3-small",
        2,
    )
