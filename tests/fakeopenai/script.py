"""The script: what the fake answers next, shared by test threads and the server's event loop.

For each model request the fake picks, in order:

1. the oldest queued reply that applies to the endpoint (`push`), consumed once;
2. the first rule whose text occurs in the last user message (`add_rule`), never consumed;
3. markers in the last user message, handy for clients in other processes:
   `[[error:500]]`, `[[stream_error:2]]`, `[[disconnect:2]]`, `[[tool:get_weather]]` (repeatable);
4. the default reply, deterministic from the request.

Latency adds up: `set_latency` + a `[[latency:0.2]]` marker + the picked reply's own `delay`.
Every method is safe to call from any thread.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass

from .replies import ChatReply, ErrorReply, Reply, StreamError, ToolCall
from .request_view import Endpoint

__all__ = ["Plan", "Script"]

_MARKER = re.compile(r"\[\[(\w+):([^\]\s]+)\]\]")
_MARKER_VALUE = {
    "error": re.compile(r"[45]\d\d"),
    "stream_error": re.compile(r"\d+"),
    "disconnect": re.compile(r"\d+"),
    "latency": re.compile(r"\d+(\.\d+)?"),
    "tool": re.compile(r"[\w.\-]+"),
}


@dataclass(frozen=True)
class Plan:
    """How to answer one request: `reply=None` means the default reply."""

    reply: Reply | None
    delay: float = 0.0
    chunk_delay: float = 0.0


def _applies(reply: Reply, endpoint: Endpoint) -> bool:
    return isinstance(reply, ErrorReply) or endpoint != "embeddings"


class Script:
    """Queued replies, content rules and latency for the fake model provider."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._rules: list[tuple[str, Reply]] = []
        self._latency = 0.0
        self._chunk_delay = 0.0

    def push(self, *replies: Reply) -> None:
        """Queue replies; each answers exactly one later request it applies to, oldest first."""
        with self._lock:
            self._queue.extend(replies)

    def add_rule(self, contains: str, reply: Reply) -> None:
        """Answer every request whose last user message contains `contains` with `reply`."""
        with self._lock:
            self._rules.append((contains, reply))

    def set_latency(self, seconds: float, *, between_chunks: float = 0.0) -> None:
        """Delay every model response by `seconds` before its headers, and streams between events."""
        with self._lock:
            self._latency, self._chunk_delay = seconds, between_chunks

    def reset(self) -> None:
        """Forget queued replies, rules and latency."""
        with self._lock:
            self._queue.clear()
            self._rules.clear()
            self._latency = self._chunk_delay = 0.0

    @property
    def pending(self) -> int:
        """How many queued replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def plan(self, endpoint: Endpoint, user_text: str) -> Plan:
        """Pick (and consume, if queued) the answer to one request."""
        marker_reply, marker_delay = _from_markers(user_text, endpoint)
        with self._lock:
            reply = self._take(endpoint) or self._match_rule(endpoint, user_text) or marker_reply
            latency, chunk_delay = self._latency, self._chunk_delay
        own_delay = reply.delay if reply is not None else 0.0
        return Plan(reply=reply, delay=latency + marker_delay + own_delay, chunk_delay=chunk_delay)

    def _take(self, endpoint: Endpoint) -> Reply | None:
        for reply in self._queue:
            if _applies(reply, endpoint):
                self._queue.remove(reply)
                return reply
        return None

    def _match_rule(self, endpoint: Endpoint, user_text: str) -> Reply | None:
        return next(
            (reply for contains, reply in self._rules if contains in user_text and _applies(reply, endpoint)),
            None,
        )


def _from_markers(text: str, endpoint: Endpoint) -> tuple[Reply | None, float]:
    if "[[" not in text:
        return None, 0.0
    # A malformed marker (`[[error:abc]]`) is ignored rather than failing the request.
    markers = [
        (kind, value)
        for kind, value in _MARKER.findall(text)
        if kind in _MARKER_VALUE and _MARKER_VALUE[kind].fullmatch(value)
    ]
    delay = sum(float(value) for kind, value in markers if kind == "latency")
    for kind, value in markers:
        if kind == "error":
            return ErrorReply(status=int(value)), delay
        if endpoint != "embeddings" and kind in ("stream_error", "disconnect"):
            return StreamError(after_chunks=int(value), disconnect=kind == "disconnect"), delay
    tools = [ToolCall(name=value) for kind, value in markers if kind == "tool"]
    if tools and endpoint != "embeddings":
        return ChatReply(tool_calls=tools), delay
    return None, delay
