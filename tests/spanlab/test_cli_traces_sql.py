"""``spanlab traces list|show`` and ``spanlab sql`` against a real ``spanlab serve`` fed by the OTel SDK."""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass

import httpx
import pytest
import typer
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from typer.testing import CliRunner

from spanlab.cli_sql import sql
from spanlab.cli_traces import traces_app
from tests.server import ServerProcess

# Registered the way ``spanlab.cli`` registers them.
app = typer.Typer()
app.add_typer(traces_app, name="traces")
app.command("sql")(sql)
runner = CliRunner()


@dataclass
class Seeded:
    url: str
    project: str
    agent_trace: str
    llm_span: str


@pytest.fixture(scope="module")
def seeded(spanlab_server: ServerProcess) -> Seeded:
    """Two traces in a project of their own, sent by the SDK's OTLP/HTTP exporter, plus one annotation."""
    project = f"cli-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{spanlab_server.http_url}/v1/traces")))
    tracer = provider.get_tracer("cli-test")
    with tracer.start_as_current_span("support-agent") as root:
        root.set_attributes({"openinference.span.kind": "CHAIN", "input.value": "I lost my card"})
        with tracer.start_as_current_span("chat") as chat:
            chat.set_attributes(
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.provider": "openai",
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": "I lost my card [bold]help[/bold]",
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "I blocked it for you.",
                    "llm.token_count.prompt": 20,
                    "llm.token_count.completion": 7,
                    "llm.token_count.total": 27,
                }
            )
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_status(Status(StatusCode.ERROR, "card service down"))
    with tracer.start_as_current_span("classify") as other:
        other.set_attributes({"openinference.span.kind": "LLM", "llm.model_name": "smollm2-135m"})
    provider.shutdown()
    spanlab_server.wait_idle()
    agent_trace = format(root.get_span_context().trace_id, "032x")
    llm_span = format(chat.get_span_context().span_id, "016x")
    note = httpx.post(
        f"{spanlab_server.http_url}/api/v1/spans/{llm_span}/annotations",
        json={"name": "helpful", "label": "yes"},
    )
    assert note.status_code == 201, note.text
    return Seeded(spanlab_server.http_url, project, agent_trace, llm_span)


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"SPANLAB_URL": url, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- traces list --------------------------------------------------------------------------------------------
def test_traces_list_table_and_json(seeded: Seeded) -> None:
    code, out, _ = run(seeded.url, "traces", "list", "--project", seeded.project)
    assert code == 0, out
    assert seeded.agent_trace[:12] in out and "support-agent" in out and "classify" in out
    assert "ERROR" in out and "27" in out and "I lost my card" in out
    code, out, _ = run(seeded.url, "traces", "list", "--project", seeded.project, "--status", "ERROR", "--json")
    page = json.loads(out)
    assert code == 0 and [t["trace_id"] for t in page["data"]] == [seeded.agent_trace]
    code, out, _ = run(seeded.url, "traces", "list", "--project", seeded.project, "--model", "smollm2-135m", "--json")
    assert [t["name"] for t in json.loads(out)["data"]] == ["classify"]
    code, out, _ = run(seeded.url, "traces", "list", "--project", seeded.project, "-q", "LOST", "--limit", "1")
    assert code == 0 and "support-agent" in out and "classify" not in out


def test_traces_list_pages_with_cursor(seeded: Seeded) -> None:
    _, out, _ = run(seeded.url, "traces", "list", "--project", seeded.project, "--limit", "1", "--json")
    first = json.loads(out)
    assert first["next_cursor"]
    _, out, _ = run(
        seeded.url, "traces", "list", "--project", seeded.project, "--cursor", first["next_cursor"], "--json"
    )
    assert [t["name"] for t in json.loads(out)["data"]] == ["support-agent"]


