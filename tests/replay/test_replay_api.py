"""``/api/v1/replays`` over real HTTP: spans that cannot be replayed, provider failures and bad input all give a
clear error, and none of them stores a replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from instrumentation import semconv as sc
from tests.fakeopenai import ErrorReply, FakeOpenAI
from tests.replay.replay_support import (
    closed_port,
    genai_messages,
    post,
    replay_count,
    send_span,
    start_replay_server,
    unique,
)
from tests.server import ServerProcess, wait_for

MODEL = "gpt-4o-mini"
UNSET_KEY = "SPANLAB_TEST_KEY_THAT_IS_NEVER_SET"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    extra = {
        "dead": {"base_url": f"http://127.0.0.1:{closed_port()}/v1"},
        "keyed": {"base_url": fake_openai_server.base_url, "api_key_env": UNSET_KEY},
    }
    db = tmp_path_factory.mktemp("replay-api") / "spanlab.duckdb"
    server = start_replay_server(db, fake_openai_server, extra_providers=extra)
    yield server
    assert server.stop() == 0, "\n".join(server.output)


@pytest.fixture(scope="module")
def llm_span(server: ServerProcess, fake_openai_server: FakeOpenAI) -> str:
    """A replayable chat span recorded against the fake's address (so it matches provider "fake")."""
    return send_span(server, unique("api"), f"chat {MODEL}", _chat_attributes(fake_openai_server))


