"""End to end: the real ``openai`` client under the real instrumentations → real OTLP → ``spanlab serve``.

Each test calls the fake provider through an instrumented client (``tests/instrumented.py``), exports over
OTLP/HTTP or OTLP/gRPC, and checks the canonical fields the server stored, through ``GET /api/v1/spans/{id}``
and ``POST /api/v1/sql``. Expected values are what the instrumentation really recorded (the comments say
where an instrumentation leaves something out), normalized as DESIGN.md's canonical LLM span.

``otel_genai`` runs in three shapes (:data:`GENAI_MODES`): content in span attributes (``span_only``), in one
``gen_ai.client.inference.operation.details`` log record (``event_only``), and the legacy per-message log
events (``legacy_events``: ``gen_ai.user.message``, ``gen_ai.choice``…), the last two joined to their span by
the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import openai
import pytest
from openai.resources.chat.completions import Completions
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
)

from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, ToolCall, Usage
from tests.instrumented import Instrumentation, Instrumented, Transport, instrumented, new_project, stored_span
from tests.server import ServerProcess

MODEL = "gpt-4o-mini"
SYSTEM: ChatCompletionSystemMessageParam = {"role": "system", "content": "You are a terse assistant."}
USER: ChatCompletionUserMessageParam = {"role": "user", "content": "Say hi in five words."}
REPLY = "Hi there, how are you?"
WEATHER_QUESTION: ChatCompletionUserMessageParam = {"role": "user", "content": "What's the weather in Paris?"}
WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALL_ID = "call_weather_1"
WEATHER_ARGUMENTS = '{"city": "Paris"}'  # as OpenAI sends them, with a space
COMPACT_ARGUMENTS = '{"city":"Paris"}'  # after an instrumentation parsed them and spanlab serialized them again
ASSISTANT_CALL: ChatCompletionAssistantMessageParam = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": WEATHER_ARGUMENTS}}
    ],
}
TOOL_RESULT: ChatCompletionToolMessageParam = {"role": "tool", "tool_call_id": CALL_ID, "content": "18°C and sunny"}
WEATHER_REPLY = "It is 18°C and sunny in Paris."
IMAGE_URL = "https://example.com/cat.png"
IMAGE_QUESTION: ChatCompletionUserMessageParam = {
    "role": "user",
    "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "low"}},
    ],
}

CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
GENAI_MODES = ("span_only", "event_only", "legacy_events")
DETAILS_EVENT = "gen_ai.client.inference.operation.details"


@pytest.fixture(autouse=True)
def no_leaked_patches() -> Iterator[None]:
    """Every instrumentation a test installs is gone when it ends."""
    request, create = openai.OpenAI.request, Completions.create
    yield
    assert openai.OpenAI.request is request, "OpenAI.request is still patched"
    assert Completions.create is create, "Completions.create is still patched"


def cost(input_tokens: int, output_tokens: int) -> float:
    """gpt-4o-mini list price, as the pricing table has it (0.15 / 0.60 USD per 1M tokens)."""
    return (input_tokens * 0.15 + output_tokens * 0.60) / 1_000_000


def weather_call(arguments: str) -> dict[str, Any]:
    return {"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def subset(span: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``expected`` taken from ``span``, so one ``==`` shows every difference at once."""
    return {key: span.get(key) for key in expected}


def assert_fields(span: dict[str, Any], **expected: Any) -> None:
    assert subset(span, expected) == expected


def ask_weather(client: openai.OpenAI, *, stream: bool) -> tuple[list[str], str | None]:
    """Ask the weather question with the weather tool; return (tool call ids, finish reason) as the caller saw
    them. Streamed, the fake sends the arguments in 8-character fragments the instrumentation must assemble."""
    if not stream:
        reply = client.chat.completions.create(
            model=MODEL, messages=[WEATHER_QUESTION], tools=[WEATHER_TOOL], tool_choice="auto"
        )
        return [call.id for call in reply.choices[0].message.tool_calls or ()], reply.choices[0].finish_reason
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[WEATHER_QUESTION],
            tools=[WEATHER_TOOL],
            tool_choice="auto",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    choices = [chunk.choices[0] for chunk in chunks if chunk.choices]
    ids = [call.id for choice in choices for call in choice.delta.tool_calls or () if call.id]
    return ids, choices[-1].finish_reason


def found_by_tool_name(server: ServerProcess, project: str) -> int:
    """How many spans of ``project`` the free-text search ``q=get_weather`` finds (tool calls are searchable)."""
    return len(server.get("/api/v1/spans", project=project, q="get_weather")["data"])


