"""Replay planned spans through the real OpenTelemetry SDK: planned ids, times, attributes and status."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from bench.calls import Attributes
from bench.plans import SpanPlan

__all__ = ["CollectingProcessor", "PlannedIds", "SdkEmitter", "readable_spans"]


class PlannedIds(IdGenerator):
    """Hands the SDK the ids the plan chose, so SDK and raw exports of one trace are identical."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


class CollectingProcessor(SpanProcessor):
    """Keeps every ended span (the SDK's ``ReadableSpan``), to export later in timed batches."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


class SdkEmitter:
    """A ``TracerProvider`` over ``processor`` that turns :class:`SpanPlan` traces into real SDK spans."""

    def __init__(self, processor: SpanProcessor, *, resource: Attributes) -> None:
        self._ids = PlannedIds()
        self.provider = TracerProvider(resource=Resource.create(dict(resource)), id_generator=self._ids)
        self.provider.add_span_processor(processor)
        self._tracers: dict[str, trace_api.Tracer] = {}

    def emit(self, spans: Iterable[SpanPlan]) -> None:
        """Start and end each span with its planned ids and times; the parent is named by id only, so a
        trace may be emitted in pieces (a batch boundary can fall inside a trace)."""
        for plan in spans:
            self._ids.trace_id = int.from_bytes(plan.trace_id, "big")
            self._ids.span_id = int.from_bytes(plan.span_id, "big")
            span = self._tracer(plan.scope).start_span(
                plan.name,
                context=self._parent_context(plan),
                kind=SpanKind(plan.kind),
                attributes=plan.attributes,
                start_time=plan.start_ns,
            )
            for event in plan.events:
                span.add_event(event.name, event.attributes, timestamp=event.time_ns)
            if plan.status:
                span.set_status(Status(StatusCode(plan.status), plan.status_message or None))
            span.end(end_time=plan.end_ns)

    def _parent_context(self, plan: SpanPlan) -> Context:
        if plan.parent_span_id is None:
            return Context()
        parent = SpanContext(
            trace_id=self._ids.trace_id,
            span_id=int.from_bytes(plan.parent_span_id, "big"),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return trace_api.set_span_in_context(NonRecordingSpan(parent))

    def _tracer(self, scope: str) -> trace_api.Tracer:
        tracer = self._tracers.get(scope)
        if tracer is None:
            tracer = self._tracers[scope] = self.provider.get_tracer(scope)
        return tracer

    def shutdown(self) -> None:
        self.provider.shutdown()


def readable_spans(spans: Iterable[SpanPlan], *, resource: Attributes) -> list[ReadableSpan]:
    """Build SDK ``ReadableSpan`` objects for ``spans``, in order."""
    collector = CollectingProcessor()
    emitter = SdkEmitter(collector, resource=resource)
    emitter.emit(spans)
    emitter.shutdown()
    return collector.spans
