"""OpenInference (Arize Phoenix) attributes → canonical fields.

Attribute dicts are copied from what ``openinference-instrumentation-openai`` 0.1.66 emits for
real OpenAI calls; the last test runs that instrumentation against the fake OpenAI server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from collector.normalize import CanonicalFields, normalize_span
from collector.normalize.pricing import estimate_cost

IMAGE_CHAT: dict[str, Any] = {
    "llm.system": "openai",
    "input.value": json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                },
            ],
            "max_tokens": 100,
            "response_format": {"type": "json_object"},
            "seed": 7,
            "stop": ["END"],
            "temperature": 0.2,
        }
    ),
    "input.mime_type": "application/json",
    "output.value": '{"id":"chatcmpl-1","choices":[{"finish_reason":"stop","index":0,"message":'
    '{"content":"Hello there!","role":"assistant"}}],"model":"gpt-4o-mini-2024-07-18"}',
    "output.mime_type": "application/json",
    "llm.invocation_parameters": '{"model": "gpt-4o-mini", "max_tokens": 100, "response_format": '
    '{"type": "json_object"}, "seed": 7, "stop": ["END"], "temperature": 0.2}',
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "You are helpful.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.contents.0.message_content.type": "text",
    "llm.input_messages.1.message.contents.0.message_content.text": "What is in this image?",
    "llm.input_messages.1.message.contents.1.message_content.type": "image",
    "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://example.com/cat.png",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.token_count.total": 27,
    "llm.token_count.prompt": 20,
    "llm.token_count.completion": 7,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "Hello there!",
    "llm.finish_reason": "stop",
    "openinference.span.kind": "LLM",
}

TOOL_SCHEMA = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

TOOL_CHAT: dict[str, Any] = {
    "llm.system": "openai",
    "llm.tools.0.tool.json_schema": json.dumps(TOOL_SCHEMA),
    "llm.invocation_parameters": '{"model": "gpt-4o-mini", "tool_choice": "auto"}',
    "llm.input_messages.0.message.role": "user",
    "llm.input_messages.0.message.content": "Weather in Paris?",
    "llm.input_messages.1.message.role": "assistant",
    "llm.input_messages.1.message.tool_calls.0.tool_call.id": "call_0",
    "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "get_weather",
    "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": '{"city": "Lyon"}',
    "llm.input_messages.2.message.role": "tool",
    "llm.input_messages.2.message.tool_call_id": "call_0",
    "llm.input_messages.2.message.content": "sunny",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.token_count.prompt": 20,
    "llm.token_count.completion": 7,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_abc",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
    "llm.output_messages.0.message.tool_calls.1.tool_call.id": "call_def",
    "llm.output_messages.0.message.tool_calls.1.tool_call.function.name": "get_weather",
    "llm.output_messages.0.message.tool_calls.1.tool_call.function.arguments": '{"city": "Rome"}',
    "llm.finish_reason": "tool_calls",
    "openinference.span.kind": "LLM",
}


def normalize(attributes: dict[str, Any]) -> CanonicalFields:
    return normalize_span(name="ChatCompletion", attributes=attributes, events=[], resource={}, otel_kind=1)


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_multipart_image_chat() -> None:
    fields = normalize(IMAGE_CHAT)

    assert (fields.source_convention, fields.kind, fields.provider) == ("openinference", "LLM", "openai")
    assert fields.model == "gpt-4o-mini"  # the requested model, from the invocation parameters
    assert fields.input_messages == [
        {"role": "system", "content": "You are helpful."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
    ]
    assert fields.output_messages == [{"role": "assistant", "content": "Hello there!", "finish_reason": "stop"}]
    assert fields.invocation_parameters == {"max_tokens": 100, "seed": 7, "stop": ["END"], "temperature": 0.2}
    assert fields.response_format == {"type": "json_object"}
    assert (fields.input_tokens, fields.output_tokens, fields.total_tokens) == (20, 7, 27)
    assert fields.cost == pytest.approx(estimate_cost("gpt-4o-mini-2024-07-18", 20, 7))
    assert (fields.input_value, fields.output_value) == ("What is in this image?", "Hello there!")
    assert fields.legacy_events is False


def test_text_only_parts_collapse_to_a_string() -> None:
    fields = normalize(
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "first",
            "llm.input_messages.0.message.contents.1.message_content.type": "text",
            "llm.input_messages.0.message.contents.1.message_content.text": "second",
        }
    )

    assert fields.input_messages == [{"role": "user", "content": "first\nsecond"}]


def test_tool_calls_tools_and_tool_results() -> None:
    fields = normalize(TOOL_CHAT)

    assert fields.input_messages == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [call("call_0", "get_weather", '{"city": "Lyon"}')]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_0"},
    ]
    assert fields.output_messages == [
        {
            "role": "assistant",
            "tool_calls": [
                call("call_abc", "get_weather", '{"city": "Paris"}'),
                call("call_def", "get_weather", '{"city": "Rome"}'),
            ],
            "finish_reason": "tool_calls",
        }
    ]
    assert fields.tools == [TOOL_SCHEMA]
    assert fields.invocation_parameters == {"tool_choice": "auto"}
    assert fields.output_value == 'get_weather({"city": "Paris"})\nget_weather({"city": "Rome"})'


def test_several_choices() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.invocation_parameters": '{"model": "gpt-4o-mini", "n": 2}',
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Hello!",
        "llm.finish_reason": "stop",
        "llm.output_messages.1.message.role": "assistant",
        "llm.output_messages.1.message.content": "Hi there!",
    }

    fields = normalize(attributes)

    assert fields.invocation_parameters == {"n": 2}
    assert fields.output_messages == [
        {"role": "assistant", "content": "Hello!", "finish_reason": "stop"},
        {"role": "assistant", "content": "Hi there!"},
    ]


def test_embedding_span() -> None:
    fields = normalize(
        {
            "llm.system": "openai",
            "input.value": '{"model": "text-embedding-3-small", "input": ["hello world", "bye"]}',
            "embedding.invocation_parameters": ('{"model": "text-embedding-3-small", "encoding_format": "base64"}'),
            "embedding.embeddings.0.embedding.text": "hello world",
            "embedding.embeddings.1.embedding.text": "bye",
            "llm.token_count.total": 5,
            "llm.token_count.prompt": 5,
            "embedding.model_name": "text-embedding-3-small",
            "embedding.embeddings.0.embedding.vector": [0.1, 0.2, 0.3],
            "openinference.span.kind": "EMBEDDING",
        }
    )

    assert (fields.kind, fields.model, fields.input_value) == (
        "EMBEDDING",
        "text-embedding-3-small",
        "hello world\nbye",
    )
    assert fields.invocation_parameters == {"encoding_format": "base64"}
    assert fields.input_messages is None and fields.output_messages is None
    assert fields.cost == pytest.approx(5 * 0.02 / 1e6)


def test_error_span() -> None:
    fields = normalize(
        {
            "llm.system": "openai",
            "input.value": '{"model": "boom", "messages": [{"role": "user", "content": "x"}]}',
            "input.mime_type": "application/json",
            "llm.invocation_parameters": '{"model": "boom"}',
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "x",
            "openinference.span.kind": "LLM",
        }
    )

    assert (fields.model, fields.input_messages, fields.output_messages) == (
        "boom",
        [{"role": "user", "content": "x"}],
        None,
    )
    assert (fields.invocation_parameters, fields.cost, fields.output_value) == (None, None, None)


def test_chain_span_with_context_attributes() -> None:
    fields = normalize(
        {
            "openinference.span.kind": "CHAIN",
            "input.value": '{"question": "Where is my card?"}',
            "input.mime_type": "application/json",
            "output.value": "It was shipped yesterday.",
            "session.id": "sess-1",
            "user.id": "user-7",
            "metadata": '{"tenant": "acme", "experiment": 3}',
            "tag.tags": ["prod", "cards"],
            "llm.token_count.prompt": 100,  # frameworks sum their children's usage on parents
            "llm.token_count.completion": 10,
        }
    )

    assert (fields.kind, fields.session_id, fields.user_id) == ("CHAIN", "sess-1", "user-7")
    assert (fields.input_value, fields.output_value) == (
        '{"question": "Where is my card?"}',
        "It was shipped yesterday.",
    )
    assert fields.metadata == {"tenant": "acme", "experiment": 3, "tags": ["prod", "cards"]}
    assert fields.total_tokens == 110 and fields.cost is None  # not priced: it would count twice


def test_prompt_template_and_reported_cost() -> None:
    fields = normalize(
        IMAGE_CHAT
        | {
            "llm.prompt_template.template": "Describe {thing} briefly.",
            "llm.prompt_template.variables": '{"thing": "the image"}',
            "llm.prompt_template.version": "v2",
            "llm.cost.total": 0.5,
        }
    )

    assert fields.prompt_template == "Describe {thing} briefly."
    assert (fields.prompt_variables, fields.prompt_version) == ({"thing": "the image"}, "v2")
    assert fields.cost == 0.5


def test_prompt_and_completion_costs_add_up() -> None:
    fields = normalize(IMAGE_CHAT | {"llm.cost.prompt": 0.25, "llm.cost.completion": "0.5"})

    assert fields.cost == pytest.approx(0.75)


def test_malformed_json_attributes() -> None:
    fields = normalize(
        IMAGE_CHAT
        | {
            "llm.invocation_parameters": '{"model": "gpt-4o-mini", "temperature": ',
            "llm.prompt_template.variables": "{oops",
            "metadata": "[not an object]",
            "llm.tools.0.tool.json_schema": "{broken",
        }
    )

    assert fields.invocation_parameters is None and fields.prompt_variables is None
    assert fields.metadata is None and fields.tools is None
    assert fields.model == "gpt-4o-mini-2024-07-18"  # falls back to the response model
    assert fields.input_messages is not None and len(fields.input_messages) == 2


def test_invocation_parameters_tools_functions_and_response_format() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    fields = normalize(
        {
            "openinference.span.kind": "LLM",
            "llm.invocation_parameters": json.dumps(
                {
                    "model": "gpt-4o",
                    "functions": [{"name": "lookup", "parameters": {"type": "object"}}],
                    "response_format": schema,
                    "stream": True,
                }
            ),
            "llm.request.model_name": "gpt-4o-2024-08-06",
        }
    )

    assert fields.model == "gpt-4o-2024-08-06"  # llm.request.model_name is the requested model
    assert fields.tools == [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    assert (fields.response_format, fields.invocation_parameters) == (schema, {"stream": True})


def test_tool_definitions_in_other_shapes() -> None:
    anthropic = {"name": "search", "description": "Search docs", "input_schema": {"type": "object"}}
    responses_api = {"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": True}
    fields = normalize(
        {
            "openinference.span.kind": "LLM",
            "llm.tools.0.tool.json_schema": json.dumps(anthropic),
            "llm.tools.1.tool.json_schema": json.dumps(responses_api),
            "llm.tools.2.tool.json_schema": json.dumps({"type": "web_search_preview"}),
            "llm.tools.3.tool.name": "legacy",
            "llm.tools.3.tool.description": "Flattened by older releases",
            "llm.tools.3.tool.parameters": '{"type": "object"}',
        }
    )

    assert fields.tools == [
        {
            "type": "function",
            "function": {"name": "search", "description": "Search docs", "parameters": {"type": "object"}},
        },
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object"}, "strict": True},
        },
        {"type": "web_search_preview"},
        {
            "type": "function",
            "function": {
                "name": "legacy",
                "description": "Flattened by older releases",
                "parameters": {"type": "object"},
            },
        },
    ]


def test_legacy_completions_api() -> None:
    fields = normalize(
        {
            "openinference.span.kind": "LLM",
            "llm.invocation_parameters": '{"model": "gpt-3.5-turbo-instruct", "max_tokens": 5}',
            "llm.prompts.0.prompt.text": "Say hi",
            "llm.choices.0.completion.text": "Hi!",
            "llm.finish_reason": "length",
        }
    )

    assert fields.input_messages == [{"role": "user", "content": "Say hi"}]
    assert fields.output_messages == [{"role": "assistant", "content": "Hi!", "finish_reason": "length"}]


def test_legacy_function_call_message() -> None:
    fields = normalize(
        {
            "openinference.span.kind": "LLM",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.function_call_name": "lookup",
            "llm.output_messages.0.message.function_call_arguments_json": '{"q": 1}',
        }
    )

    assert fields.output_messages == [
        {
            "role": "assistant",
            "tool_calls": [{"type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}],
        }
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("LLM", "LLM"),
        ("llm", "LLM"),
        ("RERANKER", "RERANKER"),
        ("GUARDRAIL", "GUARDRAIL"),
        ("EVALUATOR", "EVALUATOR"),
        ("DECISION", "LLM"),
        ("PROMPT", "CHAIN"),
        ("SOMETHING", "UNKNOWN"),
        (3, "UNKNOWN"),
    ],
)
def test_span_kinds(value: Any, kind: str) -> None:
    assert normalize({"openinference.span.kind": value}).kind == kind


def test_retriever_documents_as_output_text() -> None:
    fields = normalize(
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "refund policy",
            "retrieval.documents.0.document.id": "d1",
            "retrieval.documents.0.document.content": "Refunds take 5 days.",
            "retrieval.documents.1.document.content": "Card refunds are instant.",
        }
    )

    assert fields.output_value == "Refunds take 5 days.\n\nCard refunds are instant."


def test_non_string_values_and_gaps() -> None:
    fields = normalize(
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": 42,
            "llm.input_messages.1.message.role": None,
            "llm.input_messages.1.message.content": ["a", "b"],
            "llm.token_count.prompt": "12",
            "llm.token_count.completion": 3.5,
            "llm.provider": "Azure",
        }
    )

    assert fields.input_messages == [
        {"role": "user", "content": "42"},
        {"role": "user", "content": '["a","b"]'},
    ]
    assert (fields.input_tokens, fields.output_tokens, fields.provider) == (12, None, "azure")


def test_long_conversations_and_many_tool_calls() -> None:
    """Past the precomputed key range (128 messages, 8 parts per message) keys are built on the fly."""
    attributes: dict[str, Any] = {"openinference.span.kind": "LLM"}
    for i in range(300):
        attributes[f"llm.input_messages.{i}.message.role"] = "user" if i % 2 == 0 else "assistant"
        attributes[f"llm.input_messages.{i}.message.content"] = f"turn {i}"
    prefix = "llm.output_messages.0.message.tool_calls"
    for j in range(12):
        attributes[f"{prefix}.{j}.tool_call.id"] = f"call_{j}"
        attributes[f"{prefix}.{j}.tool_call.function.name"] = "f"
    for _ in range(2):  # the second pass reads through the caches the first one filled
        fields = normalize(attributes)

        assert fields.input_messages is not None and len(fields.input_messages) == 300
        assert fields.input_messages[299] == {"role": "assistant", "content": "turn 299"}
        assert fields.output_messages is not None
        assert [c["id"] for c in fields.output_messages[0]["tool_calls"]] == [f"call_{j}" for j in range(12)]


def test_real_openinference_instrumentation(fake_openai: Any) -> None:
    """The installed OpenInference instrumentor, the real openai client, the fake provider."""
    openai = pytest.importorskip("openai")
    instrumentation = pytest.importorskip("openinference.instrumentation.openai")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tests.fakeopenai import ChatReply, ToolCall, Usage

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with instrumented(instrumentation.OpenAIInstrumentor(), provider):
        client = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)
        fake_openai.script.push(
            ChatReply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_9")], usage=Usage(30, 5))
        )
        client.chat.completions.create(
            model="gpt-4o-mini",
            temperature=0,
            tools=[TOOL_SCHEMA],
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
            ],
        )

    (span,) = exporter.get_finished_spans()
    fields = normalize(dict(span.attributes or {}))

    assert fields.input_messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert fields.output_messages == [
        {
            "role": "assistant",
            "tool_calls": [call("call_9", "get_weather", '{"city": "Paris"}')],
            "finish_reason": "tool_calls",
        }
    ]
    assert (fields.model, fields.tools, fields.invocation_parameters) == (
        "gpt-4o-mini",
        [TOOL_SCHEMA],
        {"temperature": 0},
    )
    assert (fields.input_tokens, fields.output_tokens, fields.total_tokens) == (30, 5, 35)


@contextmanager
def instrumented(instrumentor: Any, provider: Any) -> Iterator[None]:
    """Instrument for the duration of a ``with`` block; skip if something else already did."""
    if instrumentor.is_instrumented_by_opentelemetry:
        pytest.skip("openai is already instrumented in this process")
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()