def log_names(span: dict[str, Any]) -> list[str | None]:
    return [log["event_name"] for log in span["logs"]]


# -- OpenInference ------------------------------------------------------------------------------------------


@pytest.fixture
def openinference_http(spanlab_server: ServerProcess, fake_openai: FakeOpenAI) -> Iterator[Instrumented]:
    with instrumented(spanlab_server, fake_openai.base_url, instrumentation="openinference", transport="http") as run:
        yield run


@pytest.fixture
def openinference_grpc(spanlab_server: ServerProcess, fake_openai: FakeOpenAI) -> Iterator[Instrumented]:
    with instrumented(spanlab_server, fake_openai.base_url, instrumentation="openinference", transport="grpc") as run:
        yield run


def test_openinference_chat_over_http_in_the_openinference_project(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI
) -> None:
    service, project = new_project("service"), new_project("oi-project")
    resource = {"service.name": service, "openinference.project.name": project}
    fake_openai.script.push(ChatReply(content=REPLY, usage=Usage(12, 7)))
    with instrumented(
        spanlab_server, fake_openai.base_url, instrumentation="openinference", transport="http", resource=resource
    ) as run:
        reply = run.client.chat.completions.create(
            model=MODEL, messages=[SYSTEM, USER], temperature=0.2, max_tokens=50, seed=7
        )
        run.flush()
    assert reply.choices[0].message.content == REPLY
    assert run.project == project

    span = stored_span(spanlab_server, project)
    assert_fields(
        span,
        project=project,
        name="ChatCompletion",
        kind="LLM",
        otel_kind="INTERNAL",
        status_code="OK",
        status_message=None,
        source_convention="openinference",
        provider="openai",  # from llm.system: this release sets no llm.provider
        model=MODEL,
        input_messages=[SYSTEM, USER],
        output_messages=[{"role": "assistant", "content": REPLY, "finish_reason": "stop"}],
        invocation_parameters={"max_tokens": 50, "seed": 7, "temperature": 0.2},
        tools=None,
        response_format=None,
        input_tokens=12,
        output_tokens=7,
        total_tokens=19,
        input_value=USER["content"],
        output_value=REPLY,
        legacy_events=False,
        logs=[],
    )
    assert span["cost"] == pytest.approx(cost(12, 7))
    assert span["resource"]["service.name"] == service
    # openinference.project.name wins over service.name: nothing is filed under the service name.
    assert spanlab_server.get("/api/v1/spans", project=service)["data"] == []
    rows = spanlab_server.sql(
        "SELECT kind, provider, model, status_code, input_tokens, output_tokens, total_tokens, source_convention, "
        "input_messages->>'$[1].content', invocation_parameters->>'$.seed' "
        f"FROM spans WHERE project = '{project}'"
    )
    assert rows == [["LLM", "openai", MODEL, "OK", 12, 7, 19, "openinference", USER["content"], "7"]]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_openinference_tool_call_over_grpc(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, openinference_grpc: Instrumented, stream: bool
) -> None:
    run = openinference_grpc
    fake_openai.script.push(
        ChatReply(tool_calls=[ToolCall("get_weather", WEATHER_ARGUMENTS, id=CALL_ID)], usage=Usage(20, 9))
    )
    assert ask_weather(run.client, stream=stream) == ([CALL_ID], "tool_calls")
    run.flush()
    streaming = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}

    span = stored_span(spanlab_server, run.project)
    assert_fields(
        {**span, "found_by_tool_name": found_by_tool_name(spanlab_server, run.project)},
        found_by_tool_name=1,
        kind="LLM",
        status_code="OK",
        model=MODEL,
        input_messages=[WEATHER_QUESTION],
        # The reply's content is null: OpenInference records no content key, so none is stored.
        output_messages=[
            {"role": "assistant", "tool_calls": [weather_call(WEATHER_ARGUMENTS)], "finish_reason": "tool_calls"}
        ],
        tools=[WEATHER_TOOL],  # from llm.tools.0.tool.json_schema; tools never reach llm.invocation_parameters
        invocation_parameters={"tool_choice": "auto", **streaming},
        input_tokens=20,
        output_tokens=9,
        total_tokens=29,
        output_value=f"get_weather({WEATHER_ARGUMENTS})",
    )


