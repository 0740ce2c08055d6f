"""What one ``instrument()`` shares between its wrappers, and what its tracer asks of them.

Two questions about the tracer decide how much of a call's work its thread does:

- **May the sampler read attributes?** The GenAI conventions ask for the attributes a sampler may decide on
  (operation, provider, requested model, server address and port) to be given when the span starts.
  Attributes given to ``start_span`` cost the application's thread the SDK's per-attribute checks, and
  the SDK's built-in samplers (always on, always off, trace-id ratio, and parent-based over those; the
  default is parent-based always-on) never read them. So they are given at the start to any other
  sampler, and to these with the rest of the attributes: the span recorded and every sampling decision
  are the same.
- **Is a span exported as it ends?** When every span processor of the provider batches
  (``BatchSpanProcessor``, what ``register()`` sets up by default), a span is exported later anyway:
  the call's attributes are then made, and its span ended, on the background thread
  (:mod:`instrumentation.background`), and the application's thread only starts the span and copies
  what is recorded. With any other processor (``SimpleSpanProcessor``: a script, a test reading an
  in-memory exporter) the call is recorded on its own thread, so its span is there when it returns.

When both answers allow it — a built-in sampler, spans exported later — the application's thread does not
even start the SDK span: it plans it (ids and sampling decision, :mod:`.planned`) and the background thread
starts it. Both read SDK objects (the tracer's ``sampler``, the processors behind its ``span_processor``);
a tracer that is not the SDK's (a proxy tracer, another SDK) gets attributes at the start, its spans started
and calls recorded on their own thread.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Tracer

from instrumentation.redaction import ContentPolicy

if TYPE_CHECKING:
    from instrumentation.openai.planned import SpanPlanner

__all__ = ["Tracing"]

# Every word in the description of a built-in sampler (ParentBased names its delegates: a sampler of
# another kind among them adds a word of its own). Numbers, such as a ratio's, are not words here.
_BUILT_IN_WORDS = frozenset(
    {
        "AlwaysOnSampler",
        "AlwaysOffSampler",
        "TraceIdRatioBased",
        "ParentBased",
        "root",
        "remoteParentSampled",
        "remoteParentNotSampled",
        "localParentSampled",
        "localParentNotSampled",
    }
)
_WORD = re.compile(r"\b[A-Za-z_]\w*")


class Tracing:
    """The tracer and content policy of one ``instrument()``, and the answers to the module's questions."""

    __slots__ = (
        "_batching",
        "_processors",
        "_span_processor",
        "attributes_at_start",
        "planner",
        "policy",
        "tracer",
    )

    def __init__(self, tracer: Tracer, policy: ContentPolicy) -> None:
        self.tracer = tracer
        self.policy = policy
        self.attributes_at_start = _sampler_reads_attributes(tracer)
        # Plans the spans of calls exported later; only for a built-in sampler, which plans and SDK agree on.
        self.planner: SpanPlanner | None = None if self.attributes_at_start else _planner(tracer)
        self._span_processor = getattr(tracer, "span_processor", None)
        self._processors: object = object()  # the processor tuple _batching was worked out for
        self._batching = False

    def exports_later(self) -> bool:
        """Whether every span processor batches (asked per call: processors can be added at any time)."""
        processors = getattr(self._span_processor, "_span_processors", None)
        if processors is not self._processors:
            self._batching = _all_batching(processors)  # before _processors: another thread may be reading
            self._processors = processors
        return self._batching


def _sampler_reads_attributes(tracer: Tracer) -> bool:
    try:
        from opentelemetry.sdk.trace import sampling
    except ImportError:
        return True
    sampler: Any = getattr(tracer, "sampler", None)
    built_in = (
        sampling.StaticSampler,
        sampling.TraceIdRatioBased,
        sampling.ParentBased,
        sampling.ParentBasedTraceIdRatio,
    )
    if type(sampler) not in built_in:
        return True
    return not set(_WORD.findall(sampler.get_description())) <= _BUILT_IN_WORDS


def _planner(tracer: Tracer) -> SpanPlanner | None:
    try:
        from instrumentation.openai.planned import planner_for
    except ImportError:  # no SDK: nothing to plan for
        return None
    return planner_for(tracer)


def _all_batching(processors: object) -> bool:
    try:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return False
    if not isinstance(processors, tuple) or not processors:
        return False
    return all(isinstance(processor, BatchSpanProcessor) for processor in processors)
