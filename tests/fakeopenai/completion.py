"""Turn a scripted (or default) reply and the request into the generation to send.

Wire-format modules (`chat`, `responses_api`) only lay out a `Completion`; every decision about
text, tool-call arguments, truncation, finish reasons and token counts is made here.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from .replies import ChatReply, ToolCall, Usage
from .request_view import RequestView, count_tokens, split_tokens
from .schema_sample import sample_instance

__all__ = ["ChoiceOutput", "Completion", "ResolvedToolCall", "argument_fragments", "new_id", "resolve"]

_ARGUMENT_FRAGMENT = 8


def new_id(prefix: str) -> str:
    """A fresh OpenAI-looking id such as `chatcmpl-...`, `call_...`, `resp_...`."""
    return prefix + secrets.token_hex(12)


def argument_fragments(arguments: str) -> list[str]:
    """Tool-call arguments as streamed: fixed-size slices of the JSON text."""
    return [arguments[i : i + _ARGUMENT_FRAGMENT] for i in range(0, len(arguments), _ARGUMENT_FRAGMENT)]


@dataclass(frozen=True)
class ResolvedToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChoiceOutput:
    content: str | None
    tool_calls: tuple[ResolvedToolCall, ...]
    finish_reason: str


@dataclass(frozen=True)
class Completion:
    """One generation: `n` choices (Responses API uses the first), usage, and stream layout."""

    choices: tuple[ChoiceOutput, ...]
    usage: Usage
    interleave: bool = False


def default_text(view: RequestView) -> str:
    """The reply when nothing is scripted: an echo, or JSON when the request asked for JSON."""
    text = f"fake reply to: {view.user_text}"
    if view.json_format is None:
        return text
    if view.json_format["type"] == "json_schema":
        return json.dumps(sample_instance(view.json_format["schema"]))
    return json.dumps({"reply": text})


def resolve(reply: ChatReply | None, view: RequestView) -> Completion:
    """Build the completion for `reply` (`None` = default) as answered to `view`."""
    reply = reply or ChatReply()
    choices = tuple(_choice(reply, view) for _ in range(max(1, view.n)))
    usage = reply.usage or Usage(
        prompt_tokens=view.prompt_tokens,
        completion_tokens=sum(_completion_tokens(c) for c in choices),
    )
    return Completion(choices=choices, usage=usage, interleave=reply.interleave)


def _choice(reply: ChatReply, view: RequestView) -> ChoiceOutput:
    content = reply.content
    if content is None and not reply.tool_calls:
        content = default_text(view)
    tool_calls = tuple(_resolve_tool_call(call, view) for call in reply.tool_calls)
    finish_reason = reply.finish_reason or ("tool_calls" if tool_calls else "stop")
    if reply.finish_reason is None and content and view.max_tokens is not None:
        tokens = split_tokens(content)
        if len(tokens) > view.max_tokens:
            return ChoiceOutput("".join(tokens[: view.max_tokens]), (), "length")
    return ChoiceOutput(content, tool_calls, finish_reason)


def _resolve_tool_call(call: ToolCall, view: RequestView) -> ResolvedToolCall:
    arguments = call.arguments
    if arguments is None:
        arguments = json.dumps(sample_instance(view.tools.get(call.name)))
    elif not isinstance(arguments, str):
        arguments = json.dumps(dict(arguments))
    return ResolvedToolCall(id=call.id or new_id("call_"), name=call.name, arguments=arguments)


def _completion_tokens(choice: ChoiceOutput) -> int:
    tool_tokens = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in choice.tool_calls)
    return count_tokens(choice.content or "") + tool_tokens