def test_openinference_follow_up_with_tool_result_over_http(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, openinference_http: Instrumented
) -> None:
    run = openinference_http
    fake_openai.script.push(ChatReply(content=WEATHER_REPLY, usage=Usage(30, 8)))
    run.client.chat.completions.create(
        model=MODEL,
        messages=[WEATHER_QUESTION, ASSISTANT_CALL, TOOL_RESULT],
        tools=[WEATHER_TOOL],
    )
    run.flush()

    span = stored_span(spanlab_server, run.project)
    assert_fields(
        span,
        input_messages=[
            WEATHER_QUESTION,
            {"role": "assistant", "tool_calls": [weather_call(WEATHER_ARGUMENTS)]},
            TOOL_RESULT,
        ],
        output_messages=[{"role": "assistant", "content": WEATHER_REPLY, "finish_reason": "stop"}],
        tools=[WEATHER_TOOL],
        invocation_parameters=None,  # only {"model": ...} was recorded
        input_tokens=30,
        output_tokens=8,
        input_value=WEATHER_QUESTION["content"],
        output_value=WEATHER_REPLY,
    )


def test_openinference_stream_with_usage_over_grpc(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, openinference_grpc: Instrumented
) -> None:
    run = openinference_grpc
    fake_openai.script.push(ChatReply(content="One, two, three.", usage=Usage(5, 4)))
    stream = run.client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count to three."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    run.flush()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "One, two, three."
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 9

    span = stored_span(spanlab_server, run.project)
    assert_fields(
        span,
        kind="LLM",
        status_code="OK",
        input_messages=[{"role": "user", "content": "Count to three."}],
        output_messages=[{"role": "assistant", "content": "One, two, three.", "finish_reason": "stop"}],
        invocation_parameters={"stream": True, "stream_options": {"include_usage": True}},
        input_tokens=5,
        output_tokens=4,
        total_tokens=9,
    )
    assert [event["name"] for event in span["events"]] == ["First Token Stream Event"]


def test_openinference_api_error_over_http(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, openinference_http: Instrumented
) -> None:
    run = openinference_http
    fake_openai.script.push(ErrorReply(status=500))
    with pytest.raises(openai.InternalServerError) as raised:
        run.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "boom"}])
    run.flush()
    assert raised.value.status_code == 500

    span = stored_span(spanlab_server, run.project)
    assert_fields(
        span,
        kind="LLM",
        status_code="ERROR",
        status_message=f"InternalServerError: {raised.value}",
        model=MODEL,
        input_messages=[{"role": "user", "content": "boom"}],
        output_messages=None,
        input_tokens=None,
        output_tokens=None,
        total_tokens=None,
        cost=None,
    )
    [event] = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "openai.InternalServerError"
    assert event["attributes"]["exception.message"] == str(raised.value)


def test_openinference_text_and_image_content_over_grpc(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, openinference_grpc: Instrumented
) -> None:
    run = openinference_grpc
    fake_openai.script.push(ChatReply(content="A cat.", usage=Usage(90, 2)))
    run.client.chat.completions.create(model=MODEL, messages=[IMAGE_QUESTION])
    run.flush()

    span = stored_span(spanlab_server, run.project)
    assert_fields(
        span,
        # OpenInference records the image URL but not its "detail".
        input_messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": IMAGE_URL}},
                ],
            }
        ],
        output_messages=[{"role": "assistant", "content": "A cat.", "finish_reason": "stop"}],
        input_value="What is in this picture?",
        input_tokens=90,
        output_tokens=2,
    )


# -- OpenTelemetry GenAI (opentelemetry-instrumentation-openai-v2) -------------------------------------------


def _genai(
    server: ServerProcess, fake: FakeOpenAI, mode: str, transport: Transport
) -> AbstractContextManager[Instrumented]:
    """The GenAI instrumentation in ``mode`` (the content env var is already set by :func:`genai_mode`)."""
    instrumentation: Instrumentation = "otel_genai_legacy" if mode == "legacy_events" else "otel_genai"
    return instrumented(server, fake.base_url, instrumentation=instrumentation, transport=transport)


