"""Responses API wire format: the `response` object and its typed stream events.

A stream goes `response.created`, `response.in_progress`, then per output item
`response.output_item.added` ... `response.output_item.done` (a message has content-part and
`response.output_text.delta`/`.done` events, a function call has `response.function_call_arguments.*`
events), and ends with `response.completed` (or `response.incomplete` when max tokens cut the text).
Every event carries `type` and a `sequence_number` counting from 0; there is no `[DONE]` sentinel.
Only the first choice of a `Completion` is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .completion import ChoiceOutput, Completion, argument_fragments, new_id
from .replies import Usage
from .request_view import RequestView, split_tokens

__all__ = ["response_events", "response_object"]


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _echo_tools(request: dict[str, Any]) -> list[Any]:
    return [
        {"description": None, "strict": True, **tool} if tool.get("type") == "function" else tool
        for tool in request.get("tools") or []
        if isinstance(tool, dict)
    ]


def _output_items(choice: ChoiceOutput) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if choice.content is not None:
        status = "incomplete" if choice.finish_reason == "length" else "completed"
        part = {"type": "output_text", "text": choice.content, "annotations": [], "logprobs": []}
        items.append(
            {
                "id": new_id("msg_"),
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [part],
            }
        )
    items += [
        {
            "id": new_id("fc_"),
            "type": "function_call",
            "status": "completed",
            "call_id": call.id,
            "name": call.name,
            "arguments": call.arguments,
        }
        for call in choice.tool_calls
    ]
    return items


@dataclass
class _Response:
    """One response's identity, shared by all its events and its final object."""

    completion: Completion
    view: RequestView
    request: dict[str, Any]
    id: str = field(default_factory=lambda: new_id("resp_"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def final_status(self) -> str:
        return "incomplete" if self.completion.choices[0].finish_reason == "length" else "completed"

    def json(self, status: str, output: list[dict[str, Any]], usage: Usage | None) -> dict[str, Any]:
        request = self.request
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": request.get("instructions"),
            "max_output_tokens": self.view.max_tokens,
            "model": self.view.model,
            "output": output,
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": request.get("store", True),
            "temperature": request.get("temperature", 1.0),
            "text": request.get("text") or {"format": {"type": "text"}},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": _echo_tools(request),
            "top_p": request.get("top_p", 1.0),
            "truncation": request.get("truncation", "disabled"),
            "usage": _usage_json(usage) if usage else None,
            "user": request.get("user"),
            "metadata": request.get("metadata") or {},
        }


def response_object(completion: Completion, view: RequestView, request: dict[str, Any]) -> dict[str, Any]:
    """The non-streamed `response` body."""
    response = _Response(completion, view, request)
    output = _output_items(completion.choices[0])
    return response.json(response.final_status, output, completion.usage)


class _EventLog(list[dict[str, Any]]):
    def emit(self, type_: str, **fields: Any) -> None:
        self.append({"type": type_, "sequence_number": len(self), **fields})


def response_events(completion: Completion, view: RequestView, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream events of a response, in order."""
    response = _Response(completion, view, request)
    output = _output_items(completion.choices[0])
    events = _EventLog()
    pending = response.json("in_progress", [], None)
    events.emit("response.created", response=pending)
    events.emit("response.in_progress", response=pending)
    for index, item in enumerate(output):
        if item["type"] == "message":
            _message_events(events, index, item)
        else:
            _function_call_events(events, index, item)
    status = response.final_status
    events.emit(f"response.{status}", response=response.json(status, output, completion.usage))
    return events


def _message_events(events: _EventLog, index: int, item: dict[str, Any]) -> None:
    ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
    part = item["content"][0]
    events.emit(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "content": []},
    )
    events.emit("response.content_part.added", **ids, part={**part, "text": ""})
    for token in split_tokens(part["text"]):
        events.emit("response.output_text.delta", **ids, delta=token, logprobs=[])
    events.emit("response.output_text.done", **ids, text=part["text"], logprobs=[])
    events.emit("response.content_part.done", **ids, part=part)
    events.emit("response.output_item.done", output_index=index, item=item)


def _function_call_events(events: _EventLog, index: int, item: dict[str, Any]) -> None:
    ids = {"item_id": item["id"], "output_index": index}
    events.emit(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "arguments": ""},
    )
    for fragment in argument_fragments(item["arguments"]):
        events.emit("response.function_call_arguments.delta", **ids, delta=fragment)
    events.emit("response.function_call_arguments.done", **ids, name=item["name"], arguments=item["arguments"])
    events.emit("response.output_item.done", output_index=index, item=item)
