"""OTel GenAI conventions → canonical fields.

Attribute dicts are copied from what ``opentelemetry-util-genai`` 1.3 (current conventions) and
``opentelemetry-instrumentation-openai-v2`` (legacy path) emit for real OpenAI calls; one test
runs the real util-genai handler end to end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.normalize import CanonicalFields, detect_convention, normalize_span
from collector.normalize.pricing import estimate_cost, price_of

SYSTEM_INSTRUCTIONS = '[{"content":"You are helpful.","type":"text"}]'
INPUT_MESSAGES = (
    '[{"role":"user","parts":[{"content":"What is in this image?","type":"text"},'
    '{"mime_type":"image/png","modality":"image","uri":"https://example.com/cat.png","type":"uri"},'
    '{"mime_type":"image/png","modality":"image","content":"iVBORw==","type":"blob"}],"name":null},'
    '{"role":"assistant","parts":[{"arguments":{"city":"Lyon"},"name":"get_weather","id":"call_0",'
    '"type":"tool_call"}],"name":null},'
    '{"role":"tool","parts":[{"response":"sunny","id":"call_0","type":"tool_call_response"}],"name":null}]'
)
OUTPUT_MESSAGES = (
    '[{"role":"assistant","parts":[{"content":"thinking","type":"reasoning"},'
    '{"content":"A cat.","type":"text"},{"arguments":{"city":"Paris"},"name":"get_weather","id":"call_1",'
    '"type":"tool_call"}],"finish_reason":"tool_call","name":null}]'
)


def current_chat_span() -> dict[str, Any]:
    """A chat span with content on the span (``SPAN_ONLY``/``SPAN_AND_EVENT`` capture)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "llm-gateway.internal",
        "server.port": 443,
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.request.seed": 7,
        "gen_ai.response.finish_reasons": ["tool_call"],
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.prompt.name": "weather",
        "gen_ai.input.messages": INPUT_MESSAGES,
        "gen_ai.output.messages": OUTPUT_MESSAGES,
        "gen_ai.system_instructions": SYSTEM_INSTRUCTIONS,
        "gen_ai.tool.definitions": (
            '[{"name":"get_weather","description":"Get weather","parameters":{"type":"object"},"type":"function"}]'
        ),
        "gen_ai.prompt.variable.city": "Lyon",
        "gen_ai.prompt.variable.n": "3",
    }


