"""``register()``: settings precedence, the exporter it builds, and the import weight of the in-app packages."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from instrumentation import semconv as sc
from instrumentation.config import ClientSettings, client_settings
from instrumentation.errors import ConfigurationError
from instrumentation.openai import OpenAIInstrumentor
from instrumentation.register import register, resolve_exporter

OTEL_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "SPANLAB_URL",
    "SPANLAB_PROJECT",
    "SPANLAB_CAPTURE_CONTENT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    client_settings.cache_clear()
    yield
    client_settings.cache_clear()
    instrumentor = OpenAIInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def settings(**env: str) -> ClientSettings:
    return ClientSettings.from_env(env)


@pytest.mark.parametrize(
    ("env", "endpoint", "protocol", "expected"),
    [
        ({}, None, None, ("http/protobuf", "http://127.0.0.1:4318/v1/traces")),
        (
            {"SPANLAB_URL": "http://collector.internal:9000/"},
            None,
            None,
            ("http/protobuf", "http://collector.internal:9000/v1/traces"),
        ),
        ({"SPANLAB_URL": "http://collector.internal:9000"}, None, "grpc", ("grpc", "http://collector.internal:4317")),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.internal:4318"},
            None,
            None,
            ("http/protobuf", "http://otel.internal:4318/v1/traces"),
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.internal:4317"},
            None,
            None,
            ("grpc", "http://otel.internal:4317"),
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel.internal/custom"},
            None,
            None,
            ("http/protobuf", "http://otel.internal/custom"),
        ),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.internal:5555"},
            None,
            None,
            ("grpc", "http://otel.internal:5555"),
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.internal:4317"},
            "http://localhost:4318",
            None,
            ("http/protobuf", "http://localhost:4318/v1/traces"),
        ),
        ({}, "localhost:4317", None, ("grpc", "localhost:4317")),
        (
            {},
            "https://llm-gateway.internal/otlp/v1/traces",
            "http/protobuf",
            ("http/protobuf", "https://llm-gateway.internal/otlp/v1/traces"),
        ),
    ],
)
def test_exporter_precedence(
    env: dict[str, str], endpoint: str | None, protocol: str | None, expected: tuple[str, str]
) -> None:
    assert resolve_exporter(settings(**env), endpoint=endpoint, protocol=protocol) == expected


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"protocol": "http/json"}, {}, "not supported"),
        ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, "not supported"),
        ({"endpoint": "http://"}, {}, "not a URL"),
        ({"endpoint": "http://localhost:99999"}, {}, "port"),
    ],
)
def test_bad_exporter_settings_are_clear_errors(kwargs: dict[str, str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        resolve_exporter(settings(**env), **kwargs)


def test_bad_environment_value_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="SPANLAB_CAPTURE_CONTENT='maybe'"):
        settings(SPANLAB_CAPTURE_CONTENT="maybe")


def test_register_builds_the_provider_and_instruments_openai() -> None:
    provider = register(project="support-bot", batch=False, set_global=False)
    assert provider.resource.attributes[sc.OI_PROJECT_NAME] == "support-bot"
    [processor] = provider._active_span_processor._span_processors
    assert isinstance(processor, SimpleSpanProcessor)
    assert isinstance(processor.span_exporter, HttpExporter)
    assert processor.span_exporter._endpoint == "http://127.0.0.1:4318/v1/traces"
    assert OpenAIInstrumentor().is_instrumented_by_opentelemetry
    provider.shutdown()


def test_register_reads_project_and_service_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
    provider = register(protocol="grpc", instrument=[], set_global=False)
    attributes = provider.resource.attributes
    assert attributes[sc.SERVICE_NAME] == "checkout" and attributes["deployment.environment"] == "staging"
    assert sc.OI_PROJECT_NAME not in attributes  # the collector files it under the service name
    [processor] = provider._active_span_processor._span_processors
    assert isinstance(processor, BatchSpanProcessor)
    assert isinstance(processor._batch_processor._exporter, GrpcExporter)
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry
    provider.shutdown()
    monkeypatch.setenv("SPANLAB_PROJECT", "from-env")
    client_settings.cache_clear()
    provider = register(instrument=[], set_global=False)
    assert provider.resource.attributes[sc.OI_PROJECT_NAME] == "from-env"
    provider.shutdown()
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.delenv("SPANLAB_PROJECT")
    client_settings.cache_clear()
    provider = register(instrument=[], set_global=False)
    assert provider.resource.attributes[sc.OI_PROJECT_NAME] == "default"
    provider.shutdown()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instrument": ["langchain"]}, "cannot instrument"),
        ({"instrument": "openai"}, "list of library names"),
        ({"project": " "}, "non-empty"),
        ({"redact": ["("]}, "does not compile"),
        ({"redact": [42]}, "callable or regular expressions"),
    ],
)
def test_register_refuses_bad_arguments_before_changing_anything(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        register(set_global=False, **kwargs)  # type: ignore[arg-type]
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry


PROBE = """
import json, sys
import instrumentation, spanlab
from instrumentation import semconv
names = [spanlab.register, spanlab.using_prompt, spanlab.using_attributes, spanlab.feedback,
         spanlab.last_span_id, spanlab.capture_span_ids, spanlab.PromptMessages, spanlab.OpenAIInstrumentor,
         spanlab.prompts]
server_side = {"duckdb", "fastapi", "uvicorn", "collector", "ui", "replay", "starlette"}
heavy = sorted({m.split(".")[0] for m in sys.modules} & server_side)
print(json.dumps({"heavy": heavy, "settings": "spanlab.settings" in sys.modules}))
"""


def test_import_instrumentation_and_spanlab_stays_light() -> None:
    """The application side never pulls in the server's dependencies (a fresh interpreter, no other imports)."""
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == {"heavy": [], "settings": False}
