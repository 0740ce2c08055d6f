"""A realistic, deterministic LLM trace workload: a support agent answering Banking77 customer questions.

Each trace is a root agent span (AGENT/CHAIN) with one to three LLM spans (classify → answer → review) and,
in about a quarter of traces, a tool call (answer with ``tool_calls`` → TOOL span → final answer). LLM spans
carry ~3 KB of prompt and reply text; the three attribute conventions of :mod:`bench.conventions` are
mixed evenly, trace by trace; 5 % of spans end with status ERROR. Content is a pure function of ``(seed, trace index)``;
ids also depend on ``run_tag``, so two runs with different tags never share a trace id.

Two ways out:

* :class:`SdkEmitter` replays plans through the real OpenTelemetry SDK (``tracer.start_span`` with the
  planned times, attributes, status and ids) into any ``SpanProcessor``; :func:`readable_spans` collects them.
* :func:`trace_request` / :func:`logs_request` build ``ExportTraceServiceRequest`` /
  ``ExportLogsServiceRequest`` protobufs directly, an order of magnitude faster, for raw-OTLP load.

``python -m bench.workload`` prints what the workload looks like (span mix, sizes, generation speed).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from bench.calls import Attributes, LogEvent
from bench.conventions import CONVENTIONS, LEGACY
from bench.corpus import load_questions
from bench.plans import EventPlan, SpanPlan
from bench.sdk import SdkEmitter, readable_spans
from bench.tracegen import TRACE_SPAN_MEAN, plan_trace

__all__ = [
    "CONVENTIONS",
    "LEGACY",
    "RESOURCE",
    "EventPlan",
    "SdkEmitter",
    "SpanPlan",
    "Workload",
    "logs_request",
    "readable_spans",
    "trace_request",
]

RESOURCE: Attributes = {
    "service.name": "support-bot",
    "service.version": "1.4.2",
    "deployment.environment.name": "bench",
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
}


class Workload:
    """Plans traces by index. ``conventions`` cycles trace by trace (add ``LEGACY`` for log-event content)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        run_tag: str = "",
        conventions: Sequence[str] = CONVENTIONS,
        spans_hint: int = 200_000,
        trace_interval_ms: float = 20.0,
        end_time_ns: int | None = None,
    ) -> None:
        self.seed = seed
        self.run_tag = run_tag
        self.conventions = tuple(conventions)
        self._id_key = hashlib.blake2b(f"{seed}:{run_tag}".encode(), digest_size=16).digest()
        self._interval_ns = int(trace_interval_ms * 1e6)
        end = time.time_ns() if end_time_ns is None else end_time_ns
        self.base_time_ns = end - int(spans_hint / TRACE_SPAN_MEAN) * self._interval_ns - 60 * 10**9
        load_questions()  # fail early, before any process is started, when the data set is missing

    def trace(self, index: int) -> list[SpanPlan]:
        """The spans of trace ``index``, root first."""
        digest = hashlib.blake2b(self._id_key + index.to_bytes(8, "big"), digest_size=64).digest()
        return plan_trace(
            index=index,
            seed=self.seed,
            # by hash, not index % n: senders take every k-th trace and must still see every convention
            convention=self.conventions[int.from_bytes(digest[56:], "big") % len(self.conventions)],
            trace_id=digest[:16],
            span_ids=[digest[16 + 8 * j : 24 + 8 * j] for j in range(5)],  # at most 5 spans a trace
            start_ns=self.base_time_ns + index * self._interval_ns,
            session_prefix=self._id_key[:4].hex(),
        )

    def spans(self, count: int, *, first: int = 0, step: int = 1) -> Iterator[SpanPlan]:
        """Exactly ``count`` spans from traces ``first, first + step, ...`` (the last trace may be cut short).

        Senders split a workload by giving each a different ``first`` and the same ``step``.
        """
        index = first
        left = count
        while left > 0:
            trace = self.trace(index)[:left]
            left -= len(trace)
            index += step
            yield from trace

    def batches(self, count: int, size: int, *, first: int = 0, step: int = 1) -> Iterator[list[SpanPlan]]:
        batch: list[SpanPlan] = []
        for span in self.spans(count, first=first, step=step):
            batch.append(span)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


# -- raw OTLP protobufs --------------------------------------------------------------------------------------
def _any_value(value: object) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, tuple | list):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=_key_values(value)))
    if value is None:
        return AnyValue()
    return AnyValue(string_value=str(value))


