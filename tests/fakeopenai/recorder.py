"""The requests the fake received, for assertions; written by the server, read by test threads."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RecordedRequest", "RequestLog"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: `headers` have lower-case names; `body` is the parsed JSON, or `None`
    when there was no body or it was not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = field(default_factory=time.time)


class RequestLog:
    """A bounded, thread-safe list of received requests (the oldest are dropped past `max_size`)."""

    def __init__(self, max_size: int = 10_000) -> None:
        self._changed = threading.Condition()
        self._requests: deque[RecordedRequest] = deque(maxlen=max_size)

    def add(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def snapshot(self) -> list[RecordedRequest]:
        with self._changed:
            return list(self._requests)

    def clear(self) -> None:
        with self._changed:
            self._requests.clear()

    def wait_for(self, count: int, *, timeout: float) -> list[RecordedRequest]:
        """Block until at least `count` requests are recorded; raise `TimeoutError` after `timeout` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} requests within {timeout}s, got {len(self._requests)}")
            return list(self._requests)
