"""Building OpenAI chat messages, tool calls and tools from loosely shaped input.

Every convention ends up here, so the output shape is decided in one place:

- a message is ``{"role", "content", "tool_calls", "tool_call_id", "name"}`` (+ ``finish_reason``
  on outputs) with None-valued keys left out;
- ``content`` is a string, a list of OpenAI parts, or None; a list holding only text parts
  collapses to one string (parts joined by a newline);
- a tool call is ``{"id", "type": "function", "function": {"name", "arguments": str}}``; arguments
  that arrive structured are serialized to JSON, missing ones become ``""`` (never invented);
- a tool is ``{"type": "function", "function": {"name", "description", "parameters"}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collector.normalize.attrs import INVALID, SEQUENCE, as_str, dumps, parse_json

# GenAI finish reasons that differ from OpenAI's; the rest (stop, length, ...) are shared.
_FINISH_REASONS = {"tool_call": "tool_calls", "function_call": "function_call"}
# Part types that carry plain text under "text" in OpenAI-family APIs (chat, Responses).
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
OPENAI_PART_TYPES = _TEXT_PART_TYPES | {"image_url", "input_image", "input_audio", "file", "refusal"}
"""Content part types of OpenAI's chat and Responses APIs."""


def message(
    role: str | None,
    content: Any = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    tool_call_id: str | None = None,
    name: str | None = None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """An OpenAI chat message with the None-valued keys left out (role defaults to "user")."""
    msg: dict[str, Any] = {"role": role or "user"}
    if content is not None:
        msg["content"] = content
    if tool_calls:
        msg["tool_calls"] = tool_calls
    if tool_call_id is not None:
        msg["tool_call_id"] = tool_call_id
    if name is not None:
        msg["name"] = name
    if finish_reason is not None:
        msg["finish_reason"] = finish_reason
    return msg


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """An OpenAI tool call; non-string arguments are serialized to JSON."""
    if arguments is None:
        args = ""
    elif isinstance(arguments, str):
        args = arguments
    else:
        args = dumps(arguments)
    function = {"name": name if isinstance(name, str) else as_str(name) or "", "arguments": args}
    call_id = call_id if isinstance(call_id, str) and call_id else as_str(call_id)
    if call_id is None:
        return {"type": "function", "function": function}
    return {"id": call_id, "type": "function", "function": function}


def finish_reason(value: Any) -> str | None:
    """OpenAI's spelling of a finish reason (GenAI says ``tool_call``, OpenAI ``tool_calls``)."""
    reason = as_str(value)
    return _FINISH_REASONS.get(reason, reason) if reason is not None else None


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_part(url: str, detail: Any = None) -> dict[str, Any]:
    image: dict[str, Any] = {"url": url}
    if isinstance(detail, str):
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]] | None:
    """Parts as OpenAI content: None if empty, one string if every part is text."""
    if not parts:
        return None
    if all(part.get("type") == "text" for part in parts):
        return "\n".join(str(part.get("text", "")) for part in parts)
    return parts


