"""``spanlab run -- python app.py`` and ``opentelemetry-instrument python app.py``: zero-code tracing, in real
subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from instrumentation.autostart import AUTOSTART_DIR
from instrumentation.errors import ConfigurationError
from spanlab.cli_run import run_environment
from tests.fakeopenai import FakeOpenAI
from tests.instrumented import new_project
from tests.server import ServerProcess, wait_for

APP = textwrap.dedent(
    """
    import openai

    client = openai.OpenAI(max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "plain call"}])
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "streamed call"}], stream=True
    ):
        pass
    print("app done")
    """
)
SPANLAB_VARS = ("SPANLAB_PROJECT", "SPANLAB_CAPTURE_CONTENT", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_") and key not in SPANLAB_VARS}
    return {**env, **extra}


def spanlab_run(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "spanlab.cli", "run", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_spanlab_run_traces_an_unmodified_app(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    project = new_project("run")
    env = child_env(SPANLAB_URL=spanlab_server.http_url, **fake_openai.client_env())
    result = spanlab_run("--project", project, "--", sys.executable, "app.py", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "app done"

    def listed() -> list[dict[str, object]]:
        spans: list[dict[str, object]] = spanlab_server.get("/api/v1/spans", project=project)["data"]
        return spans if len(spans) >= 2 else []

    spans = wait_for(listed, timeout=30, what=f"two spans in {project}")
    # One span per call: the official and OpenInference openai instrumentors, installed too, were disabled.
    assert len(spans) == 2
    details = [spanlab_server.get(f"/api/v1/spans/{span['span_id']}") for span in spans]
    assert {detail["scope_name"] for detail in details} == {"spanlab.instrumentation.openai"}
    assert sorted(detail["input_value"] for detail in details) == ["plain call", "streamed call"]
    assert {detail["base_url"] for detail in details} == {fake_openai.base_url.rstrip("/")}


def test_opentelemetry_instrument_loads_the_spanlab_instrumentor(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    app = (
        textwrap.dedent(
            """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        """
        )
        + APP
        + "\nprint(json.dumps([s.instrumentation_scope.name for s in exporter.get_finished_spans()]))\n"
    )
    (tmp_path / "app.py").write_text(app)
    instrument = str(Path(sys.executable).parent / "opentelemetry-instrument")
    env = child_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai", **fake_openai.client_env())
    result = subprocess.run(
        [instrument, sys.executable, "app.py"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == ["spanlab.instrumentation.openai"] * 2


def test_run_environment() -> None:
    env = run_environment(
        {
            "PYTHONPATH": "vendor-lib",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests",
            "SPANLAB_URL": "http://127.0.0.1:9",
        },
        project="bot",
        capture_content=False,
        cwd="app-dir",
    )
    assert env["PYTHONPATH"].split(os.pathsep) == [AUTOSTART_DIR, "app-dir", "vendor-lib"]
    assert env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] == "requests,openai"
    assert env["SPANLAB_PROJECT"] == "bot" and env["SPANLAB_CAPTURE_CONTENT"] == "false"
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://127.0.0.1:9/v1/traces"
    assert env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] == "http/protobuf"
    grpc = run_environment({}, endpoint="http://collector.internal:4317")
    assert (grpc["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"], grpc["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) == (
        "grpc",
        "http://collector.internal:4317",
    )
    again = run_environment(env, cwd="app-dir")  # nested `spanlab run`: nothing is added twice
    assert again["PYTHONPATH"] == env["PYTHONPATH"]
    assert again["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] == "requests,openai"
    with pytest.raises(ConfigurationError, match="empty"):
        run_environment({}, project=" ")


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        ((), {}, 2, "Missing argument"),
        (("--", "no-such-program-xyz"), {}, 127, "command not found: no-such-program-xyz"),
        (("--protocol", "http/json", "--", "true"), {}, 2, "http/json"),
        (("--endpoint", "http://", "--", "true"), {}, 2, "not a URL"),
        (("--project", "", "--", "true"), {}, 2, "must not be empty"),
        (("--", "true"), {"SPANLAB_CAPTURE_CONTENT": "maybe"}, 2, "SPANLAB_CAPTURE_CONTENT"),
        (("--", "true"), {"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, 2, "thrift"),
    ],
)
def test_spanlab_run_refuses_bad_input(args: tuple[str, ...], env: dict[str, str], code: int, message: str) -> None:
    result = spanlab_run(*args, env=child_env(**env))
    assert result.returncode == code, result.stderr
    assert message in result.stderr
