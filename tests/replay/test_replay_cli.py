"""``spanlab replay`` against a real server whose provider is the fake model server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from instrumentation import semconv as sc
from spanlab.cli_replay import replay_command
from tests.fakeopenai import ChatReply, FakeOpenAI
from tests.replay.replay_support import genai_messages, replay_count, send_span, start_replay_server, unique
from tests.server import ServerProcess

app = typer.Typer()
app.command()(replay_command)  # one command: invoked without its name, as `spanlab replay` is
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_replay_server(tmp_path_factory.mktemp("replay-cli") / "spanlab.duckdb", fake_openai_server)
    yield server
    assert server.stop() == 0, "\n".join(server.output)


@pytest.fixture(scope="module")
def span_id(server: ServerProcess) -> str:
    return send_span(
        server,
        unique("cli"),
        "chat gpt-4o-mini",
        {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            sc.GEN_AI_REQUEST_TEMPERATURE: 0.9,
            sc.GEN_AI_INPUT_MESSAGES: genai_messages(("user", "Where is my parcel?")),
            sc.GEN_AI_OUTPUT_MESSAGES: json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "No idea."}], "finish_reason": "stop"}]
            ),
        },
    )


def run(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"SPANLAB_URL": server.http_url, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_replay_shows_both_outputs_and_the_diff(server: ServerProcess, fake_openai: FakeOpenAI, span_id: str) -> None:
    fake_openai.script.push(ChatReply(content="It arrives tomorrow."))
    code, out, err = run(server, span_id, "--param", "temperature=0", "--param", "seed=7", "--model", "gpt-4.1-mini")
    assert code == 0, err
    body = fake_openai.wait_for_requests(1)[0].body
    assert (body["model"], body["temperature"], body["seed"]) == ("gpt-4.1-mini", 0, 7)
    for text in ("original", "replay", "No idea.", "It arrives tomorrow.", "-No idea.", "+It arrives tomorrow."):
        assert text in out
    assert "openai / gpt-4.1-mini" in out and "spanlab traces show" in out

    code, out, err = run(server, span_id, "--history")
    assert code == 0, err
    assert "1 replay(s)" in out and "gpt-4.1-mini" in out


def test_messages_file_and_json_output(
    server: ServerProcess, fake_openai: FakeOpenAI, span_id: str, tmp_path: Path
) -> None:
    messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Where is it?"}]
    path = tmp_path / "messages.json"
    path.write_text(json.dumps({"messages": messages}))
    code, out, err = run(server, span_id, "--messages-file", str(path), "--provider", "fake", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["provider"] == "fake" and result["request"]["messages"] == messages
    assert fake_openai.wait_for_requests(1)[0].body["messages"] == messages


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--param", "temperature"], "must look like name=value"),
        (["--param", "stream=true"], "a replay is one non-streamed call"),
        (["--var", "novalue"], "each --var must look like name=text"),
        (["--messages-file", "missing.json"], "does not exist"),
        (["--dataset", "d"], "give a SPAN_ID, or --dataset and --example"),
    ],
)
def test_usage_errors_exit_2_or_1_and_store_nothing(
    server: ServerProcess, span_id: str, args: list[str], problem: str
) -> None:
    before = replay_count(server)
    code, out, err = run(server, span_id, *args)
    assert code in (1, 2), out
    assert problem in " ".join((out + err).split())
    assert replay_count(server) == before


def test_bad_files_and_server_refusals(server: ServerProcess, span_id: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    code, out, err = run(server, span_id, "--template-file", str(broken))
    assert code == 2 and "is not valid JSON" in " ".join((out + err).split())
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    code, out, err = run(server, span_id, "--messages-file", str(empty))
    assert code == 2 and "non-empty JSON list of messages" in " ".join((out + err).split())
    code, out, err = run(server, "0123456789abcdef")
    assert code == 1 and err.startswith("error: HTTP 404:")
    code, out, err = run(server, span_id, "--provider", "nowhere")
    assert code == 1 and "unknown provider 'nowhere'" in err