def _chat_attributes(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
    return {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "vllm",  # a name the server does not know: the address decides
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: port,
        sc.GEN_AI_INPUT_MESSAGES: genai_messages(("user", "What is my balance?")),
        **extra,
    }


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_the_span_address_picks_the_named_provider(
    server: ServerProcess, fake_openai: FakeOpenAI, llm_span: str
) -> None:
    response = post(server, "/api/v1/replays", {"span_id": llm_span})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["provider"] == "fake" and result["model"] == MODEL
    assert any("recorded against http://127.0.0.1" in note for note in result["request"]["notes"])
    assert fake_openai.wait_for_requests(1)[0].body["messages"] == [{"role": "user", "content": "What is my balance?"}]


def test_a_non_llm_span_is_refused_with_what_is_missing(server: ServerProcess, fake_openai: FakeOpenAI) -> None:
    tool_span = send_span(
        server,
        unique("tool"),
        "execute_tool get_weather",
        {sc.GEN_AI_OPERATION_NAME: "execute_tool", sc.GEN_AI_TOOL_NAME: "get_weather"},
    )
    before = replay_count(server)
    error = _error(post(server, "/api/v1/replays", {"span_id": tool_span}), 422)
    assert error["type"] == "Unreplayable"
    assert error["message"] == (
        f"span {tool_span} cannot be replayed: it is a TOOL span, not an LLM call (only LLM spans replay); "
        "a model: none was recorded; name one (--model or a prompt version with a model); "
        "input messages: none were recorded (turn on message content capture in the instrumentation) "
        "and no prompt, template or messages were given"
    )
    assert replay_count(server) == before and fake_openai.requests == []


def test_an_llm_span_without_content_names_the_messages(server: ServerProcess, fake_openai: FakeOpenAI) -> None:
    attributes = {k: v for k, v in _chat_attributes(fake_openai).items() if k != sc.GEN_AI_INPUT_MESSAGES}
    span_id = send_span(server, unique("no-content"), f"chat {MODEL}", attributes)
    error = _error(post(server, "/api/v1/replays", {"span_id": span_id}), 422)
    assert error["message"].startswith(f"span {span_id} cannot be replayed: input messages: none were recorded")
    # Messages given by the caller make it replayable.
    overrides = {"messages": [{"role": "user", "content": "hello"}]}
    assert post(server, "/api/v1/replays", {"span_id": span_id, "overrides": overrides}).status_code == 201


@pytest.mark.parametrize(
    ("reply", "status", "text"),
    [
        (ErrorReply(status=500, message="the upstream model crashed"), 500, "the upstream model crashed"),
        (ErrorReply(status=429, retry_after=0.01), 429, "Rate limit"),
        (ErrorReply(status=400, message="max_tokens is too large", param="max_tokens"), 400, "max_tokens is too"),
    ],
    ids=["500", "429", "400"],
)
def test_provider_errors_are_reported_and_nothing_is_stored(
    server: ServerProcess, fake_openai: FakeOpenAI, llm_span: str, reply: ErrorReply, status: int, text: str
) -> None:
    before = replay_count(server)
    fake_openai.script.push(reply)
    error = _error(post(server, "/api/v1/replays", {"span_id": llm_span}), 502)
    assert error["type"] == "ProviderError"
    assert error["message"].startswith(f"provider 'fake' answered HTTP {status}: ")
    assert text in error["message"]
    assert replay_count(server) == before, "a failed replay stores nothing"


def test_a_failed_call_is_traced_as_an_error_span(
    server: ServerProcess, fake_openai: FakeOpenAI, llm_span: str
) -> None:
    fake_openai.script.push(ErrorReply(status=503, message="overloaded, try later"))
    assert post(server, "/api/v1/replays", {"span_id": llm_span}).status_code == 502
    query = (
        "SELECT status_message, attributes->>'$.\"error.type\"' FROM spans WHERE project = 'replay' AND "
        f"attributes->>'$.\"spanlab.replay.source_span_id\"' = '{llm_span}' AND status_code = 'ERROR' "
        "AND status_message LIKE '%overloaded, try later%'"
    )
    rows = wait_for(lambda: server.sql(query), what="the failed replay's ERROR span")
    assert rows == [["provider 'fake' answered HTTP 503: overloaded, try later", "ProviderError"]]


def test_unreachable_and_unconfigured_providers(server: ServerProcess, llm_span: str) -> None:
    before = replay_count(server)
    error = _error(post(server, "/api/v1/replays", {"span_id": llm_span, "overrides": {"provider": "dead"}}), 502)
    assert error["type"] == "ProviderUnreachable" and error["message"].startswith("cannot reach provider 'dead' at")
    error = _error(post(server, "/api/v1/replays", {"span_id": llm_span, "overrides": {"provider": "keyed"}}), 422)
    assert error["message"] == (
        f"provider 'keyed' needs its API key in the environment variable {UNSET_KEY}, "
        "which was not set when the server started"
    )
    error = _error(post(server, "/api/v1/replays", {"span_id": llm_span, "overrides": {"provider": "nope"}}), 422)
    assert error == {
        "type": "UnknownProvider",
        "message": "unknown provider 'nope'; configured providers: dead, fake, keyed, local, openai",
    }
    assert replay_count(server) == before


def test_the_providers_listing(server: ServerProcess, fake_openai: FakeOpenAI) -> None:
    listed = {item["name"]: item for item in server.get("/api/v1/providers")["data"]}
    assert sorted(listed) == ["dead", "fake", "keyed", "local", "openai"]
    assert listed["openai"]["default"] is True and listed["local"]["default"] is False
    assert listed["local"]["base_url"] == f"{server.http_url}/llm/v1"
    assert listed["local"]["default_model"] == "smollm2-135m"
    assert listed["keyed"]["missing_key_env"] == UNSET_KEY
    assert listed["openai"]["base_url"] == fake_openai.base_url


def test_missing_template_variables_and_unknown_prompts(server: ServerProcess, llm_span: str) -> None:
    before = replay_count(server)
    template = [{"role": "user", "content": "{{greeting}}, {{name}}"}]
    overrides = {"template": template, "variables": {"greeting": "hi"}}
    error = _error(post(server, "/api/v1/replays", {"span_id": llm_span, "overrides": overrides}), 422)
    assert error == {"type": "VariablesMissing", "message": "missing template variable: 'name'"}
    error = _error(
        post(server, "/api/v1/replays", {"span_id": llm_span, "overrides": {"prompt": "no-such@production"}}), 404
    )
    assert "no-such" in error["message"]
    error = _error(post(server, "/api/v1/replays", {"span_id": llm_span, "overrides": {"variables": {"a": 1}}}), 422)
    assert error["message"].endswith(
        "a chat template to fill with the variables: none was recorded (give a prompt or a template)"
    )
    assert replay_count(server) == before


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({}, 422, "give either span_id, or dataset and example_id"),
        ({"span_id": "00f067aa0ba902b7", "dataset": "d", "example_id": "e"}, 422, "give either span_id"),
        ({"dataset": "d"}, 422, "needs both dataset and example_id"),
        ({"span_id": "00f067aa0ba902b7", "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        ({"span_id": "not-hex!"}, 400, "span id 'not-hex!' is not valid"),
        ({"span_id": "00f067aa0ba902b7"}, 404, "00f067aa0ba902b7"),
        ({"span_id": "00f067aa0ba902b7" * 2}, 422, "span_id: String should have at most 16 characters"),
        ({"span_id": "00f067aa0ba902b7", "overrides": {"parameters": {"stream": True}}}, 422, "non-streamed"),
        ({"span_id": "00f067aa0ba902b7", "overrides": {"parameters": {"model": "x"}}}, 422, "--model"),
        ({"span_id": "00f067aa0ba902b7", "overrides": {"parameters": {"bad name": 1}}}, 422, "'bad name' is not"),
        ({"span_id": "00f067aa0ba902b7", "overrides": {"parameters": {"tools": "x"}}}, 422, "list of tool objects"),
        (
            {"span_id": "00f067aa0ba902b7", "overrides": {"template": [{"role": "user", "content": "{{ oops"}]}},
            422,
            "malformed placeholder",
        ),
        (
            {"span_id": "00f067aa0ba902b7", "overrides": {"template": "text"}},
            422,
            "template: Input should be a valid list",
        ),
        (
            {"span_id": "00f067aa0ba902b7", "overrides": {"messages": [{"content": "no role"}]}},
            422,
            "message 0 needs a 'role'",
        ),
        (
            {"span_id": "00f067aa0ba902b7", "overrides": {"prompt": "p", "messages": [{"role": "user"}]}},
            422,
            "at most one of",
        ),
        (
            {"span_id": "00f067aa0ba902b7", "overrides": {"messages": [{"role": "user"}] * 1001}},
            422,
            "at most 1000 items",
        ),
        (
            {"span_id": "00f067aa0ba902b7", "overrides": {"messages": [{"role": "user", "content": "x" * 1_100_000}]}},
            422,
            "at most 1048576 bytes",
        ),
        ({"span_id": "00f067aa0ba902b7", "overrides": {"temperature": 0}}, 422, "temperature: Extra inputs"),
    ],
)
def test_bad_requests_are_clear_errors(server: ServerProcess, body: dict[str, Any], status: int, expected: str) -> None:
    before = replay_count(server)
    error = _error(post(server, "/api/v1/replays", body), status)
    assert expected in error["message"]
    assert replay_count(server) == before


def test_malformed_json_and_replay_reads(server: ServerProcess) -> None:
    error = _error(post(server, "/api/v1/replays", b'{"span_id": '), 422)
    assert "JSON decode error" in error["message"]
    error = _error(post(server, "/api/v1/replays", json.dumps([1, 2]).encode()), 422)
    assert error["type"] == "InvalidRequest"
    with server.client as client:
        error = _error(client.get("/api/v1/replays/not-a-uuid"), 422)
        assert error["message"] == "replay id 'not-a-uuid' is not valid: expected a lower-case UUID"
        error = _error(client.get("/api/v1/replays/00000000-0000-4000-8000-000000000000"), 404)
        assert error["message"] == "no replay with id 00000000-0000-4000-8000-000000000000"
        assert _error(client.get("/api/v1/spans/xyz/replays"), 400)["message"].startswith("span id 'xyz'")
        assert client.get("/api/v1/spans/00f067aa0ba902b7/replays").json() == {"data": [], "next_cursor": None}
        assert (
            "limit" in _error(client.get("/api/v1/spans/00f067aa0ba902b7/replays", params={"limit": 0}), 422)["message"]
        )


def test_example_replays_need_a_known_example(server: ServerProcess) -> None:
    error = _error(post(server, "/api/v1/replays", {"dataset": unique("none"), "example_id": "x"}), 404)
    assert error["type"] == "NotFound"
