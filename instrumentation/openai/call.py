"""One instrumented model call: its span, what it will record, ended exactly once, and the guard around every hook.

The application's thread starts the span — or, when the call is recorded on the background thread, only plans
it (:mod:`.planned`) — fills in the snapshots (``request``, ``reply``) and calls :meth:`LLMCall.end`; then
:meth:`LLMCall.record` turns the snapshots into attributes and ends the span at the time :meth:`~LLMCall.end`
was called — on the background thread (:mod:`instrumentation.background`) when the spans are exported in
batches, where a planned span is also started, at once otherwise (:mod:`.tracing`). Whatever happens — a
reply, an API error, a stream exhausted, closed early, broken in the middle or dropped unread —
:meth:`~LLMCall.end` hands the call over once and later calls are no-ops. A call its sampler dropped records
nothing. Instrumentation code never raises into the application: :func:`guard` logs and swallows, the
application's own exceptions pass through unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from instrumentation import semconv as sc
from instrumentation.background import finish_later
from instrumentation.redaction import ContentPolicy

if TYPE_CHECKING:
    from instrumentation.openai.planned import PlannedSpan

__all__ = ["LLMCall", "Reply", "RequestRecording", "guard"]

_log = logging.getLogger("spanlab.instrumentation")
T = TypeVar("T")


def guard(hook: Callable[..., T], *args: Any) -> T | None:
    """Run an instrumentation hook; a failure is logged (debug) and yields None instead of an exception."""
    try:
        return hook(*args)
    except Exception:
        _log.debug("spanlab instrumentation hook %s failed", getattr(hook, "__qualname__", hook), exc_info=True)
        return None


class Reply(Protocol):
    """A reply as recorded: immutable values copied from the ``openai`` result on the application's thread."""

    @property
    def error(self) -> str | None:
        """A failure the reply itself reports (a failed Responses call): the span's status message."""
        ...

    def attributes(self, policy: ContentPolicy) -> dict[str, Any]:
        """The reply's span attributes (on the background thread when the call is recorded there)."""
        ...


class RequestRecording(Protocol):
    """The part of an operation :meth:`LLMCall.record` runs: a request snapshot's attributes."""

    def request_attributes(self, request: Any, policy: ContentPolicy) -> dict[str, Any]: ...


class LLMCall:
    """The span of one call and the snapshots its attributes are made from.

    ``span`` is the span current while the call runs: the SDK's span, or, for a ``planned`` one, a
    non-recording span of the planned context until :meth:`record` starts the SDK's.
    """

    __slots__ = (
        "_ended",
        "_token",
        "attributes_at_end",
        "broken",
        "end_time",
        "error",
        "later",
        "operation",
        "planned",
        "policy",
        "reply",
        "request",
        "span",
        "start_time",
        "time_to_first_chunk",
    )

    def __init__(
        self,
        span: Span,
        operation: RequestRecording,
        policy: ContentPolicy,
        request: Any,
        later: bool,
        attributes_at_end: dict[str, Any] | None = None,
        *,
        planned: PlannedSpan | None = None,
    ) -> None:
        self.span = span
        self.planned = planned
        self.start_time: int | None = planned.start_time if planned is not None else getattr(span, "start_time", None)
        self.later = later  # recorded on the background thread (else on the one that ends the call)
        self.attributes_at_end = attributes_at_end  # those of the start the sampler did not need
        self.operation = operation
        self.policy = policy
        self.request = request  # the operation's request snapshot
        self.reply: Reply | None = None
        self.time_to_first_chunk: float | None = None  # seconds, streams only
        self.broken = False  # recording failed part-way: what was gathered is incomplete, so it is not recorded
        self.error: BaseException | None = None
        self.end_time = 0
        self._ended = False
        self._token: object = None

    def attach(self, parent: Context) -> None:
        """Make the span current, in ``parent`` (the current context), until :meth:`detach` (so HTTP-level
        spans made inside nest under it)."""
        self._token = otel_context.attach(trace.set_span_in_context(self.span, parent))

    def detach(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]  # logs instead of raising

    def chunk_arrived(self) -> None:
        """Note the first stream chunk: ``gen_ai.response.time_to_first_chunk``."""
        if self.time_to_first_chunk is None and isinstance(self.start_time, int):
            self.time_to_first_chunk = (time.time_ns() - self.start_time) / 1e9

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def recording(self) -> bool:
        """Whether the call's span records anything (False when its sampler dropped it)."""
        planned = self.planned
        return planned.recording if planned is not None else self.span.is_recording()

    def end(self, error: BaseException | None = None) -> None:
        """End the call (once): record it now, or hand it to the background thread, which ends the span at
        this time. With ``error``, the span gets status ERROR, the exception recorded and ``error.type``.
        """
        if self._ended:
            return
        self._ended = True
        self.end_time = time.time_ns()
        self.error = error
        if self.later:
            finish_later(self)
        else:
            self.record()

    def record(self) -> None:
        """Start a planned span, put the attributes on the span and end it (never raises)."""
        planned = self.planned
        span = guard(planned.start) if planned is not None else self.span
        if span is None or not span.is_recording():
            return
        policy, reply = self.policy, self.reply
        attributes = dict(self.attributes_at_end or ())
        attributes.update(guard(self.operation.request_attributes, self.request, policy) or {})
        if reply is not None and not self.broken:
            attributes.update(guard(reply.attributes, policy) or {})
        if self.time_to_first_chunk is not None:
            attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self.time_to_first_chunk
        guard(span.set_attributes, attributes)
        if self.error is not None:
            guard(_record_error, span, self.error)
        elif reply is not None and reply.error is not None:
            guard(span.set_status, Status(StatusCode.ERROR, reply.error))
        guard(span.end, self.end_time)


def _record_error(span: Span, error: BaseException) -> None:
    kind = type(error)
    attributes: dict[str, Any] = {sc.ERROR_TYPE: f"{kind.__module__}.{kind.__qualname__}"}
    status_code = getattr(error, "status_code", None)
    if isinstance(status_code, int):
        attributes[sc.HTTP_RESPONSE_STATUS_CODE] = status_code
    span.set_attributes(attributes)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, str(error) or kind.__name__))
