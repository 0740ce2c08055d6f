"""GenAI log events → OpenAI messages.

The legacy events are copied from what ``opentelemetry-instrumentation-openai-v2`` emits on its
default path (``message_to_event``/``choice_to_event``) for real chat calls, in the shape the
collector passes them: ``{"event_name", "time_unix_nano", "body", "attributes"}``.
"""

from __future__ import annotations

from typing import Any

import pytest

from collector.normalize import messages_from_log_events

GEN_AI_SYSTEM = {"gen_ai.system": "openai"}
CALL_0 = {
    "id": "call_0",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
}
CALL_1 = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def event(name: str | None, body: Any, time: int = 0, **attributes: Any) -> dict[str, Any]:
    return {
        "event_name": name,
        "time_unix_nano": time,
        "body": body,
        "attributes": GEN_AI_SYSTEM | attributes,
    }


def test_openai_v2_conversation_with_image_and_tools() -> None:
    image_content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    ]
    events = [
        event("gen_ai.system.message", {"content": "You are helpful."}, 1),
        event("gen_ai.user.message", {"content": image_content}, 2),
        event("gen_ai.assistant.message", {"tool_calls": [CALL_0]}, 3),
        event("gen_ai.tool.message", {"content": "sunny", "id": "call_0"}, 4),
        event(
            "gen_ai.choice",
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "tool_calls": [CALL_1]},
            },
            5,
        ),
    ]

    inputs, outputs = messages_from_log_events(events)

    assert inputs == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": image_content},
        {"role": "assistant", "tool_calls": [CALL_0]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_0"},
    ]
    assert outputs == [{"role": "assistant", "tool_calls": [CALL_1], "finish_reason": "tool_calls"}]


def test_choices_are_ordered_by_index() -> None:
    events = [
        event("gen_ai.user.message", {"content": "hi"}),
        event("gen_ai.choice", {"index": 1, "finish_reason": "stop", "message": {"content": "second"}}),
        event("gen_ai.choice", {"index": 0, "finish_reason": "length", "message": {"content": "first"}}),
    ]

    inputs, outputs = messages_from_log_events(events)

    assert inputs == [{"role": "user", "content": "hi"}]
    assert outputs == [
        {"role": "assistant", "content": "first", "finish_reason": "length"},
        {"role": "assistant", "content": "second", "finish_reason": "stop"},
    ]


def test_content_capture_disabled_keeps_the_turns() -> None:
    """Without content capture the bodies are empty or hold only ids: the roles still tell the story."""
    no_arguments = {"id": "call_0", "type": "function", "function": {"name": "get_weather"}}
    events = [
        event("gen_ai.user.message", None),
        event("gen_ai.assistant.message", {"tool_calls": [no_arguments]}),
        event("gen_ai.tool.message", {"id": "call_0"}),
        event("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"role": "assistant"}}),
    ]

    inputs, outputs = messages_from_log_events(events)

    assert inputs == [
        {"role": "user"},
        {
            "role": "assistant",
            "tool_calls": [CALL_0 | {"function": {"name": "get_weather", "arguments": ""}}],
        },
        {"role": "tool", "tool_call_id": "call_0"},
    ]
    assert outputs == [{"role": "assistant", "finish_reason": "stop"}]


def test_event_name_in_attribute_and_json_string_body() -> None:
    events: list[dict[str, Any]] = [
        {
            "time_unix_nano": 1,
            "body": '{"content": "hi"}',
            "attributes": {"event.name": "gen_ai.user.message"},
        },
        {
            "event_name": "",
            "body": {"content": "also hi"},
            "attributes": {"event.name": "gen_ai.user.message"},
        },
        {
            "event_name": None,
            "body": "plain text body",
            "attributes": {"event.name": "gen_ai.system.message"},
        },
    ]

    inputs, outputs = messages_from_log_events(events)

    assert inputs == [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "also hi"},
        {"role": "system", "content": "plain text body"},
    ]
    assert outputs is None


