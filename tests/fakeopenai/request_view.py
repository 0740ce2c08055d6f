"""Read what the fake needs from a chat-completions or Responses API request body.

The fake never rejects unusual shapes it does not understand: unknown fields are ignored, and text
is gathered from plain strings and `text` / `input_text` content parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Endpoint", "RequestView", "count_tokens", "embedding_inputs", "split_tokens"]

Endpoint = Literal["chat", "responses", "embeddings"]

_TOKEN = re.compile(r"\S+\s*|\s+")


def split_tokens(text: str) -> list[str]:
    """Split text into the fake's "tokens": words with their trailing whitespace (joins back exactly)."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return len(split_tokens(text))


@dataclass(frozen=True)
class RequestView:
    """The parts of a generation request that shape the fake's reply."""

    model: str
    user_text: str
    prompt_tokens: int
    stream: bool = False
    n: int = 1
    include_usage: bool = False
    max_tokens: int | None = None
    json_format: dict[str, Any] | None = None
    tools: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    @classmethod
    def of(cls, endpoint: Endpoint, body: dict[str, Any]) -> RequestView:
        """Read `body` as sent to `endpoint`; fields of the wrong type count as absent."""
        if endpoint == "responses":
            return _responses_view(body)
        if endpoint == "chat":
            return _chat_view(body)
        texts = _embedding_texts(body.get("input"))
        return cls(
            model=str(body.get("model", "")),
            user_text=" ".join(texts),
            prompt_tokens=sum(map(count_tokens, texts)),
        )


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """The texts of an embeddings request, one per vector; token-id arrays become their digits."""
    return _embedding_texts(body.get("input"))


def _embedding_texts(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [" ".join(map(str, raw))]
    if isinstance(raw, list):
        return [t if isinstance(t, str) else " ".join(map(str, t)) for t in raw]
    return []


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text")
        )
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _chat_view(body: dict[str, Any]) -> RequestView:
    messages = body.get("messages") or []
    texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    fmt = body.get("response_format") or {}
    json_format: dict[str, Any] | None = None
    if fmt.get("type") == "json_schema":
        json_format = {"type": "json_schema", "schema": (fmt.get("json_schema") or {}).get("schema") or {}}
    elif fmt.get("type") == "json_object":
        json_format = {"type": "json_object"}
    tools = {
        t["function"]["name"]: t["function"].get("parameters")
        for t in body.get("tools") or []
        if isinstance(t, dict) and "function" in t
    }
    return RequestView(
        model=str(body.get("model", "")),
        user_text=_last_user_text(messages),
        prompt_tokens=sum(map(count_tokens, texts)),
        stream=bool(body.get("stream")),
        n=_positive_int(body.get("n")) or 1,
        include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        max_tokens=_positive_int(body.get("max_completion_tokens")) or _positive_int(body.get("max_tokens")),
        json_format=json_format,
        tools=tools,
    )


def _responses_view(body: dict[str, Any]) -> RequestView:
    raw_input = body.get("input")
    items = [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else raw_input or []
    texts = [_text_of(i.get("content")) for i in items if isinstance(i, dict)]
    texts.append(_text_of(body.get("instructions")))
    fmt = (body.get("text") or {}).get("format") or {}
    json_format: dict[str, Any] | None = None
    if fmt.get("type") == "json_schema":
        json_format = {"type": "json_schema", "schema": fmt.get("schema") or {}}
    elif fmt.get("type") == "json_object":
        json_format = {"type": "json_object"}
    tools = {
        t["name"]: t.get("parameters")
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function"
    }
    return RequestView(
        model=str(body.get("model", "")),
        user_text=_last_user_text(items),
        prompt_tokens=sum(map(count_tokens, texts)),
        stream=bool(body.get("stream")),
        max_tokens=_positive_int(body.get("max_output_tokens")),
        json_format=json_format,
        tools=tools,
    )