@pytest.mark.parametrize(
    "args",
    [["--limit", "0"], ["--limit", "501"], ["--limit", "ten"], ["--status", "BROKEN"], ["--colour", "red"]],
)
def test_traces_list_usage_errors_exit_2(seeded: Seeded, args: list[str]) -> None:
    code, _, err = run(seeded.url, "traces", "list", *args)
    assert code == 2 and err.strip()


def test_traces_list_server_errors_exit_1(seeded: Seeded) -> None:
    code, out, err = run(seeded.url, "traces", "list", "--cursor", "garbage")
    expected = "the cursor is not valid: pass next_cursor exactly as returned by the previous page"
    assert code == 1 and out == "" and err.strip() == f"error: HTTP 400: {expected}"
    code, _, err = run(seeded.url, "traces", "list", "-q", "x" * 2000)
    assert code == 1 and "HTTP 422" in err and len(err.strip().splitlines()) == 1


# -- traces show --------------------------------------------------------------------------------------------
def test_traces_show_tree_and_messages(seeded: Seeded) -> None:
    code, out, _ = run(seeded.url, "traces", "show", seeded.agent_trace.upper())
    assert code == 0, out
    lines = out.splitlines()
    assert any("[CHAIN] support-agent" in line for line in lines)
    chat = next(line for line in lines if "[LLM] chat" in line)
    assert "gpt-4o-mini" in chat and "27 tok" in chat and "★ helpful=yes" in chat
    assert any("[TOOL] lookup" in line and "ERROR" in line for line in lines)
    assert "I lost my card [bold]help[/bold]" in out  # user text is printed as text, not as markup
    assert "I blocked it for you." in out
    code, out, _ = run(seeded.url, "traces", "show", seeded.agent_trace, "--json")
    trace = json.loads(out)
    assert code == 0 and trace["spans"][0]["children"][0]["span_id"] == seeded.llm_span


def test_traces_show_errors(seeded: Seeded) -> None:
    code, _, err = run(seeded.url, "traces", "show", "not-a-trace-id")
    assert code == 2 and "32 hexadecimal" in err
    code, _, err = run(seeded.url, "traces", "show")
    assert code == 2
    code, out, err = run(seeded.url, "traces", "show", "f" * 32)
    assert code == 1 and out == "" and err.strip() == f"error: HTTP 404: no trace with id {'f' * 32}"


# -- sql ----------------------------------------------------------------------------------------------------
def test_sql_table_and_json(seeded: Seeded) -> None:
    query = f"SELECT name, kind, total_tokens FROM spans WHERE project = '{seeded.project}' ORDER BY name"
    code, out, _ = run(seeded.url, "sql", query)
    assert code == 0, out
    assert "classify" in out and "support-agent" in out and "NULL" in out and "4 row(s)" in out
    code, out, _ = run(seeded.url, "sql", query, "--json")
    result = json.loads(out)
    assert result["columns"] == ["name", "kind", "total_tokens"] and result["rows"][0] == ["chat", "LLM", 27]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM spans", "writes are not allowed through SQL"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "not allowed through SQL"),
        ("SELECT nope FROM spans", "nope"),
    ],
)
def test_sql_refusals_exit_1(seeded: Seeded, query: str, message: str) -> None:
    code, out, err = run(seeded.url, "sql", query)
    assert code == 1 and out == "" and err.startswith("error: HTTP 400: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_sql_usage_errors_exit_2(seeded: Seeded) -> None:
    assert run(seeded.url, "sql")[0] == 2
    code, _, err = run(seeded.url, "sql", "   ")
    assert code == 2 and "empty" in err


def test_unreachable_server_exit_1() -> None:
    url = closed_port_url()
    for args in (["sql", "SELECT 1"], ["traces", "list"], ["traces", "show", "a" * 32]):
        code, out, err = run(url, *args)
        assert code == 1 and out == ""
        assert f"cannot reach the spanlab server at {url}" in err and "spanlab serve" in err
        assert len(err.strip().splitlines()) == 1
    code, _, err = run("not a url", "sql", "SELECT 1")
    assert code == 1 and err.startswith("error: ")