def test_role_in_body_and_other_roles() -> None:
    events = [
        event("gen_ai.developer.message", {"content": "Answer in French."}),
        event("gen_ai.user.message", {"content": "Bonjour", "role": "user", "name": "alice"}),
        # OpenLLMetry names unknown roles gen_ai.user.message and keeps the role in the body.
        event("gen_ai.user.message", {"content": "legacy", "role": "function"}),
    ]

    inputs, _ = messages_from_log_events(events)

    assert inputs == [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "Bonjour", "name": "alice"},
        {"role": "function", "content": "legacy"},
    ]


def test_openllmetry_choice_with_tool_calls_beside_the_message() -> None:
    events = [
        event(
            "gen_ai.choice",
            {"index": 0, "message": {"content": None}, "finish_reason": "tool_calls", "tool_calls": [CALL_1]},
        )
    ]

    _, outputs = messages_from_log_events(events)

    assert outputs == [{"role": "assistant", "tool_calls": [CALL_1], "finish_reason": "tool_calls"}]


def test_current_inference_details_event() -> None:
    """util-genai's single event: messages as structured attributes, blobs as bytes."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system_instructions": ({"content": "Be brief.", "type": "text"},),
        "gen_ai.input.messages": (
            {
                "role": "user",
                "parts": (
                    {"content": "Look:", "type": "text"},
                    {"mime_type": "image/png", "modality": "image", "content": b"\x89PNG", "type": "blob"},
                    {"mime_type": "audio/wav", "modality": "audio", "content": b"RIFF", "type": "blob"},
                ),
                "name": None,
            },
        ),
        "gen_ai.output.messages": (
            {"role": "assistant", "parts": ({"content": "A cat.", "type": "text"},), "finish_reason": "stop"},
        ),
    }
    events = [
        event("gen_ai.user.message", {"content": "ignored: the details event is complete"}),
        {
            "event_name": "gen_ai.client.inference.operation.details",
            "time_unix_nano": 9,
            "body": None,
            "attributes": attributes,
        },
    ]

    inputs, outputs = messages_from_log_events(events)

    assert inputs == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            ],
        },
    ]
    assert outputs == [{"role": "assistant", "content": "A cat.", "finish_reason": "stop"}]


def test_unrelated_and_empty() -> None:
    assert messages_from_log_events([]) == (None, None)
    assert messages_from_log_events([event("app.log", {"content": "x"}), event(None, "x")]) == (None, None)


@pytest.mark.parametrize(
    "events",
    [
        [None, 3, "gen_ai.user.message", [], {"event_name": 5}],
        [{"event_name": "gen_ai.choice", "body": {"index": "x", "message": "not a dict"}}],
        [{"event_name": "gen_ai.assistant.message", "body": {"tool_calls": "nope", "content": {"a": 1}}}],
        [{"event_name": "gen_ai.client.inference.operation.details", "attributes": "nope", "body": [1]}],
        [{"event_name": "gen_ai.tool.message", "attributes": None, "body": '{"broken'}],
    ],
)
def test_malformed_events_never_raise(events: list[Any]) -> None:
    inputs, outputs = messages_from_log_events(events)

    for messages in (inputs, outputs):
        assert messages is None or all(isinstance(m, dict) and "role" in m for m in messages)


def test_not_a_list_never_raises() -> None:
    assert messages_from_log_events(None) == (None, None)  # type: ignore[arg-type]


def test_blocks_that_are_not_openai_parts_become_json_text() -> None:
    events = [
        event("gen_ai.assistant.message", {"content": {"kind": "thought", "text_len": 3}}),
        event(
            "gen_ai.user.message",
            {"content": [{"type": "text", "text": "see"}, {"type": "tool_use", "id": "t1"}]},
        ),
    ]

    inputs, _ = messages_from_log_events(events)

    assert inputs == [
        {"role": "assistant", "content": '{"kind":"thought","text_len":3}'},
        {"role": "user", "content": 'see\n{"type":"tool_use","id":"t1"}'},
    ]
