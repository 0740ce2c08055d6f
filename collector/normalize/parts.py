"""OTel GenAI "parts" messages → OpenAI chat messages.

The current GenAI conventions carry messages as ``[{"role", "parts": [...], "name"?,
"finish_reason"?}]`` (JSON on spans, structured values on log events). Part types and what they
become:

- ``text`` → a text part (content collapses to a string when only text remains);
- ``tool_call`` → an entry of the message's ``tool_calls`` (arguments serialized to JSON);
- ``tool_call_response`` → its own ``{"role": "tool", "tool_call_id", "content"}`` message, placed
  before the rest of the message (a response answers the previous assistant turn);
- ``uri``/``blob`` images → ``image_url`` parts (blobs as ``data:`` URLs; a ``detail`` key, which
  spanlab's instrumentor adds for OpenAI's image detail, is kept), audio blobs →
  ``input_audio``, other blobs and ``file`` ids → ``file`` parts;
- ``reasoning``, server-side tool parts, ``compaction`` and unknown types are dropped: a chat
  request cannot send them back, and the raw attributes keep them anyway.
"""

from __future__ import annotations

import base64
from typing import Any

from collector.normalize.attrs import INVALID, SEQUENCE, as_str, dumps, parse_json
from collector.normalize.messages import (
    finish_reason,
    image_part,
    message,
    openai_message,
    text_part,
    tool_call,
)


def genai_messages(raw: Any, *, output: bool = False) -> list[dict[str, Any]] | None:
    """OpenAI messages from a GenAI messages value (JSON string or list); None if unusable.

    Items that are already OpenAI-shaped (no ``parts``) are accepted too, since some SDKs put
    those under the GenAI keys.
    """
    parsed = parse_json(raw)
    if not isinstance(parsed, SEQUENCE):
        return None
    default_role = "assistant" if output else "user"
    converted: list[dict[str, Any]] = []
    for item in parsed:
        if isinstance(item, dict):
            _convert_message(item, default_role, output, converted)
    return converted or None


def system_message(raw: Any) -> dict[str, Any] | None:
    """The leading system message from ``gen_ai.system_instructions`` (parts, JSON or text)."""
    parsed = parse_json(raw)
    if parsed is INVALID:
        return message("system", raw) if isinstance(raw, str) else None
    if isinstance(parsed, str):
        return message("system", parsed)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, SEQUENCE):
        return None
    content = _content(parsed, [], [])
    return {"role": "system", "content": content} if content is not None else None


def _convert_message(item: dict[str, Any], default_role: str, output: bool, into: list[dict[str, Any]]) -> None:
    """Append the OpenAI message(s) of one GenAI message to ``into``."""
    parts = item.get("parts")
    if not isinstance(parts, SEQUENCE):
        converted = openai_message(item, default_role=default_role)
        if converted is not None:
            into.append(converted)
        return
    calls: list[dict[str, Any]] = []
    size = len(into)
    content = _content(parts, calls, into)
    if content is None and not calls and len(into) > size:
        return  # only tool responses: nothing left for a message of this role
    role = item.get("role")
    msg: dict[str, Any] = {"role": role if isinstance(role, str) and role else default_role}
    if content is not None:
        msg["content"] = content
    if calls:
        msg["tool_calls"] = calls
    if item.get("name") is not None:
        msg["name"] = as_str(item["name"])
    if output and item.get("finish_reason") is not None:
        msg["finish_reason"] = finish_reason(item["finish_reason"])
    into.append(msg)


def _content(
    parts: list[Any] | tuple[Any, ...], calls: list[dict[str, Any]], responses: list[dict[str, Any]]
) -> str | list[dict[str, Any]] | None:
    """OpenAI content of GenAI parts; tool calls and tool responses go to the two lists."""
    texts: list[str] = []
    rich: list[dict[str, Any]] | None = None  # every part, once a non-text one shows up
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text = part.get("content")
            text = text if isinstance(text, str) else as_str(text) or ""
            texts.append(text)
            if rich is not None:
                rich.append(text_part(text))
        elif kind == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            response = part.get("response")
            text = response if isinstance(response, str) or response is None else dumps(response)
            responses.append(message("tool", text, tool_call_id=as_str(part.get("id"))))
        elif (media := _media_part(part)) is not None:
            rich = rich if rich is not None else [text_part(t) for t in texts]
            rich.append(media)
    if rich is not None:
        return rich
    if not texts:
        return None
    return texts[0] if len(texts) == 1 else "\n".join(texts)


def _media_part(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "uri":
        uri = as_str(part.get("uri"))
        return image_part(uri, part.get("detail")) if uri is not None and _is_image(part) else None
    if kind == "blob":
        return _blob_part(part)
    if kind == "file":
        file_id = as_str(part.get("file_id"))
        return {"type": "file", "file": {"file_id": file_id}} if file_id is not None else None
    return None


def _blob_part(part: dict[str, Any]) -> dict[str, Any] | None:
    data = part.get("content")
    if isinstance(data, bytes):
        encoded = base64.b64encode(data).decode("ascii")
    elif isinstance(data, str) and data:
        encoded = data  # span attributes carry blobs already base64-encoded
    else:
        return None
    mime = as_str(part.get("mime_type")) or "application/octet-stream"
    if _is_image(part):
        return image_part(f"data:{mime};base64,{encoded}", part.get("detail"))
    if _modality(part) == "audio" or mime.startswith("audio/"):
        audio_format = mime.rpartition("/")[2] or "wav"
        return {"type": "input_audio", "input_audio": {"data": encoded, "format": audio_format}}
    return {"type": "file", "file": {"file_data": f"data:{mime};base64,{encoded}"}}


def _modality(part: dict[str, Any]) -> str | None:
    modality = part.get("modality")
    return modality.lower() if isinstance(modality, str) else None


def _is_image(part: dict[str, Any]) -> bool:
    mime = part.get("mime_type")
    return _modality(part) == "image" or (isinstance(mime, str) and mime.startswith("image/"))
