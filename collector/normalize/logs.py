"""GenAI log events → OpenAI chat messages.

Deployed GenAI instrumentations (``opentelemetry-instrumentation-openai-v2`` in its default
mode, OpenLLMetry with ``use_legacy_attributes=False``) keep the span free of content and emit
one log record per message instead:

- ``gen_ai.{system,user,assistant,tool}.message`` with body ``{"content", "tool_calls"?,
  "id"? (tool messages: the tool call id), "role"? (when it differs from the event name)}``;
- ``gen_ai.choice`` with body ``{"index", "finish_reason", "message": {"role"?, "content"?,
  "tool_calls"?}}`` (OpenLLMetry puts ``tool_calls`` next to ``message``).

The current conventions emit a single ``gen_ai.client.inference.operation.details`` record
whose attributes hold ``gen_ai.input.messages``/``gen_ai.output.messages``/
``gen_ai.system_instructions`` as structured values; that is read too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from collector.normalize.attrs import INVALID, as_int, as_str, parse_json
from collector.normalize.messages import (
    finish_reason,
    message,
    openai_content,
    openai_message,
    openai_tool_calls,
)
from collector.normalize.parts import genai_messages, system_message
from instrumentation import semconv as sc

_log = logging.getLogger(__name__)

MESSAGE_EVENT_ROLES = {
    sc.GEN_AI_SYSTEM_MESSAGE_EVENT: "system",
    sc.GEN_AI_USER_MESSAGE_EVENT: "user",
    sc.GEN_AI_ASSISTANT_MESSAGE_EVENT: "assistant",
    sc.GEN_AI_TOOL_MESSAGE_EVENT: "tool",
}
"""Legacy per-message event names and the role each implies."""

Messages = list[dict[str, Any]]


def messages_from_log_events(events: list[dict[str, Any]]) -> tuple[Messages | None, Messages | None]:
    """(input messages, output messages) from the log events of one span, in time order.

    Each event is ``{"event_name", "time_unix_nano", "body", "attributes"}``; the name may also
    be in the ``event.name`` attribute (older SDKs). Unrelated events are ignored, a malformed
    one is skipped, and a side with no messages is None. Never raises.
    """
    inputs: Messages = []
    choices: list[tuple[int, dict[str, Any]]] = []
    details: tuple[Messages | None, Messages | None] = (None, None)
    for position, event in enumerate(events if isinstance(events, Sequence) else ()):
        try:
            if not isinstance(event, dict):
                continue
            name = _event_name(event)
            role = message_event_role(name)
            if role is not None:
                inputs.append(event_message(event.get("body"), role))
            elif name == sc.GEN_AI_CHOICE_EVENT:
                choices.append(choice_message(event.get("body"), position))
            elif name == sc.GEN_AI_INFERENCE_DETAILS_EVENT:
                details = _details_messages(event)
        except Exception:
            _log.debug("skipping malformed GenAI log event", exc_info=True)
    # The single details event, when present, is the complete record of the exchange.
    outputs = [msg for _, msg in sorted(choices, key=lambda item: item[0])]
    return details[0] or inputs or None, details[1] or outputs or None


def message_event_role(name: str | None) -> str | None:
    """The role a ``gen_ai.{role}.message`` event name implies (any role, e.g. developer)."""
    if name is None:
        return None
    role = MESSAGE_EVENT_ROLES.get(name)
    if role is None and name.startswith("gen_ai.") and name.endswith(".message"):
        middle = name[len("gen_ai.") : -len(".message")]
        role = middle if middle and "." not in middle else None
    return role


def _event_name(event: Mapping[str, Any]) -> str | None:
    name = event.get("event_name")
    if not name:
        attributes = event.get("attributes")
        name = attributes.get(sc.EVENT_NAME) if isinstance(attributes, dict) else None
    return name if isinstance(name, str) else None


def _body(raw: Any) -> Any:
    # Some SDKs send the body as a JSON string rather than a structured value.
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        parsed = parse_json(raw)
        return raw if parsed is INVALID else parsed
    return raw


def event_message(raw_body: Any, role: str) -> dict[str, Any]:
    """One message from a ``gen_ai.*.message`` event body; an empty body keeps the turn."""
    body = _body(raw_body)
    if not isinstance(body, dict):
        return message(role, openai_content(body))
    role = as_str(body.get("role")) or role
    tool_call_id = as_str(body.get("id") or body.get("tool_call_id")) if role == "tool" else None
    return message(
        role,
        openai_content(body.get("content")),
        tool_calls=openai_tool_calls(body.get("tool_calls")),
        tool_call_id=tool_call_id,
        name=as_str(body.get("name")),
    )


def choice_message(raw_body: Any, default_index: int) -> tuple[int, dict[str, Any]]:
    """(choice index, output message) from a ``gen_ai.choice`` body."""
    body = _body(raw_body)
    if not isinstance(body, dict):
        return default_index, message("assistant", openai_content(body))
    index = as_int(body.get("index"))
    msg = openai_message(body.get("message"), default_role="assistant") or message("assistant")
    if "tool_calls" not in msg:
        tool_calls = openai_tool_calls(body.get("tool_calls"))
        if tool_calls:
            msg["tool_calls"] = tool_calls
    reason = finish_reason(body.get("finish_reason"))
    if reason is not None:
        msg["finish_reason"] = reason
    return (index if index is not None else default_index), msg


def _details_messages(event: Mapping[str, Any]) -> tuple[Messages | None, Messages | None]:
    attributes = event.get("attributes")
    source = attributes if isinstance(attributes, dict) else {}
    body = _body(event.get("body"))
    if sc.GEN_AI_INPUT_MESSAGES not in source and isinstance(body, dict):
        source = body
    inputs = genai_messages(source.get(sc.GEN_AI_INPUT_MESSAGES))
    system = system_message(source.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS))
    if system is not None:
        inputs = [system, *(inputs or ())]
    return inputs, genai_messages(source.get(sc.GEN_AI_OUTPUT_MESSAGES), output=True)
