"""The normalizer on spans from spanlab's own openai instrumentor: ``spanlab.request.*``, metadata/tags on GenAI
spans, and image detail in GenAI parts."""

from __future__ import annotations

import json
from typing import Any

from collector.normalize import normalize_span
from instrumentation import semconv as sc


def normalize(attributes: dict[str, Any]) -> Any:
    return normalize_span(name="chat gpt-4o-mini", attributes=attributes, events=[], resource={}, otel_kind=3)


BASE = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    sc.GEN_AI_REQUEST_MAX_TOKENS: 50,
    sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
    sc.SERVER_ADDRESS: "llm-gateway.internal",
    sc.SERVER_PORT: 8443,
}


def test_recorded_parameters_replace_the_pieced_together_ones() -> None:
    params = {"max_completion_tokens": 50, "temperature": 0.2, "stream": True, "top_k": 40, "model": "x", "tools": []}
    fields = normalize({**BASE, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS: json.dumps(params)})
    assert fields.source_convention == "otel_genai"
    # not max_tokens as well: a replay must not send both
    assert fields.invocation_parameters == {
        "max_completion_tokens": 50,
        "temperature": 0.2,
        "stream": True,
        "top_k": 40,
    }
    assert normalize(BASE).invocation_parameters == {"max_tokens": 50, "temperature": 0.2}


def test_response_format_and_base_url() -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": True},
    }
    fields = normalize(
        {
            **BASE,
            sc.SPANLAB_REQUEST_RESPONSE_FORMAT: json.dumps(response_format),
            sc.SPANLAB_REQUEST_BASE_URL: "https://user:pw@llm-gateway.internal:8443/openai/v1/?key=secret",
        }
    )
    assert fields.response_format == response_format
    assert fields.base_url == "https://llm-gateway.internal:8443/openai/v1"
    assert normalize(BASE).base_url == "http://llm-gateway.internal:8443"  # rebuilt from server.address: no path


def test_malformed_spanlab_values_leave_the_fields_alone() -> None:
    fields = normalize(
        {**BASE, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS: "{not json", sc.SPANLAB_REQUEST_RESPONSE_FORMAT: "{"}
    )
    assert fields.invocation_parameters == {"max_tokens": 50, "temperature": 0.2}
    assert fields.response_format is None
    assert normalize({**BASE, sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS: "{}"}).invocation_parameters is None


def test_metadata_and_tags_on_a_genai_span() -> None:
    fields = normalize({**BASE, sc.OI_METADATA: json.dumps({"tier": "gold"}), sc.OI_TAG_TAGS: ["beta", "eu"]})
    assert fields.metadata == {"tier": "gold", "tags": ["beta", "eu"]}
    assert normalize(BASE).metadata is None


def test_image_detail_is_kept() -> None:
    messages = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://llm-gateway.internal/cat.png", "detail": "low"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBO", "detail": "high"},
            ],
        }
    ]
    fields = normalize({**BASE, sc.GEN_AI_INPUT_MESSAGES: json.dumps(messages)})
    assert fields.input_messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://llm-gateway.internal/cat.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO", "detail": "high"}},
            ],
        }
    ]