def legacy_chat_span() -> dict[str, Any]:
    """openai-v2's default (legacy) path: no content on the span, it goes to log events."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.system": "openai",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.choice.count": 2,
        "gen_ai.openai.request.response_format": "json_object",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ("stop", "stop"),
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 7,
    }


def normalize(attributes: Any, events: Any = (), **kwargs: Any) -> CanonicalFields:
    return normalize_span(
        name=kwargs.get("name", "chat gpt-4o-mini"),
        attributes=attributes,
        events=list(events),
        resource={"service.name": "app"},
        otel_kind=kwargs.get("otel_kind", 3),
    )


def test_current_conventions_become_openai_messages() -> None:
    fields = normalize(current_chat_span())

    assert fields.source_convention == "otel_genai"
    assert fields.kind == "LLM"
    assert (fields.provider, fields.model) == ("openai", "gpt-4o-mini")
    assert fields.input_messages == [
        {"role": "system", "content": "You are helpful."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'},
                }
            ],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "call_0"},
    ]
    # Reasoning parts cannot be sent back to a chat model: dropped. GenAI's "tool_call" finish
    # reason is spelled the OpenAI way.
    assert fields.output_messages == [
        {
            "role": "assistant",
            "content": "A cat.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
            "finish_reason": "tool_calls",
        }
    ]
    assert fields.tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get weather",
                "parameters": {"type": "object"},
            },
        }
    ]
    assert fields.invocation_parameters == {"temperature": 0.2, "max_tokens": 100, "stop": ["END"], "seed": 7}
    assert (fields.prompt_name, fields.prompt_variables) == ("weather", {"city": "Lyon", "n": "3"})
    assert (fields.input_tokens, fields.output_tokens, fields.total_tokens) == (20, 7, 27)
    assert fields.cost == pytest.approx(estimate_cost("gpt-4o-mini", 20, 7))
    assert fields.session_id == "conv-1"
    assert fields.base_url == "https://llm-gateway.internal"
    assert (fields.input_value, fields.output_value) == ("What is in this image?", "A cat.")
    assert fields.legacy_events is False


def test_structured_messages_equal_json_messages() -> None:
    """Collectors may receive the messages as OTLP arrays/kvlists instead of JSON strings."""
    structured = current_chat_span()
    structured["gen_ai.input.messages"] = json.loads(INPUT_MESSAGES)
    structured["gen_ai.input.messages"][0]["parts"][2]["content"] = b"\x89PNG"  # bytes, not base64
    structured["gen_ai.output.messages"] = json.loads(OUTPUT_MESSAGES)
    structured["gen_ai.system_instructions"] = json.loads(SYSTEM_INSTRUCTIONS)

    assert normalize(structured) == normalize(current_chat_span())


def test_legacy_span_without_content_expects_log_events() -> None:
    fields = normalize(legacy_chat_span())

    assert fields.legacy_events is True
    assert fields.input_messages is None and fields.output_messages is None
    assert fields.provider == "openai"
    assert fields.invocation_parameters == {
        "temperature": 0.2,
        "max_tokens": 100,
        "seed": 7,
        "stop": ["END"],
        "n": 2,
    }
    assert fields.response_format == {"type": "json_object"}
    # Priced by the dated response model, which resolves to gpt-4o-mini's row.
    assert fields.cost == pytest.approx((20 * 0.15 + 7 * 0.60) / 1e6)


def test_error_span_keeps_what_is_known() -> None:
    fields = normalize(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "boom",
            "gen_ai.system": "openai",
            "error.type": "BadRequestError",
        }
    )

    assert (fields.kind, fields.model, fields.legacy_events) == ("LLM", "boom", True)
    assert fields.input_tokens is None and fields.total_tokens is None and fields.cost is None


def test_embeddings_span() -> None:
    fields = normalize(
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.system": "openai",
            "gen_ai.response.model": "text-embedding-3-small",
            "gen_ai.embeddings.dimension.count": 3,
            "gen_ai.request.encoding_formats": ["base64"],
            "gen_ai.usage.input_tokens": 5,
        }
    )

    assert (fields.kind, fields.legacy_events) == ("EMBEDDING", False)
    assert fields.invocation_parameters == {"encoding_format": "base64"}
    assert (fields.input_tokens, fields.output_tokens, fields.total_tokens) == (5, None, 5)
    assert fields.cost == pytest.approx(5 * 0.02 / 1e6)


@pytest.mark.parametrize(
    ("operation", "kind"),
    [
        ("chat", "LLM"),
        ("text_completion", "LLM"),
        ("generate_content", "LLM"),
        ("embeddings", "EMBEDDING"),
        ("execute_tool", "TOOL"),
        ("invoke_agent", "AGENT"),
        ("create_agent", "AGENT"),
        ("retrieval", "RETRIEVER"),
        ("invoke_workflow", "CHAIN"),
        ("something_new", "UNKNOWN"),
    ],
)
def test_operation_name_gives_kind(operation: str, kind: str) -> None:
    assert normalize({"gen_ai.operation.name": operation}).kind == kind


def test_tool_span_shows_arguments_and_result() -> None:
    fields = normalize(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"city":"Paris"}',
            "gen_ai.tool.call.result": '{"temp":20}',
        },
        name="execute_tool get_weather",
        otel_kind=1,
    )

    assert (fields.kind, fields.input_value, fields.output_value) == (
        "TOOL",
        '{"city":"Paris"}',
        '{"temp":20}',
    )
    assert fields.cost is None and fields.legacy_events is False


def test_retrieval_span_shows_query_and_documents() -> None:
    documents = '[{"id":"doc-1","score":0.9}]'
    fields = normalize(
        {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.retrieval.query.text": "refund policy",
            "gen_ai.retrieval.documents": documents,
        }
    )

    assert (fields.kind, fields.input_value, fields.output_value) == ("RETRIEVER", "refund policy", documents)


def test_span_events_of_semconv_1_27() -> None:
    prompt = [{"role": "system", "content": "Be short."}, {"role": "user", "content": "Hi"}]
    completion = [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hello"}}]
    events = [
        {
            "name": "gen_ai.content.prompt",
            "time_unix_nano": 1,
            "attributes": {"gen_ai.prompt": json.dumps(prompt)},
        },
        {
            "name": "gen_ai.content.completion",
            "time_unix_nano": 2,
            "attributes": {"gen_ai.completion": json.dumps(completion)},
        },
    ]

    fields = normalize({"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}, events)

    assert fields.input_messages == prompt
    assert fields.output_messages == [{"role": "assistant", "content": "Hello", "finish_reason": "stop"}]
    assert fields.legacy_events is False


def test_per_message_span_events() -> None:
    """Some SDKs attach the legacy per-message events to the span instead of the log."""
    events = [
        {
            "name": "gen_ai.user.message",
            "time_unix_nano": 1,
            "attributes": {"gen_ai.event.content": '{"content":"Hi"}'},
        },
        {
            "name": "gen_ai.choice",
            "time_unix_nano": 2,
            "attributes": {"gen_ai.event.content": '{"index":0,"finish_reason":"stop","message":{"content":"Yo"}}'},
        },
    ]

    fields = normalize({"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}, events)

    assert fields.input_messages == [{"role": "user", "content": "Hi"}]
    assert fields.output_messages == [{"role": "assistant", "content": "Yo", "finish_reason": "stop"}]


def test_malformed_span_events_are_skipped() -> None:
    events: list[Any] = [
        None,
        {"name": "gen_ai.content.prompt", "attributes": None},
        {"name": 7, "attributes": {}},
        {
            "name": "gen_ai.content.prompt",
            "attributes": {"gen_ai.prompt": '[{"role": "user", "content": "Hi"}]'},
        },
    ]

    fields = normalize({"gen_ai.operation.name": "chat"}, events)

    assert fields.input_messages == [{"role": "user", "content": "Hi"}]


def test_malformed_json_keeps_raw_text_and_other_fields() -> None:
    attributes = current_chat_span()
    attributes["gen_ai.input.messages"] = '[{"role":"user","parts":[{"content":"cut off'
    attributes["gen_ai.tool.definitions"] = "{not json"
    attributes["gen_ai.system_instructions"] = "Plain text instructions"

    fields = normalize(attributes)

    # The system instructions were plain text, not JSON: still a system message.
    assert fields.input_messages == [{"role": "system", "content": "Plain text instructions"}]
    assert fields.tools is None
    assert fields.output_messages is not None and fields.output_messages[0]["content"] == "A cat."
    assert fields.input_tokens == 20 and fields.model == "gpt-4o-mini"


def test_unparsable_messages_become_searchable_text() -> None:
    raw = '[{"role":"user","parts":[{"content":"cut off'
    fields = normalize({"gen_ai.operation.name": "chat", "gen_ai.input.messages": raw})

    assert fields.input_messages is None and fields.input_value == raw
    assert fields.legacy_events is False  # content was on the span, just broken


def test_values_of_unexpected_types() -> None:
    fields = normalize(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": 42,
            "gen_ai.usage.input_tokens": "20",
            "gen_ai.usage.output_tokens": 7.0,
            "gen_ai.request.temperature": "0.5",
            "gen_ai.request.max_tokens": True,
            "gen_ai.request.stop_sequences": "END",
            "gen_ai.input.messages": [{"role": "user", "parts": "not a list"}, "junk", {"parts": [None, 3]}],
            "gen_ai.output.messages": {"role": "assistant"},
            "gen_ai.tool.definitions": [{"type": "function"}, "junk", {"name": "f", "parameters": "{bad"}],
        }
    )

    assert (fields.model, fields.input_tokens, fields.output_tokens) == ("42", 20, 7)
    assert fields.invocation_parameters == {"temperature": 0.5, "stop": ["END"]}
    assert fields.input_messages == [{"role": "user"}, {"role": "user"}]
    assert fields.output_messages is None
    assert fields.tools == [{"type": "function", "function": {"name": "f", "parameters": "{bad"}}]


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.operation.name": ["chat"], "gen_ai.input.messages": 12, "gen_ai.usage.input_tokens": {}},
        {"gen_ai.system": None, "gen_ai.input.messages": [[{"role": "user"}]], "server.port": "x"},
        {"gen_ai.output.messages": '{"role":"assistant"}', "gen_ai.system_instructions": [1, None]},
        {"gen_ai.request.model": "m", "gen_ai.input.messages": b"\xff\xfe", "server.address": "::1"},
    ],
)
def test_garbage_never_raises(attributes: dict[str, Any]) -> None:
    fields = normalize(attributes, events=[None, {"name": "gen_ai.content.prompt", "attributes": None}, 3])

    assert fields.source_convention == "otel_genai"


def test_non_mapping_input_never_raises() -> None:
    fields = normalize_span(name="x", attributes=None, events=None, resource=None, otel_kind=0)  # type: ignore[arg-type]

    assert fields == CanonicalFields()


def test_provider_preference_and_lower_case() -> None:
    assert normalize({"gen_ai.provider.name": "azure.ai.openai", "gen_ai.system": "openai"}).provider == (
        "azure.ai.openai"
    )
    assert normalize({"gen_ai.system": "Anthropic"}).provider == "anthropic"


def test_output_type_maps_to_response_format() -> None:
    fields = normalize({"gen_ai.operation.name": "chat", "gen_ai.output.type": "json"})

    assert fields.response_format == {"type": "json_object"}


@pytest.mark.parametrize(
    ("address", "port", "base_url"),
    [
        ("llm-gateway.internal", None, "https://llm-gateway.internal"),
        ("llm-gateway.internal", 443, "https://llm-gateway.internal"),
        ("localhost", 8000, "http://localhost:8000"),
        ("example.org", 80, "http://example.org"),
        ("::1", 11434, "http://[::1]:11434"),
    ],
)
def test_base_url_from_server_address(address: str, port: int | None, base_url: str) -> None:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "server.address": address}
    if port is not None:
        attributes["server.port"] = port

    assert normalize(attributes).base_url == base_url


def test_spanlab_prompt_attributes_win() -> None:
    template = [{"role": "system", "content": "You answer about {topic}."}]
    attributes = current_chat_span() | {
        "spanlab.prompt.name": "support-reply",
        "spanlab.prompt.version": 3,
        "spanlab.prompt.template": template,
        "spanlab.prompt.variables": '{"topic": "cards"}',
    }

    fields = normalize(attributes)

    assert (fields.prompt_name, fields.prompt_version) == ("support-reply", "3")
    assert fields.prompt_template is not None and json.loads(fields.prompt_template) == template
    assert fields.prompt_variables == {"topic": "cards"}


def test_detection_order() -> None:
    genai = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}

    assert detect_convention(genai) == "otel_genai"
    assert detect_convention(genai | {"traceloop.association.properties.user_id": "u"}) == "openllmetry"
    assert detect_convention(genai | {"openinference.span.kind": "LLM"}) == "openinference"
    # GenAI's own gen_ai.prompt.* keys are not OpenLLMetry's indexed prompts.
    assert detect_convention(genai | {"gen_ai.prompt.name": "p", "gen_ai.prompt.variable.x": "1"}) == "otel_genai"
    assert detect_convention({"http.method": "GET"}) == "none"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", (0.15, 0.60)),
        ("gpt-4o-2024-08-06", (2.50, 10.00)),
        ("gpt-4o-2024-05-13", (5.00, 15.00)),
        ("openai/gpt-4o-mini", (0.15, 0.60)),
        ("claude-3-5-sonnet-20241022", (3.00, 15.00)),
        ("claude-sonnet-4-20250514", (3.00, 15.00)),
        ("gpt-4-0613", (30.00, 60.00)),
        ("gpt-4.5-preview", None),  # not gpt-4's row: the next character is not a suffix start
        ("o1-mini-2024-09-12", (1.10, 4.40)),
        ("llama3:8b", None),
    ],
)
def test_price_table_prefix_match(model: str, expected: tuple[float, float] | None) -> None:
    assert price_of(model) == expected


def test_estimate_cost_needs_a_model_and_tokens() -> None:
    assert estimate_cost(None, 10, 10) is None
    assert estimate_cost("gpt-4o", None, None) is None
    assert estimate_cost("unknown-model", 10, 10) is None
    assert estimate_cost("smollm2-135m", 1000, 1000) == 0.0
    assert estimate_cost("gpt-4o", 1_000_000, None) == pytest.approx(2.50)


def test_real_util_genai_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed util-genai handler, end to end, with content captured on the span."""
    handler_module = pytest.importorskip("opentelemetry.util.genai.handler")
    types = pytest.importorskip("opentelemetry.util.genai.types")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = handler_module.TelemetryHandler(tracer_provider=provider)

    text_part = getattr(types, "TextPart", None) or types.Text  # renamed between util-genai releases
    with handler.inference("openai", request_model="gpt-4o-mini", server_address="localhost", server_port=8000) as inv:
        inv.system_instruction = [text_part(content="Be brief.")]
        inv.input_messages = [types.InputMessage(role="user", parts=[text_part(content="Hi")])]
        inv.output_messages = [
            types.OutputMessage(role="assistant", parts=[text_part(content="Hello!")], finish_reason="stop")
        ]
        inv.input_tokens, inv.output_tokens = 9, 2

    (span,) = exporter.get_finished_spans()
    fields = normalize(dict(span.attributes or {}), otel_kind=span.kind.value)

    assert fields.input_messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert fields.output_messages == [{"role": "assistant", "content": "Hello!", "finish_reason": "stop"}]
    assert (fields.model, fields.base_url, fields.total_tokens) == (
        "gpt-4o-mini",
        "http://localhost:8000",
        11,
    )