def openai_content(content: Any) -> str | list[dict[str, Any]] | None:
    """Normalize OpenAI-shaped content: a string, a list of parts/strings, or one part."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, SEQUENCE):
        parts = [p for p in (_openai_part(item) for item in content) if p is not None]
        return collapse(parts)
    return as_str(content)


def _openai_part(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return text_part(item)
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind in _TEXT_PART_TYPES or (kind is None and "text" in item):
        return text_part(as_str(item.get("text")) or "")
    if kind in ("image_url", "input_image"):
        image = item.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        detail = image.get("detail") if isinstance(image, dict) else item.get("detail")
        return image_part(url, detail) if isinstance(url, str) else None
    if kind in OPENAI_PART_TYPES:  # input_audio, file, refusal: already in the target shape
        return dict(item)
    # Not an OpenAI part (another provider's block, a bare object): keep it visible as JSON text.
    return text_part(dumps(item))


def openai_tool_calls(raw: Any) -> list[dict[str, Any]] | None:
    """Normalize a list of OpenAI tool calls, also accepting the flat ``{id, name, arguments}``."""
    if not isinstance(raw, SEQUENCE):
        return None
    calls = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        function = item.get("function")
        source = function if isinstance(function, dict) else item
        calls.append(tool_call(item.get("id"), source.get("name"), source.get("arguments")))
    return calls or None


def openai_message(raw: Any, *, default_role: str | None = None) -> dict[str, Any] | None:
    """Sanitize one OpenAI-shaped message dict (extra keys dropped, None keys omitted)."""
    if not isinstance(raw, dict):
        return None
    tool_calls = openai_tool_calls(raw.get("tool_calls"))
    function_call = raw.get("function_call")
    if tool_calls is None and isinstance(function_call, dict):
        # The pre-tools function-calling API: one call, no id.
        tool_calls = [tool_call(None, function_call.get("name"), function_call.get("arguments"))]
    return message(
        as_str(raw.get("role")) or default_role,
        openai_content(raw.get("content")),
        tool_calls=tool_calls,
        tool_call_id=as_str(raw.get("tool_call_id")),
        name=as_str(raw.get("name")),
        finish_reason=finish_reason(raw.get("finish_reason")),
    )


def openai_messages(raw: Any) -> list[dict[str, Any]] | None:
    """A list of OpenAI messages from a JSON string or list; None if it is not one."""
    parsed = parse_json(raw)
    if parsed is INVALID or not isinstance(parsed, SEQUENCE):
        return None
    messages = [m for m in (openai_message(item) for item in parsed) if m is not None]
    return messages or None


def openai_tool(raw: Any) -> dict[str, Any] | None:
    """An OpenAI tool from any common definition shape.

    Accepts OpenAI chat tools, flat function definitions (GenAI, Responses API:
    ``{"type": "function", "name", "description", "parameters"}``) and Anthropic tools
    (``input_schema``). Built-in tools of other types are kept unchanged.
    """
    parsed = parse_json(raw)
    if not isinstance(parsed, dict):
        return None
    kind = parsed.get("type", "function")
    function = parsed.get("function")
    if isinstance(function, dict):
        return {"type": "function", "function": dict(function)}
    if kind != "function" and "input_schema" not in parsed:
        return dict(parsed)
    if parsed.get("name") is None:
        return None
    spec: dict[str, Any] = {"name": as_str(parsed.get("name"))}
    if parsed.get("description") is not None:
        spec["description"] = parsed.get("description")
    parameters = parsed.get("parameters", parsed.get("input_schema"))
    if parameters is not None:
        parsed_parameters = parse_json(parameters)
        spec["parameters"] = parameters if parsed_parameters is INVALID else parsed_parameters
    if parsed.get("strict") is not None:
        spec["strict"] = parsed.get("strict")
    return {"type": "function", "function": spec}


def openai_tools(raw: Iterable[Any]) -> list[dict[str, Any]] | None:
    tools = [t for t in (openai_tool(item) for item in raw) if t is not None]
    return tools or None


def message_text(msg: Mapping[str, Any]) -> str | None:
    """Human-readable text of a message: its text content, else its tool calls as ``f(args)``."""
    content = msg.get("content")
    if isinstance(content, str) and content:
        return content
    if isinstance(content, SEQUENCE):
        texts = [str(p.get("text")) for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if texts:
            return "\n".join(texts)
    calls = msg.get("tool_calls") or ()
    rendered = [f"{c['function']['name']}({c['function']['arguments']})" for c in calls]
    return "\n".join(rendered) or None


def last_user_text(messages: list[dict[str, Any]] | None) -> str | None:
    """Text of the last user message, else of the last message (for display and search)."""
    if not messages:
        return None
    for msg in reversed(messages):
        if msg.get("role") == "user":
            text = message_text(msg)
            if text is not None:
                return text
    return message_text(messages[-1])


def first_output_text(messages: list[dict[str, Any]] | None) -> str | None:
    """Text of the first output message that has any."""
    for msg in messages or ():
        text = message_text(msg)
        if text is not None:
            return text
    return None
