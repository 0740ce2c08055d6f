"""One instrumented model call: the span it owns, ended exactly once, and the guard around every hook.

Whatever happens — a reply, an API error, a stream exhausted, closed early, broken in the middle or
dropped unread — :meth:`LLMCall.end` runs once and later calls are no-ops. Instrumentation code never
raises into the application: :func:`guard` logs and swallows, the application's own exceptions pass
through unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from instrumentation import semconv as sc
from instrumentation.redaction import ContentPolicy

__all__ = ["LLMCall", "guard"]

_log = logging.getLogger("spanlab.instrumentation")
T = TypeVar("T")


def guard(hook: Callable[..., T], *args: Any) -> T | None:
    """Run an instrumentation hook; a failure is logged (debug) and yields None instead of an exception."""
    try:
        return hook(*args)
    except Exception:
        _log.debug("spanlab instrumentation hook %s failed", getattr(hook, "__qualname__", hook), exc_info=True)
        return None


class LLMCall:
    """The span of one call, plus what its recording needs (content policy, timing)."""

    __slots__ = ("_ended", "_pending_ttfc", "broken", "first_chunk_at", "policy", "span", "started_at")

    def __init__(self, span: Span, policy: ContentPolicy) -> None:
        self.span = span
        self.policy = policy
        self.started_at = time.monotonic()
        self.first_chunk_at: float | None = None
        self.broken = False  # recording failed part-way: what was gathered is incomplete, so it is not recorded
        self._ended = False
        self._pending_ttfc: float | None = None  # seconds to the first chunk, not yet on the span

    def attach(self) -> object:
        """Make the span current (so HTTP-level spans nest under it); pass the token to :meth:`detach`."""
        return otel_context.attach(trace.set_span_in_context(self.span))

    @staticmethod
    def detach(token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    def chunk_arrived(self) -> None:
        """Note a stream chunk; the first one gives ``gen_ai.response.time_to_first_chunk`` (seconds).

        Only the time is taken here; the attribute goes on the span with the next :meth:`set_attributes`
        or at :meth:`end`, so a stream pays for one attribute batch instead of two.
        """
        if self.first_chunk_at is None:
            self.first_chunk_at = time.monotonic()
            self._pending_ttfc = self.first_chunk_at - self.started_at

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        """Put ``attributes`` on the span (with a pending time to first chunk; ``attributes`` may be extended)."""
        if self._pending_ttfc is not None:
            attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._pending_ttfc
            self._pending_ttfc = None
        if attributes:
            self.span.set_attributes(attributes)

    @property
    def ended(self) -> bool:
        return self._ended

    def end(self, error: BaseException | None = None) -> None:
        """End the span (once): with ``error``, status ERROR, the exception recorded and ``error.type`` set."""
        if self._ended:
            return
        self._ended = True
        if self._pending_ttfc is not None:  # a stream that ended without recording its reply (broken, failed, dropped)
            guard(self.set_attributes, {})
        if error is not None:
            guard(_record_error, self.span, error)
        guard(self.span.end)


def _record_error(span: Span, error: BaseException) -> None:
    kind = type(error)
    span.set_attribute(sc.ERROR_TYPE, f"{kind.__module__}.{kind.__qualname__}")
    status_code = getattr(error, "status_code", None)
    if isinstance(status_code, int):
        span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, status_code)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, str(error) or kind.__name__))
