"""OpenAI chat messages → OTel GenAI "parts" messages (``gen_ai.input.messages`` / ``gen_ai.output.messages``).

The shapes follow the current GenAI conventions: ``{"role", "parts": [...], "name"?}`` with parts
``text`` (``content``), ``tool_call`` (``id``, ``name``, ``arguments``), ``tool_call_response``
(``id``, ``response``), ``uri`` / ``blob`` (``modality``, ``mime_type``) and ``file``. Choices made so
the collector can rebuild the request exactly:

- tool-call ``arguments`` stay the string the model produced (parsing and re-serializing would change
  its spacing, and a replay would then send different bytes);
- an image's OpenAI ``detail`` is kept on its part;
- one leading ``system`` message goes to ``gen_ai.system_instructions`` (the collector puts it back in
  front); any other system or developer message stays in place.

Every text passes through the content policy's redaction first. Messages arrive as dicts or as the
``openai`` package's pydantic objects (a previous reply passed back in), both are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Redact", "as_dict", "content_parts", "input_messages", "output_message", "split_system", "text_of"]

Redact = Callable[[str], str]
_FINISH_REASONS = {"tool_calls": "tool_call"}  # the GenAI spelling; the collector maps it back


def as_dict(value: Any) -> Any:
    """A plain dict for a pydantic object (as the ``openai`` client would send it); anything else as is."""
    dump = getattr(value, "model_dump", None)
    if dump is not None and not isinstance(value, type):
        return dump(mode="json", exclude_unset=True)
    return value


def text_of(content: Any) -> str | None:
    """The text of OpenAI content (a string or a list of text parts), None if it has none."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in map(as_dict, content) if isinstance(part, dict)]
        joined = [text for text in texts if isinstance(text, str)]
        return "\n".join(joined) if joined else None
    return None


def split_system(messages: list[Any]) -> tuple[str | None, list[Any]]:
    """(text of a leading system message, the other messages); only a plain-text system message moves."""
    if messages:
        first = as_dict(messages[0])
        if isinstance(first, dict) and first.get("role") == "system" and isinstance(first.get("content"), str):
            return first["content"], messages[1:]
    return None, messages


def input_messages(messages: Iterable[Any], redact: Redact) -> list[dict[str, Any]]:
    """GenAI input messages of OpenAI chat ``messages``."""
    converted = []
    for raw in messages:
        msg = as_dict(raw)
        if isinstance(msg, dict):
            converted.append(_input_message(msg, redact))
    return converted


def _input_message(msg: dict[str, Any], redact: Redact) -> dict[str, Any]:
    role = msg.get("role") or "user"
    if role in ("tool", "function"):
        response = text_of(msg.get("content"))
        part = {"type": "tool_call_response", "id": msg.get("tool_call_id"), "response": _redacted(response, redact)}
        return {"role": "tool", "parts": [part]}
    parts = content_parts(msg.get("content"), redact)
    for call in msg.get("tool_calls") or ():
        parts.append(_tool_call_part(as_dict(call), redact))
    function_call = as_dict(msg.get("function_call"))
    if isinstance(function_call, dict):  # the pre-tools API: one call, no id
        parts.append(_call_part(None, function_call.get("name"), function_call.get("arguments"), redact))
    converted: dict[str, Any] = {"role": role, "parts": parts}
    if msg.get("name") is not None:
        converted["name"] = msg["name"]
    return converted


def _redacted(text: str | None, redact: Redact) -> str | None:
    return redact(text) if text else text


def content_parts(content: Any, redact: Redact) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": redact(content)}]
    parts = []
    for raw in content if isinstance(content, list) else [content]:
        part = _content_part(as_dict(raw), redact)
        if part is not None:
            parts.append(part)
    return parts


def _content_part(part: Any, redact: Redact) -> dict[str, Any] | None:
    if isinstance(part, str):
        return {"type": "text", "content": redact(part)}
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text", "refusal"):
        text = part.get("text", part.get("refusal"))
        return {"type": "text", "content": redact(text) if isinstance(text, str) else ""}
    if kind in ("image_url", "input_image"):
        return _image_part(part)
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        mime = f"audio/{audio.get('format') or 'wav'}"
        return {"type": "blob", "modality": "audio", "mime_type": mime, "content": audio.get("data")}
    if kind in ("file", "input_file"):
        nested = part.get("file")
        file: dict[str, Any] = nested if isinstance(nested, dict) else part
        if file.get("file_id"):
            return {"type": "file", "file_id": file["file_id"]}
        return _data_url_part(file.get("file_data"), "file", None)
    return None


def _image_part(part: dict[str, Any]) -> dict[str, Any] | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    detail = image.get("detail") if isinstance(image, dict) else part.get("detail")
    if not isinstance(url, str):
        return None
    if url.startswith("data:"):
        return _data_url_part(url, "image", detail)
    converted: dict[str, Any] = {"type": "uri", "modality": "image", "uri": url}
    if detail is not None:
        converted["detail"] = detail
    return converted


def _data_url_part(url: Any, modality: str, detail: Any) -> dict[str, Any] | None:
    """``data:<mime>;base64,<data>`` → a blob part (base64 text, as span attributes carry it)."""
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        return None
    header, _, data = url.partition(",")
    mime = header[5:].split(";", 1)[0] or "application/octet-stream"
    part: dict[str, Any] = {"type": "blob", "modality": modality, "mime_type": mime, "content": data}
    if detail is not None:
        part["detail"] = detail
    return part


def _tool_call_part(call: Any, redact: Redact) -> dict[str, Any]:
    if not isinstance(call, dict):
        return _call_part(None, None, None, redact)
    function = as_dict(call.get("function"))
    function = function if isinstance(function, dict) else {}
    return _call_part(call.get("id"), function.get("name"), function.get("arguments"), redact)


def _call_part(call_id: Any, name: Any, arguments: Any, redact: Redact) -> dict[str, Any]:
    args = redact(arguments) if isinstance(arguments, str) and arguments else arguments
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": args}


def output_message(
    role: str | None,
    text: str | None,
    calls: Iterable[tuple[Any, Any, Any]],
    finish_reason: str | None,
    redact: Redact,
) -> dict[str, Any]:
    """One GenAI output message from a choice's text and ``(id, name, arguments)`` tool calls."""
    parts: list[dict[str, Any]] = []
    if text is not None:
        parts.append({"type": "text", "content": redact(text) if text else text})
    for call_id, name, arguments in calls:
        parts.append(_call_part(call_id, name, arguments, redact))
    message: dict[str, Any] = {"role": role or "assistant", "parts": parts}
    if finish_reason is not None:
        message["finish_reason"] = _FINISH_REASONS.get(finish_reason, finish_reason)
    return message
