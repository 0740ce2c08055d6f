"""The ``wrapt`` wrappers around the ``openai`` methods: one span per call, errors re-raised unchanged.

Each wrapper starts the span from the request (:meth:`Operation.request`), makes it current for the
duration of the HTTP call, then records the reply or wraps the returned stream. Every instrumentation
step runs under :func:`~instrumentation.openai.call.guard`: if starting the span fails, the call goes
ahead uninstrumented. Calls made while OpenTelemetry instrumentation is suppressed (the
``suppress_instrumentation`` context) are not traced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Tracer

from instrumentation.openai.call import LLMCall, guard
from instrumentation.openai.streams import StreamRecorder, TracedAsyncStream, TracedStream
from instrumentation.redaction import ContentPolicy
from instrumentation.spans import note_span

__all__ = ["Operation", "async_wrapper", "sync_wrapper"]

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class Operation(Protocol):
    """How one ``openai`` method is recorded (see :mod:`.chat`, :mod:`.responses`, :mod:`.embeddings`)."""

    operation: str

    def request(self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy) -> tuple[str, dict[str, Any]]: ...

    def response(self, call: LLMCall, result: Any) -> None: ...

    def stream_recorder(self) -> StreamRecorder | None: ...


def _start(
    tracer: Tracer, operation: Operation, policy: ContentPolicy, resource: Any, kwargs: dict[str, Any]
) -> LLMCall | None:
    if not is_instrumentation_enabled():
        return None
    name, attributes = operation.request(resource, kwargs, policy)
    span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    context = span.get_span_context()
    note_span(context.trace_id, context.span_id)
    return LLMCall(span, policy)


def _finish(operation: Operation, call: LLMCall, result: Any, stream_type: type, proxy: type) -> Any:
    """Record ``result`` and end the span — or, for a stream, hand both to a proxy that ends it later."""
    if isinstance(result, stream_type):
        recorder = guard(operation.stream_recorder)
        traced = guard(proxy, result, call, recorder) if recorder is not None else None
        if traced is not None:
            return traced
    else:
        guard(operation.response, call, result)
    call.end()
    return result


def sync_wrapper(tracer: Tracer, operation: Operation, policy: ContentPolicy, stream_type: type) -> Wrapper:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = guard(_start, tracer, operation, policy, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = guard(call.attach)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            call.end(error)
            raise
        finally:
            if token is not None:
                guard(call.detach, token)
        return _finish(operation, call, result, stream_type, TracedStream)

    return traced


def async_wrapper(tracer: Tracer, operation: Operation, policy: ContentPolicy, stream_type: type) -> Wrapper:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = guard(_start, tracer, operation, policy, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = guard(call.attach)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.end(error)
            raise
        finally:
            if token is not None:
                guard(call.detach, token)
        return _finish(operation, call, result, stream_type, TracedAsyncStream)

    return traced
