"""Chat Completions wire format: the `chat.completion` body and `chat.completion.chunk` stream.

A stream is laid out as OpenAI does: per choice a role delta first (`{"role": "assistant",
"content": ""}`), then content deltas (one per word), then per tool call a header delta (index, id,
type, name, empty arguments) followed by argument fragments, then an empty delta carrying
`finish_reason`. Choices are interleaved round-robin when `n > 1`. With `include_usage`, every chunk
has `"usage": null` and a last chunk has `"choices": []` and the usage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import chain, zip_longest
from typing import Any

from .completion import ChoiceOutput, Completion, ResolvedToolCall, argument_fragments, new_id
from .replies import Usage
from .request_view import RequestView, split_tokens

__all__ = ["SYSTEM_FINGERPRINT", "chat_chunks", "chat_completion", "usage_json"]

SYSTEM_FINGERPRINT = "fp_fake0penai"


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _envelope(kind: str, view: RequestView) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl-"),
        "object": kind,
        "created": int(time.time()),
        "model": view.model,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _tool_call_json(call: ResolvedToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def chat_completion(completion: Completion, view: RequestView) -> dict[str, Any]:
    """The non-streamed `chat.completion` body."""
    choices = []
    for index, choice in enumerate(completion.choices):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": choice.content,
            "refusal": None,
            "annotations": [],
        }
        if choice.tool_calls:
            message["tool_calls"] = [_tool_call_json(call) for call in choice.tool_calls]
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": choice.finish_reason})
    body = _envelope("chat.completion", view)
    body.update(choices=choices, usage=usage_json(completion.usage))
    return body


def chat_chunks(completion: Completion, view: RequestView) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a stream, in order (without the `[DONE]` sentinel)."""
    envelope = _envelope("chat.completion.chunk", view)
    if view.include_usage:
        envelope["usage"] = None
    per_choice = [
        list(_choice_deltas(choice, index, completion.interleave)) for index, choice in enumerate(completion.choices)
    ]
    chunks = [{**envelope, "choices": [delta]} for delta in _round_robin(per_choice)]
    if view.include_usage:
        chunks.append({**envelope, "choices": [], "usage": usage_json(completion.usage)})
    return chunks


def _round_robin(tracks: list[list[Any]]) -> Iterator[Any]:
    sentinel = object()
    return (item for item in chain.from_iterable(zip_longest(*tracks, fillvalue=sentinel)) if item is not sentinel)


def _choice_deltas(choice: ChoiceOutput, index: int, interleave: bool) -> Iterator[dict[str, Any]]:
    def wrap(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    yield wrap({"role": "assistant", "content": "" if choice.content is not None else None, "refusal": None})
    tracks = [[{"content": token} for token in split_tokens(choice.content or "")]]
    tracks += [list(_tool_call_deltas(call, k)) for k, call in enumerate(choice.tool_calls)]
    deltas = _round_robin(tracks) if interleave else chain.from_iterable(tracks)
    yield from (wrap(delta) for delta in deltas)
    yield wrap({}, choice.finish_reason)


def _tool_call_deltas(call: ResolvedToolCall, k: int) -> Iterator[dict[str, Any]]:
    yield {
        "tool_calls": [
            {"index": k, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        ]
    }
    for fragment in argument_fragments(call.arguments):
        yield {"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}
