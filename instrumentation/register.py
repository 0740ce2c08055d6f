"""``register()``: one line that makes an application's LLM calls show up in spanlab.

    import spanlab

    spanlab.register(project="support-bot")  # OTLP/HTTP to the local collector, openai instrumented

It builds an OpenTelemetry ``TracerProvider`` with an OTLP exporter, sets it as the global provider and
instruments the ``openai`` package. Where each setting comes from, first match wins:

- project: ``project=`` → ``SPANLAB_PROJECT`` → ``openinference.project.name`` / ``service.name`` from
  ``OTEL_RESOURCE_ATTRIBUTES`` / ``OTEL_SERVICE_NAME`` → ``default``;
- protocol: ``protocol=`` → ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL`` →
  ``grpc`` when the endpoint's port is 4317 → ``http/protobuf``;
- endpoint: ``endpoint=`` → ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (as is) / ``OTEL_EXPORTER_OTLP_ENDPOINT``
  (``/v1/traces`` appended for HTTP) → the collector at ``SPANLAB_URL`` (``/v1/traces`` over HTTP; its host on
  port 4317 over gRPC). An HTTP endpoint given as a bare origin (``http://host:4318``) gets ``/v1/traces``;
- headers: ``headers=`` → ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`` (read by the exporter).

``batch=False`` exports each span as it ends (a script or a test); the default batches in the
background and flushes at exit. The provider's ``force_flush()`` and ``shutdown()`` first wait for the LLM
calls still being recorded in the background (:mod:`instrumentation.provider`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from instrumentation import semconv as sc
from instrumentation.config import ClientSettings, client_settings
from instrumentation.errors import ConfigurationError
from instrumentation.redaction import Redaction, redactor

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["INSTRUMENTABLE", "PROTOCOLS", "register"]

PROTOCOLS = ("grpc", "http/protobuf")
INSTRUMENTABLE = ("openai",)
_GRPC_PORT = 4317
_TRACES_PATH = "/v1/traces"


def register(
    *,
    project: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    batch: bool = True,
    capture_content: bool | None = None,
    redact: Redaction | None = None,
    instrument: Iterable[str] = INSTRUMENTABLE,
    resource_attributes: Mapping[str, Any] | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Configure tracing to spanlab and return the ``TracerProvider`` (see the module docstring).

    ``capture_content`` defaults to ``SPANLAB_CAPTURE_CONTENT`` (true when unset); ``redact`` is a
    callable or regular expressions (:mod:`instrumentation.redaction`); ``instrument`` names the
    libraries to instrument (``[]`` for none). With ``set_global=False`` the provider is only returned.
    Raises :class:`ConfigurationError` for a bad argument or environment value, before changing anything.
    """
    settings = client_settings()
    names = _instrument_names(instrument)
    chosen_protocol, chosen_endpoint = resolve_exporter(settings, endpoint=endpoint, protocol=protocol)
    policy_redact = redactor(redact)  # validated now: a bad pattern must fail here, not at the first call
    provider = _provider(_resource(settings, project, resource_attributes))
    exporter = _exporter(chosen_protocol, chosen_endpoint, headers)
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    if set_global:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
    if "openai" in names:
        from instrumentation.openai import OpenAIInstrumentor

        instrumentor = OpenAIInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:  # a second register(): its provider takes over
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=provider, capture_content=capture_content, redact=policy_redact)
    return provider


def _instrument_names(instrument: Iterable[str]) -> list[str]:
    if isinstance(instrument, str):
        raise ConfigurationError(f"instrument takes a list of library names, e.g. [{instrument!r}]")
    names = list(instrument)
    unknown = [name for name in names if name not in INSTRUMENTABLE]
    if unknown:
        raise ConfigurationError(f"cannot instrument {unknown}: spanlab instruments {list(INSTRUMENTABLE)}")
    return names


def resolve_exporter(
    settings: ClientSettings, *, endpoint: str | None = None, protocol: str | None = None
) -> tuple[str, str]:
    """(protocol, endpoint) the exporter uses, by the precedence of the module docstring."""
    chosen = protocol or settings.otlp_protocol
    if chosen is not None and chosen not in PROTOCOLS:
        raise ConfigurationError(f"OTLP protocol {chosen!r} is not supported: use one of {list(PROTOCOLS)}")
    if endpoint is not None:
        target, signal_specific = endpoint, False
    elif settings.otlp_endpoint is not None:
        target, signal_specific = settings.otlp_endpoint, settings.otlp_endpoint_is_signal_specific
    else:
        target, signal_specific = settings.url, False
        if chosen == "grpc":
            target = _grpc_endpoint(settings.url)
    parts = urlsplit(target if "://" in target else f"http://{target}")
    if not parts.hostname:
        raise ConfigurationError(f"OTLP endpoint {target!r} is not a URL such as http://localhost:4318")
    if chosen is None:
        chosen = "grpc" if _port(parts) == _GRPC_PORT else "http/protobuf"
    if chosen == "http/protobuf" and not signal_specific and parts.path.rstrip("/") in ("", _TRACES_PATH):
        target = f"{parts.scheme}://{parts.netloc}{_TRACES_PATH}"
    return chosen, target


def _port(parts: Any) -> int | None:
    try:
        port: int | None = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"OTLP endpoint port is invalid: {exc}") from None
    return port


def _grpc_endpoint(url: str) -> str:
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"http://{host}:{_GRPC_PORT}"


def _resource(settings: ClientSettings, project: str | None, extra: Mapping[str, Any] | None) -> Any:
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, Any] = dict(extra or {})
    name = project or settings.project
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError("project must be a non-empty string")
        attributes[sc.OI_PROJECT_NAME] = name
    resource = Resource.create(attributes)  # merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    named = resource.attributes.get(sc.OI_PROJECT_NAME)
    service = str(resource.attributes.get(sc.SERVICE_NAME, ""))
    if named is None and (not service or service.startswith("unknown_service")):
        resource = resource.merge(Resource({sc.OI_PROJECT_NAME: "default"}))
    return resource


def _provider(resource: Any) -> TracerProvider:
    from instrumentation.provider import SpanlabTracerProvider

    return SpanlabTracerProvider(resource=resource)


def _exporter(protocol: str, endpoint: str, headers: Mapping[str, str] | None) -> SpanExporter:
    header_dict = dict(headers) if headers is not None else None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        insecure = not endpoint.startswith("https://")
        return GrpcExporter(endpoint=endpoint, insecure=insecure, headers=header_dict)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint, headers=header_dict)
