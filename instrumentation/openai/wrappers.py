"""The ``wrapt`` wrappers around the ``openai`` methods: one span per call, errors re-raised unchanged.

Each wrapper takes the request snapshot (:meth:`Operation.start`) and starts the span (with the attributes a
sampler may use, if it may use any) — or, when the call will be recorded on the background thread and the
tracer allows it, only plans the span (:mod:`.planned`): its ids and sampling decision, made on this
thread, the SDK span made later. The span (or the planned span's context) is current for the duration of the
HTTP call; then the wrapper copies the reply (:meth:`Operation.reply`) or wraps the returned stream, and ends
the call: the attributes are made and the span ended on the background thread when the spans are exported
in batches, on this thread otherwise (:mod:`.tracing`). A call its sampler dropped copies no reply and
wraps no stream. Every instrumentation step runs under :func:`~instrumentation.openai.call.guard`: if
starting the span fails, the call goes ahead uninstrumented. Calls made while OpenTelemetry
instrumentation is suppressed (the ``suppress_instrumentation`` context) are not traced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind

from instrumentation.openai.call import LLMCall, Reply, guard
from instrumentation.openai.streams import StreamRecorder, TracedAsyncStream, TracedStream
from instrumentation.openai.tracing import Tracing
from instrumentation.redaction import ContentPolicy
from instrumentation.spans import note_span

__all__ = ["Operation", "async_wrapper", "sync_wrapper"]

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class Operation(Protocol):
    """How one ``openai`` method is recorded (see :mod:`.chat`, :mod:`.responses`, :mod:`.embeddings`).

    ``start`` and ``reply`` run on the application's thread and copy what is recorded; ``request_attributes``
    and the reply's ``attributes`` may run on the background thread.
    """

    def start(self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy) -> tuple[str, dict[str, Any], Any]:
        """(span name, attributes at start, request snapshot)."""
        ...

    def request_attributes(self, request: Any, policy: ContentPolicy) -> dict[str, Any]: ...

    def reply(self, result: Any) -> Reply | None: ...

    def stream_recorder(self) -> StreamRecorder | None: ...


def _start(tracing: Tracing, operation: Operation, resource: Any, kwargs: dict[str, Any]) -> LLMCall | None:
    if not is_instrumentation_enabled():
        return None
    name, attributes, request = operation.start(resource, kwargs, tracing.policy)
    parent = otel_context.get_current()  # given to the SDK, which would otherwise look it up three times
    later = tracing.exports_later()
    planned = tracing.planner.plan(name, parent) if later and tracing.planner is not None else None
    if planned is not None:
        span: Span = planned.current
        call = LLMCall(span, operation, tracing.policy, request, planned.recording, attributes, planned=planned)
    elif tracing.attributes_at_start:
        span = tracing.tracer.start_span(name, parent, SpanKind.CLIENT, attributes)
        call = LLMCall(span, operation, tracing.policy, request, later)
    else:
        span = tracing.tracer.start_span(name, parent, SpanKind.CLIENT)
        call = LLMCall(span, operation, tracing.policy, request, later, attributes)
    context = span.get_span_context()
    note_span(context.trace_id, context.span_id)
    call.attach(parent)
    return call


def _finish(operation: Operation, call: LLMCall, result: Any, stream_type: type, proxy: type) -> Any:
    """Copy the reply and end the call — or, for a stream, hand both to a proxy that ends it later."""
    if call.recording:  # a call its sampler dropped has no reply to copy nor stream to follow
        if isinstance(result, stream_type):
            recorder = guard(operation.stream_recorder)
            traced = guard(proxy, result, call, recorder) if recorder is not None else None
            if traced is not None:
                return traced
        else:
            call.reply = guard(operation.reply, result)
    call.end()
    return result


def sync_wrapper(tracing: Tracing, operation: Operation, stream_type: type) -> Wrapper:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = guard(_start, tracing, operation, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            call.detach()
            call.end(error)
            raise
        call.detach()
        return _finish(operation, call, result, stream_type, TracedStream)

    return traced


def async_wrapper(tracing: Tracing, operation: Operation, stream_type: type) -> Wrapper:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = guard(_start, tracing, operation, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.detach()
            call.end(error)
            raise
        call.detach()
        return _finish(operation, call, result, stream_type, TracedAsyncStream)

    return traced
