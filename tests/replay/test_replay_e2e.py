"""End to end: a real instrumented ``openai`` call → OTLP → ``spanlab serve`` → promoted into a dataset →
replayed with an edited prompt (a prompt-hub version) and another parameter → the new output stored beside the
original, and the replay's own call traced into the ``replay`` project."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from instrumentation import semconv as sc
from tests.fakeopenai import ChatReply, FakeOpenAI, Usage
from tests.instrumented import instrumented, stored_span
from tests.replay.replay_support import genai_messages, post, send_span, start_replay_server, stored, unique
from tests.server import ServerProcess, wait_for

MODEL = "gpt-4o-mini"
SYSTEM = {"role": "system", "content": "Answer with the banking intent of the question."}
QUESTION = "I lost my card, what now?"
ORIGINAL = "card_arrival"
EDITED_SYSTEM = "You label banking questions. Reply with exactly one intent label, lower case."
FIXED = "lost_or_stolen_card"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_replay_server(tmp_path_factory.mktemp("replay-e2e") / "spanlab.duckdb", fake_openai_server)
    yield server
    assert server.stop() == 0, "\n".join(server.output)


@pytest.fixture
def recorded(server: ServerProcess, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One chat call through opentelemetry-instrumentation-openai-v2 (content in span attributes), stored."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    fake_openai.script.push(ChatReply(content=ORIGINAL, usage=Usage(21, 1)))
    with instrumented(server, fake_openai.base_url, instrumentation="otel_genai", transport="http") as run:
        run.client.chat.completions.create(
            model=MODEL,
            messages=[SYSTEM, {"role": "user", "content": QUESTION}],  # type: ignore[list-item]
            temperature=0.7,
            max_tokens=40,
        )
        run.flush()
    fake_openai.reset()
    return stored_span(server, run.project)


def test_a_promoted_span_replays_with_an_edited_prompt_and_parameter(
    server: ServerProcess, fake_openai: FakeOpenAI, recorded: dict[str, Any]
) -> None:
    span_id = recorded["span_id"]
    assert recorded["provider"] == "openai"  # the server's openai provider is the fake (OPENAI_BASE_URL)
    dataset, prompt = unique("intents"), unique("intent-prompt")
    with server.client as client:
        note = {"name": "correct", "score": 0, "explanation": "wrong intent"}
        assert client.post(f"/api/v1/spans/{span_id}/annotations", json=note).status_code == 201
        promoted = client.post(
            f"/api/v1/datasets/{dataset}/promote", json={"project": recorded["project"], "score_below": 0.5}
        ).json()
        example = promoted["added"][0]
        assert example["source_span_id"] == span_id and example["input"]["messages"][1]["content"] == QUESTION
        version = {
            "name": prompt,
            "template": [{"role": "system", "content": EDITED_SYSTEM}, {"role": "user", "content": "{{question}}"}],
            "invocation_parameters": {"max_tokens": 30},
        }
        assert client.post("/api/v1/prompts", json=version).status_code == 201
        assert client.put(f"/api/v1/prompts/{prompt}/tags/production", json={"version": 1}).status_code == 200

    fake_openai.script.push(ChatReply(content=FIXED, usage=Usage(25, 3)))
    overrides = {
        "prompt": f"{prompt}@production",
        "variables": {"question": QUESTION},
        "parameters": {"temperature": 0},
    }
    response = post(
        server, "/api/v1/replays", {"dataset": dataset, "example_id": example["id"], "overrides": overrides}
    )
    assert response.status_code == 201, response.text
    result = response.json()

    sent = fake_openai.wait_for_requests(1)[0].body
    rendered = [{"role": "system", "content": EDITED_SYSTEM}, {"role": "user", "content": QUESTION}]
    assert {k: sent.get(k) for k in ("model", "messages", "temperature", "max_tokens")} == {
        "model": MODEL,  # the span's own model on the span's own provider
        "messages": rendered,
        "temperature": 0,
        "max_tokens": 30,  # the prompt version's parameters replace the span's (0.7 and 40)
    }
    assert result["provider"] == "openai" and result["model"] == MODEL
    assert result["source_span_id"] == span_id and result["example_id"] == example["id"]
    assert result["request"]["built_from"] == "template"
    assert (result["request"]["prompt_name"], result["request"]["prompt_version"]) == (prompt, "1")
    assert result["original"]["text"] == ORIGINAL and result["output"]["text"] == FIXED
    assert (result["original"]["input_tokens"], result["output"]["input_tokens"]) == (21, 25)
    assert result["diff"]["same_text"] is False
    assert result["diff"]["text_diff"][-2:] == [f"-{ORIGINAL}", f"+{FIXED}"]
    tokens = next(change for change in result["diff"]["fields"] if change["field"] == "output_tokens")
    assert tokens == {"field": "output_tokens", "original": 1, "new": 3, "changed": True, "delta": 2.0}

    # Recorded beside the original: readable by id and listed under the span.
    assert server.get(f"/api/v1/replays/{result['id']}") == result
    assert [item["id"] for item in server.get(f"/api/v1/spans/{span_id}/replays")["data"]] == [result["id"]]

    # The replay's own call is a span of the "replay" project, linked to the span it replays.
    traced = wait_for(lambda: stored(server, result["replay_span_id"]), what="the replay span")
    assert traced is not None
    assert {k: traced[k] for k in ("project", "kind", "model", "provider", "input_messages", "prompt_name")} == {
        "project": "replay",
        "kind": "LLM",
        "model": MODEL,
        "provider": "openai",
        "input_messages": rendered,
        "prompt_name": prompt,
    }
    assert traced["output_messages"][0]["content"] == FIXED
    assert traced["attributes"][sc.SPANLAB_REPLAY_SOURCE_SPAN_ID] == span_id
    assert traced["invocation_parameters"]["temperature"] == 0


def test_replaying_a_span_as_recorded_sends_the_same_call(
    server: ServerProcess, fake_openai: FakeOpenAI, recorded: dict[str, Any]
) -> None:
    response = post(server, "/api/v1/replays", {"span_id": recorded["span_id"]})
    assert response.status_code == 201, response.text
    sent = fake_openai.wait_for_requests(1)[0].body
    assert sent["messages"] == recorded["input_messages"]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == (MODEL, 0.7, 40)
    result = response.json()
    assert result["request"]["built_from"] == "messages"
    assert result["output"]["text"] == f"fake reply to: {QUESTION}"


def test_a_span_with_a_chat_template_replays_with_edited_template_and_variables(
    server: ServerProcess, fake_openai: FakeOpenAI
) -> None:
    template = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in {{city}}?"}]
    span_id = send_span(
        server,
        unique("templated"),
        f"chat {MODEL}",
        {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "fake",
            sc.GEN_AI_REQUEST_MODEL: MODEL,
            sc.GEN_AI_INPUT_MESSAGES: genai_messages(("system", "Be brief."), ("user", "Weather in Paris?")),
            sc.SPANLAB_PROMPT_TEMPLATE: json.dumps(template),
            sc.SPANLAB_PROMPT_VARIABLES: json.dumps({"city": "Paris"}),
            sc.SPANLAB_PROMPT_NAME: "weather",
            sc.SPANLAB_PROMPT_VERSION: "4",
        },
    )
    edited = [{"role": "user", "content": "In one word: the weather in {{city}}, {{country}}?"}]
    overrides = {"template": edited, "variables": {"country": "France"}, "model": "gpt-4.1-mini"}
    response = post(server, "/api/v1/replays", {"span_id": span_id, "overrides": overrides})
    assert response.status_code == 201, response.text
    sent = fake_openai.wait_for_requests(1)[0].body
    assert sent["messages"] == [{"role": "user", "content": "In one word: the weather in Paris, France?"}]
    assert sent["model"] == "gpt-4.1-mini"
    request = response.json()["request"]
    assert request["variables"] == {"city": "Paris", "country": "France"}
    assert (request["prompt_name"], request["prompt_version"]) == (None, None), "an edited template is no version"

    # Unedited, the span's own template is rendered again, so new variables change the call.
    response = post(server, "/api/v1/replays", {"span_id": span_id, "overrides": {"variables": {"city": "Oslo"}}})
    assert response.status_code == 201, response.text
    assert fake_openai.wait_for_requests(2)[1].body["messages"][1] == {"role": "user", "content": "Weather in Oslo?"}
    assert (response.json()["request"]["prompt_name"], response.json()["request"]["prompt_version"]) == ("weather", "4")
