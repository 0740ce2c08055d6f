"""The replay's own model call, traced into the project ``replay`` of the running collector.

:class:`ReplayTracer` owns an OpenTelemetry SDK ``TracerProvider`` (resource ``service.name = replay``) whose
exporter, :class:`CollectorSpanExporter`, encodes finished spans as OTLP and hands them to
:meth:`collector.service.Collector.export` — the same path OTLP receivers use, so a replay span is validated,
logged durably and normalized like any other. Export is synchronous (``SimpleSpanProcessor``): when a replay
returns, its span is acknowledged.

:meth:`ReplayTracer.model_call` records one chat call with the OTel GenAI attributes (``gen_ai.input.messages``
and ``gen_ai.output.messages`` in the GenAI parts format, request model and parameters, usage, provider,
``server.address``), spanlab's prompt attributes when the messages came from a template, and
``spanlab.replay.source_span_id`` plus an OTel link to the replayed span. A failed call ends the span with status
ERROR and ``error.type``. This is the one place that would switch to spanlab's in-app openai instrumentor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from collector.ingest.otlp import ExportKind
from collector.service import Collector
from instrumentation import semconv as sc
from replay.model_call import ModelOutput
from replay.rebuild import Baseline, ReplayRequest

__all__ = ["REPLAY_PROJECT", "CollectorSpanExporter", "ModelCallSpan", "ReplayTracer", "genai_messages"]

REPLAY_PROJECT = "replay"
_log = logging.getLogger(__name__)
# OpenAI parameter → GenAI request attribute (the rest travel in spanlab.request.invocation_parameters).
_PARAMETER_ATTRIBUTES = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "n": sc.GEN_AI_REQUEST_CHOICE_COUNT,
    "reasoning_effort": sc.GEN_AI_REQUEST_REASONING_LEVEL,
}


class CollectorSpanExporter(SpanExporter):
    """Exports spans into a running :class:`Collector` in-process (no socket). Call from a thread without a
    running event loop (e.g. a sync route's worker thread): each export runs ``Collector.export`` to completion."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            validated = asyncio.run(self._collector.export(ExportKind.TRACES, encode_spans(spans), None))
        except Exception:  # an exporter never raises into the traced code
            _log.warning("could not store %d replay span(s)", len(spans), exc_info=True)
            return SpanExportResult.FAILURE
        if validated.rejected:
            _log.warning("the collector refused replay spans: %s", validated.error_message)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: the collector belongs to the caller."""


@dataclass
class ModelCallSpan:
    """The span of one model call while it runs; ``trace_id``/``span_id`` are hex."""

    span: Span
    trace_id: str
    span_id: str

    def record(self, output: ModelOutput) -> None:
        """Add the call's outcome (output messages, response model and id, usage)."""
        attributes: dict[str, AttributeValue] = {
            sc.GEN_AI_OUTPUT_MESSAGES: _json(genai_messages(output.messages, output=True)),
        }
        optional = {
            sc.GEN_AI_RESPONSE_MODEL: output.model,
            sc.GEN_AI_RESPONSE_ID: output.response_id,
            sc.GEN_AI_USAGE_INPUT_TOKENS: output.input_tokens,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: output.output_tokens,
        }
        attributes.update({key: value for key, value in optional.items() if value is not None})
        reasons = [m["finish_reason"] for m in output.messages if m.get("finish_reason")]
        if reasons:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        self.span.set_attributes(attributes)


class ReplayTracer:
    """Traces replay model calls into ``project`` through ``exporter`` (see the module docstring)."""

    def __init__(self, exporter: SpanExporter, *, project: str = REPLAY_PROJECT) -> None:
        self._provider = TracerProvider(resource=Resource.create({"service.name": project}))
        self._provider.add_span_processor(SimpleSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("spanlab.replay")

    @contextmanager
    def model_call(self, request: ReplayRequest, baseline: Baseline) -> Iterator[ModelCallSpan]:
        """A CLIENT span ``chat {model}`` around the call; an exception marks it ERROR and propagates."""
        links = [Link(_context(baseline.trace_id, baseline.span_id))] if baseline.span_id and baseline.trace_id else []
        with self._tracer.start_as_current_span(
            f"chat {request.model}",
            kind=SpanKind.CLIENT,
            attributes=call_attributes(request, baseline),
            links=links,
            record_exception=True,
            set_status_on_exception=False,
        ) as span:
            context = span.get_span_context()
            call = ModelCallSpan(span, format(context.trace_id, "032x"), format(context.span_id, "016x"))
            try:
                yield call
            except Exception as exc:
                span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                raise

    def shutdown(self) -> None:
        self._provider.shutdown()


def call_attributes(request: ReplayRequest, baseline: Baseline) -> dict[str, AttributeValue]:
    """The request side of the span: GenAI attributes, spanlab's prompt and replay links."""
    attributes: dict[str, AttributeValue] = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: request.provider,
        sc.GEN_AI_REQUEST_MODEL: request.model,
        sc.GEN_AI_INPUT_MESSAGES: _json(genai_messages(request.messages)),
        sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS: _json(request.parameters),
    }
    for name, value in request.parameters.items():
        key = _PARAMETER_ATTRIBUTES.get(name)
        if key is not None and isinstance(value, int | float | str) and not isinstance(value, bool):
            attributes[key] = value
    stop = request.parameters.get("stop")
    if isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else stop
    if request.tools:
        attributes[sc.GEN_AI_TOOL_DEFINITIONS] = _json(request.tools)
    if request.response_format:
        attributes[sc.SPANLAB_REQUEST_RESPONSE_FORMAT] = _json(request.response_format)
        kind = request.response_format.get("type")
        attributes[sc.GEN_AI_OUTPUT_TYPE] = "text" if kind == "text" else "json"
    attributes.update(_server(request.base_url))
    if request.built_from == "template" and request.template is not None:
        attributes[sc.SPANLAB_PROMPT_TEMPLATE] = _json(request.template)
        attributes[sc.SPANLAB_PROMPT_VARIABLES] = _json(request.variables or {})
    if request.prompt_name:
        attributes[sc.SPANLAB_PROMPT_NAME] = request.prompt_name
    if request.prompt_version:
        attributes[sc.SPANLAB_PROMPT_VERSION] = request.prompt_version
    if baseline.span_id:
        attributes[sc.SPANLAB_REPLAY_SOURCE_SPAN_ID] = baseline.span_id
    if baseline.trace_id:
        attributes[sc.SPANLAB_REPLAY_SOURCE_TRACE_ID] = baseline.trace_id
    return attributes


def genai_messages(messages: list[dict[str, Any]], *, output: bool = False) -> list[dict[str, Any]]:
    """OpenAI chat messages in the OTel GenAI parts format (text, tool_call, tool_call_response, uri)."""
    converted = []
    for message in messages:
        role = message.get("role") or ("assistant" if output else "user")
        parts: list[dict[str, Any]] = []
        if role == "tool":
            parts.append(
                {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": message.get("content")}
            )
        else:
            parts.extend(_content_parts(message.get("content")))
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments"),
                    }
                )
        item: dict[str, Any] = {"role": role, "parts": parts}
        if message.get("name"):
            item["name"] = message["name"]
        if output and message.get("finish_reason"):
            item["finish_reason"] = message["finish_reason"]
        converted.append(item)
    return converted


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else [content]:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
        elif part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
            parts.append({"type": "uri", "modality": "image", "uri": part["image_url"].get("url")})
    return parts


def _server(base_url: str | None) -> dict[str, AttributeValue]:
    if not base_url:
        return {}
    parts = urlsplit(base_url)
    attributes: dict[str, AttributeValue] = {sc.SPANLAB_REQUEST_BASE_URL: base_url}
    if parts.hostname:
        attributes[sc.SERVER_ADDRESS] = parts.hostname
        attributes[sc.SERVER_PORT] = parts.port or (443 if parts.scheme == "https" else 80)
    return attributes


def _context(trace_id: str, span_id: str) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
