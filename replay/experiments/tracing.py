"""Tracing of experiment runs into the project ``experiments``, so evaluations land on real spans.

A prompt task's model call becomes a GenAI CLIENT span ``chat {model}`` built like a replay's
(:func:`replay.tracing.call_attributes`); a Python callable task becomes a CHAIN span ``experiment task
{function}`` with ``input.value``/``output.value``, and any span the callable makes itself (e.g. through the
instrumented ``openai`` client) is its child. Both carry the run's identity:

=================================  ===========================================================
``spanlab.experiment.id``          the experiment's id
``spanlab.experiment.name``        its name, when it has one
``spanlab.experiment.dataset``     the dataset's name, and ``…dataset_version`` its version
``spanlab.experiment.example_id``  the example, ``…repetition`` (0-based) and ``…attempt`` (1-based)
=================================  ===========================================================

plus the same keys (without the prefix) in the ``metadata`` attribute, so they appear in the span's canonical
``metadata`` column (``spanlab sql "SELECT … WHERE metadata->>'experiment_id' = …"``), and an OTel link to the
example's source span when it has one.

Where the spans go: inside the server, into the collector in-process (:meth:`ExperimentTracer.to_collector`);
client-side (the Python API, ``spanlab eval``), over OTLP/HTTP to the server at ``SPANLAB_URL`` through
:func:`instrumentation.register` (:meth:`ExperimentTracer.to_server`). Export is batched in a background
thread: the run never waits for it; :meth:`ExperimentTracer.flush` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from collector.service import Collector
from instrumentation import semconv as sc
from replay.rebuild import Baseline, ReplayRequest
from replay.tracing import CollectorSpanExporter, ModelCallSpan, call_attributes

__all__ = [
    "EXPERIMENTS_PROJECT",
    "EXPERIMENT_ATTRIBUTE_PREFIX",
    "ExperimentTracer",
    "RunLabels",
    "TaskSpan",
]

EXPERIMENTS_PROJECT = "experiments"
EXPERIMENT_ATTRIBUTE_PREFIX = "spanlab.experiment."
_QUEUE_SPANS = 65_536  # an experiment of 20 repetitions x 3,000 examples fits without dropping spans
_MAX_VALUE_CHARS = 32_000


@dataclass(frozen=True, slots=True)
class RunLabels:
    """What ties a span to one attempt of one run of an experiment."""

    experiment_id: str
    dataset: str
    example_id: str
    repetition: int
    attempt: int = 1
    dataset_version: int | None = None
    experiment_name: str | None = None
    source_trace_id: str | None = None
    source_span_id: str | None = None

    def attributes(self) -> dict[str, AttributeValue]:
        # (attribute suffix, metadata key, value)
        values: list[tuple[str, str, Any]] = [
            ("id", "experiment_id", self.experiment_id),
            ("name", "experiment_name", self.experiment_name),
            ("dataset", "dataset", self.dataset),
            ("dataset_version", "dataset_version", self.dataset_version),
            ("example_id", "example_id", self.example_id),
            ("repetition", "repetition", self.repetition),
            ("attempt", "attempt", self.attempt),
        ]
        present = [item for item in values if item[2] is not None]
        attributes: dict[str, AttributeValue] = {EXPERIMENT_ATTRIBUTE_PREFIX + key: value for key, _, value in present}
        attributes[sc.OI_METADATA] = json.dumps({key: value for _, key, value in present})
        return attributes

    def links(self) -> list[Link]:
        if not (self.source_trace_id and self.source_span_id):
            return []
        try:
            context = SpanContext(
                int(self.source_trace_id, 16),
                int(self.source_span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        except ValueError:
            return []
        return [Link(context)]


@dataclass
class TaskSpan:
    """The span of one callable-task attempt while it runs; ``trace_id``/``span_id`` are hex."""

    span: Span
    trace_id: str
    span_id: str

    def record(self, output: Any) -> None:
        self.span.set_attribute(sc.OI_OUTPUT_VALUE, _text(output))


class ExperimentTracer:
    """Makes the spans of experiment runs (see the module docstring); thread-safe, usable from any loop."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("spanlab.experiments")

    @classmethod
    def for_exporter(cls, exporter: SpanExporter, *, project: str = EXPERIMENTS_PROJECT) -> ExperimentTracer:
        provider = TracerProvider(resource=Resource.create({sc.SERVICE_NAME: project, sc.OI_PROJECT_NAME: project}))
        provider.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=_QUEUE_SPANS, schedule_delay_millis=500)
        )
        return cls(provider)

    @classmethod
    def to_collector(cls, collector: Collector, *, project: str = EXPERIMENTS_PROJECT) -> ExperimentTracer:
        """Spans handed to a running collector in-process (the server's own experiments)."""
        return cls.for_exporter(CollectorSpanExporter(collector), project=project)

    @classmethod
    def to_server(cls, url: str, *, project: str = EXPERIMENTS_PROJECT) -> ExperimentTracer:
        """Spans sent over OTLP/HTTP to the spanlab server at ``url`` (instruments nothing, sets no global)."""
        from instrumentation.register import register

        return cls(register(project=project, endpoint=url, instrument=[], set_global=False, batch=True))

    @contextmanager
    def model_call(self, request: ReplayRequest, labels: RunLabels) -> Iterator[ModelCallSpan]:
        """A CLIENT span ``chat {model}`` around one model call; an exception marks it ERROR and propagates."""
        attributes = call_attributes(request, Baseline(subject=f"example {labels.example_id}"))
        attributes.update(labels.attributes())
        with self._span(f"chat {request.model}", SpanKind.CLIENT, attributes, labels) as (span, trace_id, span_id):
            yield ModelCallSpan(span, trace_id, span_id)

    @contextmanager
    def task_call(self, function: str, input: Any, labels: RunLabels) -> Iterator[TaskSpan]:
        """A CHAIN span around one call of a Python task; spans the task makes inside are its children."""
        attributes: dict[str, AttributeValue] = {
            sc.OI_SPAN_KIND: "CHAIN",
            sc.OI_INPUT_VALUE: _text(input),
            sc.OI_INPUT_MIME_TYPE: "application/json",
            **labels.attributes(),
        }
        with self._span(f"experiment task {function}", SpanKind.INTERNAL, attributes, labels) as (span, t, s):
            yield TaskSpan(span, t, s)

    @contextmanager
    def _span(
        self, name: str, kind: SpanKind, attributes: dict[str, AttributeValue], labels: RunLabels
    ) -> Iterator[tuple[Span, str, str]]:
        with self._tracer.start_as_current_span(
            name,
            kind=kind,
            attributes=attributes,
            links=labels.links(),
            record_exception=True,
            set_status_on_exception=False,
        ) as span:
            context = span.get_span_context()
            try:
                yield span, format(context.trace_id, "032x"), format(context.span_id, "016x")
            except BaseException as exc:
                span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__name__))
                raise

    def flush(self, *, timeout_seconds: float = 30.0) -> bool:
        """Export every finished span now; False when that did not finish in time."""
        return self._provider.force_flush(int(timeout_seconds * 1000))

    def shutdown(self) -> None:
        self._provider.shutdown()


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:_MAX_VALUE_CHARS]