def _key_values(attributes: Mapping[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any_value(v)) for k, v in attributes.items()]


def _span(plan: SpanPlan) -> Span:
    return Span(
        trace_id=plan.trace_id,
        span_id=plan.span_id,
        parent_span_id=plan.parent_span_id or b"",
        name=plan.name,
        kind=Span.SpanKind.ValueType(plan.kind + 1),  # the SDK counts INTERNAL from 0, OTLP from 1
        start_time_unix_nano=plan.start_ns,
        end_time_unix_nano=plan.end_ns,
        attributes=_key_values(plan.attributes),
        events=[
            Span.Event(name=e.name, time_unix_nano=e.time_ns, attributes=_key_values(e.attributes)) for e in plan.events
        ],
        status=Status(code=Status.StatusCode.ValueType(plan.status), message=plan.status_message),
        flags=0x100,  # the parent is not remote, as the SDK marks it
    )


def trace_request(spans: Sequence[SpanPlan], resource: Attributes = RESOURCE) -> ExportTraceServiceRequest:
    """One export request holding ``spans``, one ``ScopeSpans`` per instrumentation scope."""
    by_scope: dict[str, list[Span]] = {}
    for plan in spans:
        by_scope.setdefault(plan.scope, []).append(_span(plan))
    scope_spans = [ScopeSpans(scope=InstrumentationScope(name=s), spans=lst) for s, lst in by_scope.items()]
    resource_spans = ResourceSpans(resource=Resource(attributes=_key_values(resource)), scope_spans=scope_spans)
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def logs_request(spans: Sequence[SpanPlan], resource: Attributes = RESOURCE) -> ExportLogsServiceRequest | None:
    """The legacy GenAI log events of ``spans`` (None when they have none), as the logs SDK sends them."""
    records = [_log_record(plan, event, i) for plan in spans for i, event in enumerate(plan.logs)]
    if not records:
        return None
    scope = ScopeLogs(scope=InstrumentationScope(name="opentelemetry.instrumentation.openai_v2"), log_records=records)
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=Resource(attributes=_key_values(resource)), scope_logs=[scope])]
    )


def _log_record(plan: SpanPlan, event: LogEvent, index: int) -> LogRecord:
    at = plan.end_ns if event.event_name == "gen_ai.choice" else plan.start_ns + index
    return LogRecord(
        time_unix_nano=at,
        observed_time_unix_nano=at,
        severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
        body=_any_value(event.body),
        attributes=_key_values({**event.attributes, "event.name": event.event_name}),
        trace_id=plan.trace_id,
        span_id=plan.span_id,
        flags=1,
        event_name=event.event_name,
    )


# -- python -m bench.workload: what the workload looks like -------------------------------------------------
def _describe(count: int, seed: int) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    workload = Workload(seed=seed, run_tag="describe", spans_hint=count)
    started = time.perf_counter()
    plans = list(workload.spans(count))
    planned = time.perf_counter()
    requests = [trace_request(plans[i : i + 512]) for i in range(0, len(plans), 512)]
    built = time.perf_counter()
    sdk_spans = readable_spans(plans, resource=RESOURCE)
    emitted = time.perf_counter()
    encoded = [encode_spans(sdk_spans[i : i + 512]).SerializeToString() for i in range(0, len(sdk_spans), 512)]
    done = time.perf_counter()
    raw_bytes = sum(r.ByteSize() for r in requests)
    print(f"{count} spans, {len({p.trace_id for p in plans})} traces, seed {seed}")
    print(f"errors: {sum(p.status == 2 for p in plans) / count:.1%}")
    sizes: dict[tuple[str, str], list[int]] = {}
    for plan in plans:
        sizes.setdefault((plan.role, plan.convention), []).append(_span(plan).ByteSize())
    for (role, convention), values in sorted(sizes.items()):
        print(f"  {role:<6}{convention:<15}{len(values):>8} spans  {sum(values) / len(values):>7.0f} B/span")
    print(f"raw OTLP bytes: {raw_bytes / count:.0f} B/span; SDK-encoded: {sum(map(len, encoded)) / count:.0f}")
    for label, seconds in (
        ("plan", planned - started),
        ("raw protobuf", built - planned),
        ("SDK spans", emitted - built),
        ("SDK encode", done - emitted),
    ):
        print(f"  {label:<14}{seconds / count * 1e6:>7.1f} µs/span")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Describe the benchmark workload.")
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    _describe(options.spans, options.seed)
