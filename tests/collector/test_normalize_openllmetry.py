"""OpenLLMetry (Traceloop) attributes → canonical fields.

Attribute dicts follow ``opentelemetry-instrumentation-openai`` (``shared/chat_wrappers.py``:
``_set_prompts``/``_set_completions``, ``shared/__init__.py``: ``_set_request_attributes``) and
the Traceloop SDK's workflow decorators and association properties.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.normalize import CanonicalFields, normalize_span

PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
USER_CONTENT = [
    {"type": "text", "text": "What is in this image?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
]

CHAT: dict[str, Any] = {
    "llm.request.type": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.max_tokens": 200,
    "gen_ai.request.temperature": 0.7,
    "llm.frequency_penalty": 0.1,
    "llm.user": "user-42",
    "llm.headers": "None",
    "llm.is_streaming": False,
    "gen_ai.openai.api_base": "https://llm-gateway.internal/v1/",
    "llm.request.functions.0.name": "get_weather",
    "llm.request.functions.0.description": "Get weather",
    "llm.request.functions.0.parameters": json.dumps(PARAMETERS),
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "You are helpful.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": json.dumps(USER_CONTENT),
    "gen_ai.prompt.2.role": "assistant",
    "gen_ai.prompt.2.tool_calls.0.id": "call_0",
    "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
    "gen_ai.prompt.2.tool_calls.0.arguments": '{"city": "Lyon"}',
    "gen_ai.prompt.3.role": "tool",
    "gen_ai.prompt.3.content": '[{"temp": 21}, {"temp": 19}]',
    "gen_ai.prompt.3.tool_call_id": "call_0",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.openai.system_fingerprint": "fp_1",
    "llm.usage.total_tokens": 27,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.usage.input_tokens": 20,
    "gen_ai.usage.cache_read_input_tokens": 0,
    "gen_ai.completion.0.finish_reason": "tool_calls",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.tool_calls.0.id": "call_1",
    "gen_ai.completion.0.tool_calls.0.name": "get_weather",
    "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
    "traceloop.workflow.name": "weather_bot",
    "traceloop.association.properties.session_id": "sess-9",
    "traceloop.association.properties.user_id": "user-9",
    "traceloop.association.properties.tenant": "acme",
}


def normalize(attributes: dict[str, Any], events: list[dict[str, Any]] | None = None) -> CanonicalFields:
    return normalize_span(name="openai.chat", attributes=attributes, events=events or [], resource={}, otel_kind=3)


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_chat_with_tools_images_and_tool_results() -> None:
    fields = normalize(CHAT)

    assert (fields.source_convention, fields.kind, fields.provider) == ("openllmetry", "LLM", "openai")
    assert fields.model == "gpt-4o-mini"
    assert fields.input_messages == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": USER_CONTENT},  # the JSON text of OpenAI parts, decoded
        {"role": "assistant", "tool_calls": [call("call_0", "get_weather", '{"city": "Lyon"}')]},
        # A tool result that happens to be a JSON list stays text: it is not a list of parts.
        {"role": "tool", "content": '[{"temp": 21}, {"temp": 19}]', "tool_call_id": "call_0"},
    ]
    assert fields.output_messages == [
        {
            "role": "assistant",
            "tool_calls": [call("call_1", "get_weather", '{"city": "Paris"}')],
            "finish_reason": "tool_calls",
        }
    ]
    assert fields.tools == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Get weather", "parameters": PARAMETERS},
        }
    ]
    assert fields.invocation_parameters == {
        "temperature": 0.7,
        "max_tokens": 200,
        "frequency_penalty": 0.1,
        "stream": False,
        "user": "user-42",
    }
    assert (fields.input_tokens, fields.output_tokens, fields.total_tokens) == (20, 7, 27)
    assert fields.cost == pytest.approx((20 * 0.15 + 7 * 0.60) / 1e6)
    assert fields.base_url == "https://llm-gateway.internal/v1"
    assert (fields.session_id, fields.user_id) == ("sess-9", "user-9")
    assert fields.metadata == {"session_id": "sess-9", "user_id": "user-9", "tenant": "acme"}
    assert fields.input_value == "What is in this image?"
    assert fields.output_value == 'get_weather({"city": "Paris"})'
    assert fields.legacy_events is False


def test_several_completions_and_refusal_and_filter() -> None:
    fields = normalize(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Tell me a secret",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.refusal": "I can't help with that.",
            "gen_ai.completion.1.finish_reason": "content_filter",
            "gen_ai.completion.1.role": "assistant",
            "gen_ai.completion.1.content": "FILTERED",
            "gen_ai.completion.1.content_filter_results": '{"hate": {"filtered": true}}',
            "gen_ai.prompt.prompt_filter_results": "[]",
        }
    )

    assert fields.input_messages == [{"role": "user", "content": "Tell me a secret"}]
    assert fields.output_messages == [
        {"role": "assistant", "content": "I can't help with that.", "finish_reason": "stop"},
        {"role": "assistant", "content": "FILTERED", "finish_reason": "content_filter"},
    ]


def test_credentials_never_reach_the_fields() -> None:
    fields = normalize(
        CHAT
        | {
            "gen_ai.openai.api_base": "https://user:sk-secret@my-proxy.example.com:8443/v1/?api-key=sk-2",
            "llm.headers": "{'Authorization': 'Bearer sk-1', 'api-key': 'k', 'X-Request-Source': 'batch'}",
        }
    )

    assert fields.base_url == "https://my-proxy.example.com:8443/v1"
    assert fields.invocation_parameters is not None
    assert fields.invocation_parameters["extra_headers"] == {"X-Request-Source": "batch"}


@pytest.mark.parametrize("headers", ["None", "{'a': ", "__import__('os').system('x')", "[1, 2]", 7])
def test_headers_that_are_not_a_dict_are_ignored(headers: Any) -> None:
    fields = normalize(CHAT | {"llm.headers": headers})

    assert fields.invocation_parameters is not None and "extra_headers" not in fields.invocation_parameters


def test_workflow_span_from_the_sdk_decorators() -> None:
    fields = normalize(
        {
            "traceloop.span.kind": "workflow",
            "traceloop.workflow.name": "support_reply",
            "traceloop.entity.name": "support_reply",
            "traceloop.entity.path": "",
            "traceloop.entity.input": '{"args": ["Where is my card?"], "kwargs": {}}',
            "traceloop.entity.output": '"It was shipped."',
            "traceloop.association.properties.session_id": "sess-1",
        }
    )

    assert (fields.kind, fields.session_id) == ("CHAIN", "sess-1")
    assert fields.input_value == '{"args": ["Where is my card?"], "kwargs": {}}'
    assert fields.output_value == '"It was shipped."'
    assert fields.legacy_events is False and fields.cost is None


@pytest.mark.parametrize(
    ("span_kind", "kind"), [("workflow", "CHAIN"), ("task", "CHAIN"), ("tool", "TOOL"), ("agent", "AGENT")]
)
def test_traceloop_span_kinds(span_kind: str, kind: str) -> None:
    assert normalize({"traceloop.span.kind": span_kind}).kind == kind


def test_embedding_request() -> None:
    fields = normalize(
        {
            "llm.request.type": "embedding",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.prompt.0.content": "hello world",
            "gen_ai.prompt.1.content": "bye",
            "gen_ai.response.model": "text-embedding-3-small",
            "llm.usage.total_tokens": 4,
            "gen_ai.usage.input_tokens": 4,
        }
    )

    assert (fields.kind, fields.input_value, fields.input_messages) == ("EMBEDDING", "hello world\nbye", None)
    assert fields.cost == pytest.approx(4 * 0.02 / 1e6)


def test_legacy_completions_api() -> None:
    fields = normalize(
        {
            "llm.request.type": "completion",
            "gen_ai.request.model": "davinci-002",
            "gen_ai.prompt.0.user": "Tell me a joke about opentelemetry",
            "gen_ai.completion.0.content": "Why did the span ...",
            "gen_ai.completion.0.finish_reason": "length",
        }
    )

    assert fields.input_messages == [{"role": "user", "content": "Tell me a joke about opentelemetry"}]
    assert fields.output_messages == [
        {"role": "assistant", "content": "Why did the span ...", "finish_reason": "length"}
    ]


def test_event_mode_span_expects_log_events() -> None:
    """With ``use_legacy_attributes=False`` the content goes to log events."""
    fields = normalize({k: v for k, v in CHAT.items() if not k.startswith(("gen_ai.prompt.", "gen_ai.completion."))})

    assert fields.legacy_events is True and fields.input_messages is None


def test_newer_releases_on_genai_message_attributes() -> None:
    """OpenLLMetry 0.5 moved to the GenAI JSON attributes; association properties still mark it."""
    fields = normalize(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]',
            "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"Hello"}],'
            '"finish_reason":"stop"}]',
            "gen_ai.tool.definitions": '[{"name":"f","description":"d","parameters":{"type":"object"}}]',
            "traceloop.association.properties.user_id": "u-1",
        }
    )

    assert fields.source_convention == "openllmetry"
    assert fields.input_messages == [{"role": "user", "content": "Hi"}]
    assert fields.output_messages == [{"role": "assistant", "content": "Hello", "finish_reason": "stop"}]
    assert fields.tools == [
        {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    ]
    assert (fields.user_id, fields.legacy_events) == ("u-1", False)


def test_prompt_registry_and_structured_output() -> None:
    schema = {"title": "Answer", "type": "object", "properties": {"text": {"type": "string"}}}
    fields = normalize(
        CHAT
        | {
            "traceloop.prompt.managed": True,
            "traceloop.prompt.key": "weather-prompt",
            "traceloop.prompt.version": 4,
            "traceloop.prompt.template": "Weather in {city}?",
            "traceloop.prompt.template_variables.city": "Paris",
            "llm.request.structured_output_schema": json.dumps(schema),
        }
    )

    assert (fields.prompt_name, fields.prompt_version) == ("weather-prompt", "4")
    assert (fields.prompt_template, fields.prompt_variables) == ("Weather in {city}?", {"city": "Paris"})
    assert fields.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema},
    }


def test_oldest_llm_attribute_names() -> None:
    fields = normalize(
        {
            "llm.request.type": "chat",
            "llm.vendor": "OpenAI",
            "llm.request.model": "gpt-3.5-turbo",
            "llm.usage.prompt_tokens": 11,
            "llm.usage.completion_tokens": 4,
            "llm.top_k": 5,
            "llm.chat.stop_sequences": '["\\n"]',
        }
    )

    assert (fields.provider, fields.model, fields.total_tokens) == ("openai", "gpt-3.5-turbo", 15)
    assert fields.invocation_parameters == {"top_k": 5, "stop": ["\n"]}


def test_flattened_tool_definitions() -> None:
    fields = normalize(
        {
            "llm.request.type": "chat",
            "gen_ai.tool.definitions.0.name": "lookup",
            "gen_ai.tool.definitions.0.description": "Look it up",
            "gen_ai.tool.definitions.0.parameters": '{"type": "object"}',
        }
    )

    assert fields.tools == [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Look it up", "parameters": {"type": "object"}},
        }
    ]


def test_malformed_and_unexpected_values() -> None:
    fields = normalize(
        CHAT
        | {
            "gen_ai.prompt.1.content": '[{"type": "text", "text": "cut',
            "gen_ai.prompt.2.tool_calls.0.arguments": {"city": "Lyon"},
            "llm.request.functions.0.parameters": "{not json",
            "llm.usage.total_tokens": "n/a",
            "gen_ai.completion.0.role": 5,
        }
    )

    assert fields.input_messages is not None
    assert fields.input_messages[1] == {"role": "user", "content": '[{"type": "text", "text": "cut'}
    assert fields.input_messages[2]["tool_calls"] == [call("call_0", "get_weather", '{"city":"Lyon"}')]
    assert fields.tools == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Get weather", "parameters": "{not json"},
        }
    ]
    assert fields.total_tokens == 27  # recomputed from input + output
    assert fields.output_messages is not None and fields.output_messages[0]["role"] == "5"
