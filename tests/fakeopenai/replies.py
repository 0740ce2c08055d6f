"""What a test can script the fake model provider to answer.

Three kinds of scripted reply, all immutable:

* `ChatReply` - a successful generation (chat completion or Responses API response).
* `ErrorReply` - an HTTP error with OpenAI's error JSON body.
* `StreamError` - a stream that breaks after some chunks (an error event, or a dropped connection).

`ErrorReply` applies to every model endpoint (chat, responses, embeddings); `ChatReply` and
`StreamError` only to the generation endpoints, so an embeddings call leaves them queued.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ChatReply", "ErrorReply", "FinishReason", "Reply", "StreamError", "ToolCall", "Usage"]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True)
class ToolCall:
    """A function call the fake model makes.

    `arguments` is the JSON text (a mapping is serialised); `None` means "a minimal valid instance of
    the parameters schema the request declared for this tool, or `{}`". `id` defaults to a fresh
    `call_...` id per choice.
    """

    name: str
    arguments: str | Mapping[str, Any] | None = None
    id: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts to report instead of the fake's own word-based counts."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatReply:
    """A successful generation.

    `content=None` means no text when `tool_calls` are given, and the default reply text otherwise
    (`"fake reply to: <last user content>"`, or JSON when the request asked for a JSON format); use
    `""` for an explicitly empty text. `finish_reason` defaults to `tool_calls` / `stop`, or `length`
    when the request's max tokens cut the text. `interleave=True` streams content and tool-call
    deltas round-robin instead of content first. `delay` adds to the script's latency.
    """

    content: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    interleave: bool = False
    delay: float = 0.0


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error answered with `{"error": {"message", "type", "param", "code"}}`.

    `message`, `type` and `code` default to what OpenAI sends for `status`. `retry_after` (seconds,
    may be fractional) sets the `retry-after` header; a 429 gets 1 second unless told otherwise.
    """

    status: int = 500
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class StreamError:
    """A streamed reply that breaks after `after_chunks` SSE events (role chunk included).

    By default the break is an in-band error event (`data: {"error": ...}` for chat, an `error` event
    for the Responses API) and the stream ends without `[DONE]`; `disconnect=True` drops the
    connection instead. `reply` is what is streamed before the break (default reply if `None`).
    A non-streamed request that draws a `StreamError` gets a 500 error with `message`.
    """

    after_chunks: int = 2
    message: str = "The server had an error while processing your request. Sorry about that!"
    disconnect: bool = False
    reply: ChatReply | None = None
    delay: float = 0.0


Reply = ChatReply | ErrorReply | StreamError
