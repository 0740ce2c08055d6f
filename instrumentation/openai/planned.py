"""Spans planned on the application's thread and started by the SDK on the background thread.

When a call is recorded on the background thread (:mod:`.tracing`), starting its OpenTelemetry SDK span on the
application's thread would be most of what the instrumentation costs there: the SDK builds the span, its
attribute container and lock, and hands it to every processor. What the call needs of its span while it runs
is only the span's identity — the id :func:`~instrumentation.spans.last_span_id` reports, the parent of the
HTTP-level spans made inside the call — and whether it is sampled. So :meth:`SpanPlanner.plan` decides these
as the SDK's ``Tracer.start_span`` does (the parent's trace id or a new one from the tracer's id generator, the
sampler's decision, a new span id from the id generator, the trace flags and state), and the call makes a
``NonRecordingSpan`` of that context current. Later, on the background thread, :meth:`PlannedSpan.start` has
the SDK start the real span — same parent, same ids, the start time noted by the plan — through a copy of the
tracer whose id generator hands out the planned ids and whose sampler hands back the planned decision (the
sampler is asked once per span, as always): the exported span is the one ``start_span`` on the application's
thread would have made.

Only SDK tracers whose sampler is one of the SDK's built-in ones are planned for (:mod:`.tracing` says which):
those decide on the parent and the trace id alone, never on the attributes the span would start with, which
the plan does not have. A tracer the provider has disabled is not planned for either: its ``start_span`` makes
no span of its own.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags, get_current_span

__all__ = ["PlannedSpan", "SpanPlanner", "planner_for"]

# Set when the trace id was drawn at random (W3C Trace Context level 2); SDKs before 1.40 have no such flag.
_RANDOM_TRACE_ID: int = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)


class PlannedSpan:
    """The identity of a call's span, fixed when the call starts; the SDK span itself is made by :meth:`start`."""

    __slots__ = ("context", "current", "name", "parent", "recording", "sampling", "start_time", "tracer")

    def __init__(
        self, tracer: SdkTracer, name: str, parent: Context, context: SpanContext, sampling: SamplingResult
    ) -> None:
        self.tracer = tracer
        self.name = name
        self.parent = parent  # the context the call was made in
        self.context = context
        self.sampling = sampling
        self.recording = sampling.decision.is_recording()  # if not, the SDK would make no span of its own
        self.current = NonRecordingSpan(context)  # current while the call runs
        self.start_time = time.time_ns()

    def start(self) -> Span:
        """The SDK's span with the planned context and start time (a non-recording one when not sampled)."""
        if not self.recording:
            return self.current
        tracer = copy.copy(self.tracer)  # a fresh copy: the provider may have changed the tracer since
        tracer.id_generator = _PlannedIds(self.context)
        tracer.sampler = _PlannedDecision(self.sampling)
        span: Span = tracer.start_span(self.name, self.parent, SpanKind.CLIENT, start_time=self.start_time)
        return span


class _PlannedIds(IdGenerator):
    """The id generator of the tracer copy that starts a planned span: it hands out the planned ids."""

    def __init__(self, context: SpanContext) -> None:
        self._context = context

    def generate_trace_id(self) -> int:
        return self._context.trace_id

    def generate_span_id(self) -> int:
        return self._context.span_id

    def is_trace_id_random(self) -> bool:
        return bool(self._context.trace_flags & _RANDOM_TRACE_ID)


class _PlannedDecision(Sampler):
    """The sampler of the tracer copy that starts a planned span: it hands back the decision of the plan."""

    def __init__(self, sampling: SamplingResult) -> None:
        self._sampling = sampling

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return self._sampling

    def get_description(self) -> str:
        return "PlannedDecision"


class SpanPlanner:
    """Plans the spans of one SDK tracer (see the module docstring)."""

    __slots__ = ("_enabled", "_tracer")

    def __init__(self, tracer: SdkTracer) -> None:
        self._tracer = tracer
        self._enabled = getattr(tracer, "_is_enabled", None)  # SDKs before 1.37 cannot disable a tracer

    def plan(self, name: str, parent: Context) -> PlannedSpan | None:
        """What ``start_span(name, parent, SpanKind.CLIENT)`` would make of a span, without making it; None when
        the tracer is disabled (its ``start_span`` then hands back the parent, which is no span to plan)."""
        tracer = self._tracer
        if self._enabled is not None and not self._enabled():
            return None
        ids = tracer.id_generator
        parent_context = get_current_span(parent).get_span_context()
        if parent_context.is_valid:
            trace_id = parent_context.trace_id
            flags = parent_context.trace_flags & _RANDOM_TRACE_ID
        else:
            trace_id = ids.generate_trace_id()
            flags = _RANDOM_TRACE_ID if _RANDOM_TRACE_ID and ids.is_trace_id_random() else 0
        sampling = tracer.sampler.should_sample(parent, trace_id, name, SpanKind.CLIENT, None, ())
        if sampling.decision.is_sampled():
            flags |= TraceFlags.SAMPLED
        context = SpanContext(
            trace_id,
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(flags),
            trace_state=sampling.trace_state,
        )
        return PlannedSpan(tracer, name, parent, context, sampling)


def planner_for(tracer: object) -> SpanPlanner | None:
    """A planner for an SDK tracer; None for any other (a proxy tracer, another SDK)."""
    return SpanPlanner(tracer) if isinstance(tracer, SdkTracer) else None
