"""The prompt hub's REST API on a real ``spanlab serve``: push, read, tags and rollback, diff, bad inputs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess

MESSAGES = [
    {"role": "system", "content": "Classify the banking question into one intent."},
    {"role": "user", "content": "{{question}}"},
]


@pytest.fixture
def api(spanlab_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{spanlab_server.http_url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
def name() -> str:
    return f"triage-{uuid.uuid4().hex[:8]}"


def push(api: httpx.Client, name: str, **fields: Any) -> httpx.Response:
    return api.post("/prompts", json={"name": name, "messages": MESSAGES, **fields})


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


def test_push_201_then_identical_push_200(api: httpx.Client, name: str) -> None:
    first = push(api, name, description="intents", model_provider="openai", model_name="gpt-4o-mini")
    assert first.status_code == 201
    body = first.json()
    assert body["created"] is True and body["prompt_version"]["version"] == 1
    assert body["prompt_version"]["template"] == MESSAGES
    again = push(api, name, model_provider="openai", model_name="gpt-4o-mini", commit_message="retry")
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["prompt_version"]["content_hash"] == body["prompt_version"]["content_hash"]
    second = push(api, name, model_provider="openai", model_name="gpt-4o", parameters={"temperature": 0})
    assert second.status_code == 201 and second.json()["prompt_version"]["version"] == 2
    listed = {p["name"]: p for p in api.get("/prompts").json()["data"]}
    assert listed[name]["latest_version"] == 2 and listed[name]["description"] == "intents"
    assert [v["version"] for v in api.get(f"/prompts/{name}/versions").json()["data"]] == [2, 1]


def test_read_by_number_tag_and_latest_and_roll_back(api: httpx.Client, name: str) -> None:
    for temperature in (0, 0.5, 1):
        assert push(api, name, parameters={"temperature": temperature}).status_code == 201
    move = api.put(f"/prompts/{name}/tags/production", json={"version": 3, "note": "ship"})
    assert move.status_code == 200 and move.json()["from_version"] is None and move.json()["to_version"] == 3
    assert api.get(f"/prompts/{name}/versions/production").json()["invocation_parameters"] == {"temperature": 1}
    rollback = api.put(f"/prompts/{name}/tags/production", json={"version": 1, "note": "rollback"}).json()
    assert (rollback["from_version"], rollback["to_version"]) == (3, 1)
    current = api.get(f"/prompts/{name}/versions/production").json()
    assert current["version"] == 1 and current["tags"] == ["production"]
    assert api.get(f"/prompts/{name}/versions/latest").json()["version"] == 3
    assert api.get(f"/prompts/{name}/versions/2").json()["invocation_parameters"] == {"temperature": 0.5}
    history = api.get(f"/prompts/{name}/tag-moves", params={"tag": "production"}).json()
    assert [(m["from_version"], m["to_version"], m["note"]) for m in history] == [(3, 1, "rollback"), (None, 3, "ship")]
    assert api.get(f"/prompts/{name}").json()["tags"] == {"production": 1}
    assert [t["tag"] for t in api.get(f"/prompts/{name}/tags").json()] == ["production"]


def test_diff(api: httpx.Client, name: str) -> None:
    push(api, name, parameters={"temperature": 0})
    api.post("/prompts", json={"name": name, "messages": [MESSAGES[0]], "parameters": {"temperature": 1}})
    diff = api.get(f"/prompts/{name}/diff", params={"a": 1, "b": 2}).json()
    assert "-[1] user:" in diff["template_diff"] and diff["identical"] is False
    assert diff["changes"] == [{"path": "invocation_parameters.temperature", "before": 0, "after": 1}]
    assert "has no version 3" in error(api.get(f"/prompts/{name}/diff", params={"a": 1, "b": 3}), 404)
    assert error(api.get(f"/prompts/{name}/diff", params={"a": 0, "b": 1}), 422).startswith("query.a")


def test_unknown_prompt_version_and_tag_are_404(api: httpx.Client, name: str) -> None:
    assert error(api.get(f"/prompts/{name}"), 404) == f"no prompt named '{name}'"
    assert error(api.get(f"/prompts/{name}/versions/latest"), 404) == f"no prompt named '{name}'"
    assert error(api.get(f"/prompts/{name}/tag-moves"), 404) == f"no prompt named '{name}'"
    assert error(api.put(f"/prompts/{name}/tags/production", json={"version": 1}), 404) == f"no prompt named '{name}'"
    push(api, name)
    assert "has no version 7 (latest is 1)" in error(api.get(f"/prompts/{name}/versions/7"), 404)
    assert "has no tag 'production'" in error(api.get(f"/prompts/{name}/versions/production"), 404)
    assert "has no version 2" in error(api.put(f"/prompts/{name}/tags/production", json={"version": 2}), 404)
    assert "tag 'a b' is not valid" in error(api.get(f"/prompts/{name}/versions/a b"), 422)
    assert "not all digits and not 'latest'" in error(api.put(f"/prompts/{name}/tags/latest", json={"version": 1}), 422)
    assert api.get(f"/prompts/{name}/tag-moves").json() == [], "refused moves left no history"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": [{"role": "user", "content": "{{question"}]}, "messages: message 0 content: malformed"),
        ({"messages": "just text"}, "messages: Input should be a valid list"),
        ({"messages": [{"content": "no role"}]}, "needs a 'role'"),
        ({"template": None}, "template: Input should be a valid list"),
        ({"parameters": {"model": "gpt-4o"}}, "model cannot be an invocation parameter"),
        ({"name": "no spaces please"}, "prompt name 'no spaces please' is not valid"),
        ({"name": ""}, "is not valid"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"description": "x" * 10_001}, "description: String should have at most 10000 characters"),
        ({"metadata": {"blob": "x" * (1024 * 1024 + 10)}}, "at most 1048576 bytes"),
    ],
)
def test_bad_pushes_are_422_and_store_nothing(api: httpx.Client, name: str, body: dict[str, Any], message: str) -> None:
    response = api.post("/prompts", json={"name": name, "messages": MESSAGES, **body})
    assert message in error(response, 422)
    assert error(api.get(f"/prompts/{name}"), 404), "no prompt was created"


def test_malformed_and_missing_bodies(api: httpx.Client, name: str) -> None:
    broken = api.post("/prompts", content=b'{"name": "x", "messages": [', headers={"Content-Type": "application/json"})
    assert "JSON decode error" in error(broken, 422)
    assert "name: Field required" in error(api.post("/prompts", json={"messages": MESSAGES}), 422)
    assert "template: Field required" in error(api.post("/prompts", json={"name": name}), 422)
    push(api, name)
    assert "version: Field required" in error(api.put(f"/prompts/{name}/tags/production", json={}), 422)
    assert "version: Input should be greater than or equal to 1" in error(
        api.put(f"/prompts/{name}/tags/production", json={"version": 0}), 422
    )