@pytest.fixture(params=GENAI_MODES)
def genai_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the GenAI instrumentation carries content; the env var is read at ``instrument()`` time."""
    mode: str = request.param
    if mode != "legacy_events":
        monkeypatch.setenv(CAPTURE_CONTENT, mode)
    return mode


def expected_logs(mode: str, legacy: list[str]) -> list[str]:
    """The log events a call leaves in ``mode``; ``legacy`` are the per-message events of the legacy mode."""
    return {"span_only": [], "event_only": [DETAILS_EVENT], "legacy_events": legacy}[mode]


def genai_arguments(mode: str) -> str:
    # The latest-conventions path parses tool-call arguments into an object; spanlab writes it back compactly
    # (same JSON value). The legacy events keep OpenAI's text.
    return WEATHER_ARGUMENTS if mode == "legacy_events" else COMPACT_ARGUMENTS


def test_genai_chat_over_grpc(spanlab_server: ServerProcess, fake_openai: FakeOpenAI, genai_mode: str) -> None:
    fake_openai.script.push(ChatReply(content=REPLY, usage=Usage(12, 7)))
    with _genai(spanlab_server, fake_openai, genai_mode, "grpc") as run:
        reply = run.client.chat.completions.create(
            model=MODEL, messages=[SYSTEM, USER], temperature=0.2, max_tokens=50, seed=7
        )
        run.flush()
    assert reply.choices[0].message.content == REPLY

    logs = expected_logs(genai_mode, ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"])
    span = stored_span(spanlab_server, run.project, logs=len(logs))
    assert_fields(
        span,
        project=run.project,
        name=f"chat {MODEL}",
        kind="LLM",
        otel_kind="CLIENT",
        status_code="UNSET",  # the instrumentation leaves a successful call's status unset
        status_message=None,
        source_convention="otel_genai",
        provider="openai",
        model=MODEL,
        input_messages=[SYSTEM, USER],
        output_messages=[{"role": "assistant", "content": REPLY, "finish_reason": "stop"}],
        invocation_parameters={"temperature": 0.2, "max_tokens": 50, "seed": 7},
        tools=None,
        input_tokens=12,
        output_tokens=7,
        total_tokens=19,
        input_value=USER["content"],
        output_value=REPLY,
        legacy_events=genai_mode != "span_only",
    )
    assert span["cost"] == pytest.approx(cost(12, 7))
    assert log_names(span) == logs
    rows = spanlab_server.sql(
        "SELECT kind, provider, model, input_tokens, output_tokens, total_tokens, source_convention, "
        "input_messages->>'$[0].role', output_messages->>'$[0].content', invocation_parameters->>'$.max_tokens' "
        f"FROM spans WHERE project = '{run.project}'"
    )
    assert rows == [["LLM", "openai", MODEL, 12, 7, 19, "otel_genai", "system", REPLY, "50"]]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_genai_tool_call_over_http(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, genai_mode: str, stream: bool
) -> None:
    fake_openai.script.push(
        ChatReply(tool_calls=[ToolCall("get_weather", WEATHER_ARGUMENTS, id=CALL_ID)], usage=Usage(20, 9))
    )
    with _genai(spanlab_server, fake_openai, genai_mode, "http") as run:
        assert ask_weather(run.client, stream=stream) == ([CALL_ID], "tool_calls")
        run.flush()

    logs = expected_logs(genai_mode, ["gen_ai.user.message", "gen_ai.choice"])
    span = stored_span(spanlab_server, run.project, logs=len(logs))
    arguments = genai_arguments(genai_mode)
    assert json.loads(arguments) == json.loads(WEATHER_ARGUMENTS)
    assert_fields(
        {**span, "found_by_tool_name": found_by_tool_name(spanlab_server, run.project)},
        found_by_tool_name=1,
        kind="LLM",
        model=MODEL,
        input_messages=[WEATHER_QUESTION],
        output_messages=[{"role": "assistant", "tool_calls": [weather_call(arguments)], "finish_reason": "tool_calls"}],
        # Neither path records the request's tools (no gen_ai.tool.definitions) nor tool_choice.
        tools=None,
        invocation_parameters=None,
        input_tokens=20,
        output_tokens=9,
        total_tokens=29,
        output_value=f"get_weather({arguments})",
    )
    assert log_names(span) == logs


def test_genai_follow_up_with_tool_result_over_grpc(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, genai_mode: str
) -> None:
    fake_openai.script.push(ChatReply(content=WEATHER_REPLY, usage=Usage(30, 8)))
    with _genai(spanlab_server, fake_openai, genai_mode, "grpc") as run:
        run.client.chat.completions.create(
            model=MODEL, messages=[WEATHER_QUESTION, ASSISTANT_CALL, TOOL_RESULT], tools=[WEATHER_TOOL]
        )
        run.flush()

    logs = expected_logs(
        genai_mode, ["gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message", "gen_ai.choice"]
    )
    span = stored_span(spanlab_server, run.project, logs=len(logs))
    assert_fields(
        span,
        input_messages=[
            WEATHER_QUESTION,
            {"role": "assistant", "tool_calls": [weather_call(genai_arguments(genai_mode))]},
            TOOL_RESULT,
        ],
        output_messages=[{"role": "assistant", "content": WEATHER_REPLY, "finish_reason": "stop"}],
        input_tokens=30,
        output_tokens=8,
        input_value=WEATHER_QUESTION["content"],
        output_value=WEATHER_REPLY,
    )
    assert log_names(span) == logs


def test_genai_stream_with_usage_over_http(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, genai_mode: str
) -> None:
    fake_openai.script.push(ChatReply(content="One, two, three.", usage=Usage(5, 4)))
    with _genai(spanlab_server, fake_openai, genai_mode, "http") as run:
        stream = run.client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Count to three."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        run.flush()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "One, two, three."

    logs = expected_logs(genai_mode, ["gen_ai.user.message", "gen_ai.choice"])
    span = stored_span(spanlab_server, run.project, logs=len(logs))
    assert_fields(
        span,
        kind="LLM",
        status_code="UNSET",
        model=MODEL,
        input_messages=[{"role": "user", "content": "Count to three."}],
        output_messages=[{"role": "assistant", "content": "One, two, three.", "finish_reason": "stop"}],
        invocation_parameters=None,  # stream / stream_options are not recorded
        input_tokens=5,
        output_tokens=4,
        total_tokens=9,
    )
    assert log_names(span) == logs


def test_genai_api_error_over_grpc(spanlab_server: ServerProcess, fake_openai: FakeOpenAI, genai_mode: str) -> None:
    fake_openai.script.push(
        ErrorReply(status=400, message="Invalid value for 'temperature': must be <= 2.", param="temperature")
    )
    with _genai(spanlab_server, fake_openai, genai_mode, "grpc") as run:
        with pytest.raises(openai.BadRequestError) as raised:
            run.client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "boom"}], temperature=3
            )
        run.flush()
    assert raised.value.status_code == 400
    assert "Invalid value for 'temperature'" in str(raised.value)

    logs = expected_logs(genai_mode, ["gen_ai.user.message"])
    span = stored_span(spanlab_server, run.project, logs=len(logs))
    assert_fields(
        span,
        kind="LLM",
        status_code="ERROR",
        status_message=str(raised.value),
        model=MODEL,
        invocation_parameters={"temperature": 3.0},
        input_messages=[{"role": "user", "content": "boom"}],
        output_messages=None,
        input_tokens=None,
        output_tokens=None,
        cost=None,
    )
    # util-genai 1.0 records the class name, 1.1 the repr of the class: both name the error
    assert span["attributes"]["error.type"] in ("BadRequestError", "<class 'openai.BadRequestError'>")
    assert log_names(span) == logs


def test_genai_text_and_image_content_over_http(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, genai_mode: str
) -> None:
    fake_openai.script.push(ChatReply(content="A cat.", usage=Usage(90, 2)))
    with _genai(spanlab_server, fake_openai, genai_mode, "http") as run:
        run.client.chat.completions.create(model=MODEL, messages=[IMAGE_QUESTION])
        run.flush()

    logs = expected_logs(genai_mode, ["gen_ai.user.message", "gen_ai.choice"])
    span = stored_span(spanlab_server, run.project, logs=len(logs))
    # The legacy event body is the OpenAI content, detail included. The latest-conventions path keeps only
    # string content: a list of parts becomes "parts": [] and the turn is stored without content.
    user = IMAGE_QUESTION if genai_mode == "legacy_events" else {"role": "user"}
    assert_fields(
        span,
        input_messages=[user],
        output_messages=[{"role": "assistant", "content": "A cat.", "finish_reason": "stop"}],
        input_tokens=90,
        output_tokens=2,
    )
    assert log_names(span) == logs


def test_genai_capture_true_records_no_content_with_the_pinned_versions(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``=true`` is the legacy switch; opentelemetry-util-genai 1.0b0 always takes the latest-conventions path,
    where ``true`` is not a content mode, so nothing but the metadata is recorded."""
    monkeypatch.setenv(CAPTURE_CONTENT, "true")
    fake_openai.script.push(ChatReply(content=REPLY, usage=Usage(12, 7)))
    with instrumented(spanlab_server, fake_openai.base_url, instrumentation="otel_genai", transport="http") as run:
        run.client.chat.completions.create(model=MODEL, messages=[SYSTEM, USER], temperature=0.2, seed=7)
        run.flush()

    span = stored_span(spanlab_server, run.project)
    assert_fields(
        span,
        kind="LLM",
        model=MODEL,
        provider="openai",
        invocation_parameters={"temperature": 0.2, "seed": 7},
        input_tokens=12,
        output_tokens=7,
        input_messages=None,
        output_messages=None,
        legacy_events=True,  # waiting for log events that never come
        logs=[],
    )
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for key in span["attributes"])
