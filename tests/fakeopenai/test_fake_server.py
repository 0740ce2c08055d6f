"""The fake model provider, driven by the real `openai` client (sync and async) and raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, StreamError, ToolCall, Usage

QUESTION = "What is the weather in Paris?"
MESSAGES: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
RESPONSES_WEATHER_TOOL: Any = {"type": "function", "name": "get_weather", **WEATHER_TOOL["function"]}
FUTURE_TIMEOUT = 30.0


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
def http(fake_openai: FakeOpenAI) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_openai.base_url, timeout=10) as c:
        yield c


def sse_data(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


# --- chat completions, not streamed -------------------------------------------------------------


def test_default_reply_echoes_the_last_user_message(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    choice = completion.choices[0]
    assert choice.message.content == f"fake reply to: {QUESTION}"
    assert (choice.index, choice.finish_reason, choice.message.role) == (0, "stop", "assistant")
    assert completion.model == "gpt-4o-mini"
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.system_fingerprint
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (8, 9)
    assert completion.usage.total_tokens == 17
    [recorded] = fake_openai.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["authorization"] == "Bearer sk-test"
    assert recorded.body["messages"] == MESSAGES


def test_scripted_reply_overrides_text_usage_and_finish_reason(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(content="Sunny.", usage=Usage(100, 7), finish_reason="length"))

    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert completion.choices[0].message.content == "Sunny."
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (100, 7)
    assert fake_openai.script.pending == 0


def test_tool_calls_get_arguments_from_the_declared_schema(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(tool_calls=[ToolCall("get_weather"), ToolCall("lookup", {"q": "x"}, "call_1")]))

    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL])

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    first, second = choice.message.tool_calls or []
    assert first.type == "function" and first.id.startswith("call_")
    assert second.type == "function"
    assert (first.function.name, json.loads(first.function.arguments)) == (
        "get_weather",
        {"city": "fake", "days": 1},
    )
    assert (second.id, second.function.name, json.loads(second.function.arguments)) == (
        "call_1",
        "lookup",
        {"q": "x"},
    )


def test_n_choices_are_indexed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=3)

    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert {c.message.content for c in completion.choices} == {f"fake reply to: {QUESTION}"}
    assert completion.usage is not None and completion.usage.completion_tokens == 27


def test_max_tokens_cut_the_text_with_finish_reason_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_completion_tokens=3)

    assert completion.choices[0].message.content == "fake reply to: "
    assert completion.choices[0].finish_reason == "length"


class Forecast(BaseModel):
    city: str
    temperature: float
    tags: list[str]


def test_structured_output_defaults_to_a_schema_instance_and_can_be_scripted(
    client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Forecast)
    assert parsed.choices[0].message.parsed == Forecast(city="fake", temperature=0.0, tags=[])

    fake_openai.script.push(ChatReply(content='{"city": "Paris", "temperature": 21.5, "tags": ["sun"]}'))
    parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Forecast)
    assert parsed.choices[0].message.parsed == Forecast(city="Paris", temperature=21.5, tags=["sun"])
    assert fake_openai.requests[-1].body["response_format"]["type"] == "json_schema"


# --- chat completions, streamed -----------------------------------------------------------------


def test_stream_sends_the_role_first_then_several_content_chunks(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    deltas = [chunk.choices[0].delta for chunk in chunks]
    assert deltas[0].role == "assistant" and not deltas[0].content
    contents = [d.content for d in deltas[1:-1]]
    assert len(contents) >= 3
    assert "".join(c or "" for c in contents) == f"fake reply to: {QUESTION}"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-4o-mini" for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_stream_with_include_usage_ends_with_a_usage_chunk(http: httpx.Client) -> None:
    request = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    reply = http.post("/chat/completions", json=request)

    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.text.endswith("data: [DONE]\n\n")
    *chunks, done = sse_data(reply.text)
    assert done == "[DONE]"
    *content_chunks, usage_chunk = [json.loads(c) for c in chunks]
    assert all("usage" in c and c["usage"] is None for c in content_chunks)
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] == 17
    assert content_chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}


def test_stream_tool_calls_as_indexed_deltas(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(tool_calls=[ToolCall("get_weather"), ToolCall("get_weather", {"city": "Oslo"})]))

    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True))

    calls = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or []]
    headers = [c for c in calls if c.id is not None]
    assert [(c.index, c.type, c.function and c.function.name) for c in headers] == [
        (0, "function", "get_weather"),
        (1, "function", "get_weather"),
    ]
    assert all(c.function and c.function.arguments == "" for c in headers)
    fragments = [c for c in calls if c.id is None]
    assert all(c.function and c.function.name is None for c in fragments)
    arguments = ["".join(c.function.arguments or "" for c in fragments if c.function and c.index == k) for k in (0, 1)]
    assert [json.loads(a) for a in arguments] == [{"city": "fake", "days": 1}, {"city": "Oslo"}]
    assert sum(1 for c in fragments if c.index == 0) > 1
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_interleaved_content_and_tool_call_deltas_accumulate(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(
        ChatReply(content="Let me check that.", tool_calls=[ToolCall("get_weather")], interleave=True)
    )

    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL]) as stream:
        kinds = [
            "content" if e.type == "content.delta" else "tool"
            for e in stream
            if e.type in ("content.delta", "tool_calls.function.arguments.delta")
        ]
        final = stream.get_final_completion()

    assert "content" in kinds[kinds.index("tool") :], kinds  # a content delta after tool-call deltas
    message = final.choices[0].message
    assert message.content == "Let me check that."
    [call] = message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "fake", "days": 1}


def test_stream_with_n_choices_carries_each_index(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=2, stream=True))

    for index in (0, 1):
        mine = [c.choices[0] for c in chunks if c.choices[0].index == index]
        assert mine[0].delta.role == "assistant"
        assert "".join(c.delta.content or "" for c in mine) == f"fake reply to: {QUESTION}"
        assert mine[-1].finish_reason == "stop"


# --- errors and latency -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, openai.BadRequestError, "invalid_request_error"),
        (401, openai.AuthenticationError, "invalid_request_error"),
        (404, openai.NotFoundError, "invalid_request_error"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
def test_scripted_errors_carry_openais_error_body(
    client: openai.OpenAI,
    fake_openai: FakeOpenAI,
    status: int,
    error_class: type[openai.APIStatusError],
    error_type: str,
) -> None:
    fake_openai.script.push(ErrorReply(status=status, message="boom", param="messages"))

    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "boom"
    assert caught.value.body["type"] == error_type
    assert caught.value.body["param"] == "messages"
    assert "code" in caught.value.body


def test_rate_limit_sends_retry_after_which_the_client_honours(fake_openai: FakeOpenAI, http: httpx.Client) -> None:
    fake_openai.script.push(ErrorReply(status=429))
    reply = http.post("/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "1"
    assert reply.json()["error"]["code"] == "rate_limit_exceeded"

    fake_openai.script.push(ErrorReply(status=429, retry_after=0.01))
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=1) as retrying:
        completion = retrying.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content == f"fake reply to: {QUESTION}"
    assert len(fake_openai.requests) == 3


def test_stream_error_event_after_some_chunks(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(StreamError(after_chunks=2, message="upstream failed"))
    received = []

    with pytest.raises(openai.APIError, match="upstream failed"):
        for chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            received.append(chunk)

    assert len(received) == 2
    assert received[0].choices[0].delta.role == "assistant"


def test_stream_disconnect_after_some_chunks(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(StreamError(after_chunks=3, disconnect=True))
    received = []

    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            received.append(chunk)

    assert len(received) == 3


def test_stream_error_on_a_non_streamed_request_is_a_500(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(StreamError(message="broken"))

    with pytest.raises(openai.InternalServerError, match="broken"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_latency_makes_a_short_client_timeout_expire(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.set_latency(1.0)
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0, timeout=0.1) as impatient:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            impatient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert time.monotonic() - started < 0.9


def test_latency_delays_the_reply_and_stream_events(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.set_latency(0.1, between_chunks=0.02)
    started = time.monotonic()
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert time.monotonic() - started >= 0.1 + 0.02 * len(chunks)


# --- content rules and markers ------------------------------------------------------------------


def test_markers_in_the_user_message_script_the_reply(client: openai.OpenAI) -> None:
    def ask(text: str, **extra: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], **extra)

    with pytest.raises(openai.InternalServerError) as caught:
        ask("hi [[error:503]]")
    assert caught.value.status_code == 503

    [call] = ask("hi [[tool:get_weather]]", tools=[WEATHER_TOOL]).choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"city": "fake", "days": 1}

    received = []
    with pytest.raises(openai.APIError):
        for chunk in ask("one two three [[stream_error:1]]", stream=True):
            received.append(chunk)
    assert len(received) == 1

    started = time.monotonic()
    assert ask("slow [[latency:0.1]]").choices[0].message.content == "fake reply to: slow [[latency:0.1]]"
    assert time.monotonic() - started >= 0.1


def test_disconnect_markers_reach_embeddings_and_malformed_markers_are_ignored(client: openai.OpenAI) -> None:
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "a b c [[disconnect:2]]"}], stream=True
        ):
            received.append(chunk)
    assert len(received) == 2

    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="text-embedding-3-small", input="x [[error:429]]")

    text = "[[error:abc]] [[tool:]] [[nonsense:1]]"
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
    assert reply.choices[0].message.content == f"fake reply to: {text}"


def test_rules_answer_every_matching_request_after_the_queue(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.add_rule("Paris", ChatReply(content="Always sunny in Paris."))
    fake_openai.script.push(ChatReply(content="queued first"))

    replies = [
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content for _ in range(3)
    ]
    other = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Rome?"}])

    assert replies == ["queued first", "Always sunny in Paris.", "Always sunny in Paris."]
    assert other.choices[0].message.content == "fake reply to: Rome?"


# --- Responses API ------------------------------------------------------------------------------


def test_responses_plain(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    response = client.responses.create(model="gpt-4o-mini", input=QUESTION, instructions="Be brief.")

    assert response.id.startswith("resp_")
    assert (response.status, response.model) == ("completed", "gpt-4o-mini")
    assert response.output_text == f"fake reply to: {QUESTION}"
    assert response.instructions == "Be brief."
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (8, 9)
    assert fake_openai.requests[0].path == "/v1/responses"


def test_responses_stream_sends_typed_events(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": QUESTION}], stream=True)
    )

    types = [e.type for e in events]
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-5:] == [
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == f"fake reply to: {QUESTION}"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == f"fake reply to: {QUESTION}"
    assert completed.response.id == events[0].response.id  # type: ignore[union-attr]


def test_responses_stream_helper_accumulates_a_tool_call(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(content="Checking.", tool_calls=[ToolCall("get_weather")]))

    with client.responses.stream(model="gpt-4o", input=QUESTION, tools=[RESPONSES_WEATHER_TOOL]) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()

    assert "response.function_call_arguments.delta" in types
    message, call = final.output
    assert message.type == "message" and final.output_text == "Checking."
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "fake", "days": 1}


def test_responses_stream_error_event_and_truncation(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(StreamError(after_chunks=3, message="overloaded"))
    events = list(client.responses.create(model="gpt-4o", input=QUESTION, stream=True))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "error",
    ]
    assert events[-1].message == "overloaded"  # type: ignore[union-attr]

    response = client.responses.create(model="gpt-4o", input=QUESTION, max_output_tokens=2)
    assert (response.status, response.output_text) == ("incomplete", "fake reply ")
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


# --- embeddings, models, plain HTTP -------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(client: openai.OpenAI) -> None:
    texts = ["the cat sat on the mat", "the cat sat on the mat", "a cat on a mat", "quarterly tax report"]
    result = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")

    vectors = [d.embedding for d in result.data]
    assert [d.index for d in result.data] == [0, 1, 2, 3]
    assert all(len(v) == 1536 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0) for v in vectors)
    assert vectors[0] == vectors[1]

    def cosine(a: list[float], b: list[float]) -> float:
        return math.fsum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[2]) > cosine(vectors[0], vectors[3])
    assert result.usage.prompt_tokens == 6 + 6 + 5 + 3
    small = client.embeddings.create(model="text-embedding-3-large", input="x", dimensions=64)
    assert len(small.data[0].embedding) == 64


def test_embeddings_in_base64_are_little_endian_float32(http: httpx.Client, client: openai.OpenAI) -> None:
    request = {"model": "text-embedding-3-small", "input": "hello world", "dimensions": 16}
    floats = http.post("/embeddings", json={**request, "encoding_format": "float"}).json()["data"][0]["embedding"]
    encoded = http.post("/embeddings", json={**request, "encoding_format": "base64"}).json()["data"][0]["embedding"]

    decoded = struct.unpack("<16f", base64.b64decode(encoded))
    assert decoded == pytest.approx(floats, rel=1e-6)
    via_client = client.embeddings.create(model="text-embedding-3-small", input="hello world", dimensions=16)
    assert via_client.data[0].embedding == pytest.approx(floats, rel=1e-6)


def test_embeddings_take_queued_errors_but_leave_chat_replies(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(content="for chat"), ErrorReply(status=500))

    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    client.embeddings.create(model="text-embedding-3-small", input="x")

    assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "for chat"


def test_models_are_listed_and_retrieved(client: openai.OpenAI) -> None:
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]
    assert client.models.retrieve("ft:gpt-4o-mini:acme").id == "ft:gpt-4o-mini:acme"


def test_bad_requests_get_openai_error_bodies(http: httpx.Client) -> None:
    unknown = http.post("/nope", json={})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "Invalid URL (POST /v1/nope)"

    not_json = http.post("/chat/completions", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"

    missing = http.post("/chat/completions", json={"model": "gpt-4o"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "messages"
    assert missing.headers["x-request-id"].startswith("req_")


# --- concurrency --------------------------------------------------------------------------------


def test_async_client_streams_and_runs_concurrently(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.set_latency(0.05)

    async def scenario() -> tuple[str, list[str]]:
        async with openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as aclient:
            stream = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            streamed = "".join([c.choices[0].delta.content or "" async for c in stream])

            async def ask(i: int) -> str:
                completion = await aclient.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": f"question {i}"}]
                )
                return completion.choices[0].message.content or ""

            replies = await asyncio.wait_for(asyncio.gather(*(ask(i) for i in range(64))), FUTURE_TIMEOUT)
            return streamed, list(replies)

    streamed, replies = asyncio.run(scenario())

    assert streamed == f"fake reply to: {QUESTION}"
    assert replies == [f"fake reply to: question {i}" for i in range(64)]


def test_threads_share_the_script_and_each_reply_is_used_once(fake_openai: FakeOpenAI) -> None:
    count = 200
    with ThreadPoolExecutor(max_workers=16) as pool:
        for future in [pool.submit(fake_openai.script.push, ChatReply(content=f"r{i}")) for i in range(count)]:
            future.result(timeout=FUTURE_TIMEOUT)
        with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as shared:

            def ask(_: int) -> str:
                return shared.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content or ""

            futures = [pool.submit(ask, i) for i in range(count)]
            replies = [f.result(timeout=FUTURE_TIMEOUT) for f in futures]

    assert sorted(replies) == sorted(f"r{i}" for i in range(count))
    assert fake_openai.script.pending == 0
    assert len(fake_openai.wait_for_requests(count, timeout=FUTURE_TIMEOUT)) == count


# --- lifecycle ----------------------------------------------------------------------------------


def test_a_server_of_its_own_starts_resets_and_closes() -> None:
    fake = FakeOpenAI()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with fake:
        assert fake.base_url.startswith("http://127.0.0.1:") and fake.base_url.endswith("/v1")
        with pytest.raises(TimeoutError):
            fake.wait_for_requests(1, timeout=0.05)
        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting = pool.submit(fake.wait_for_requests, 1, timeout=FUTURE_TIMEOUT)
            httpx.get(fake.base_url + "/models", timeout=10)
            assert [r.path for r in waiting.result(timeout=FUTURE_TIMEOUT)] == ["/v1/models"]
        fake.script.push(ErrorReply())
        fake.script.set_latency(5.0)
        fake.reset()
        assert (fake.requests, fake.script.pending) == ([], 0)
        assert httpx.post(fake.base_url + "/embeddings", json={"model": "m", "input": "x"}, timeout=2).is_success
        assert fake.client_env()["OPENAI_BASE_URL"] == fake.base_url
    fake.close()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
